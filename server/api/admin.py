"""The admin's work: accounts, their devices, and community groups."""

import sqlalchemy as sa
from flask import g

from .. import audit
from .. import auth
from .. import scopes
from ..accounts import create_user
from ..accounts import scope_of
from ..accounts import set_password
from ..errors import ApiError
from ..extensions import db
from ..models import CommunityGroup
from ..models import DeviceToken
from ..models import User
from ..schemas.accounts import DeviceSchema
from ..schemas.accounts import UserSchema
from ..schemas.accounts import device_schema
from ..schemas.accounts import user_schema
from ..schemas.admin import CommunityGroupListSchema
from ..schemas.admin import CommunityGroupQuerySchema
from ..schemas.admin import CommunityGroupSchema
from ..schemas.admin import DeviceListSchema
from ..schemas.admin import RevokeResultSchema
from ..schemas.admin import UserCreateSchema
from ..schemas.admin import UserPageSchema
from ..schemas.admin import UserPatchSchema
from ..schemas.admin import UserQuerySchema
from ..schemas.admin import community_group_list_schema
from ..schemas.admin import community_group_query_schema
from ..schemas.admin import community_group_schema
from ..schemas.admin import device_list_schema
from ..schemas.admin import revoke_result_schema
from ..schemas.admin import user_create_schema
from ..schemas.admin import user_page_schema
from ..schemas.admin import user_patch_schema
from ..schemas.admin import user_query_schema
from . import api_bp
from .openapi import doc
from .util import json_body
from .util import paginate
from .util import query_args


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise ApiError(404, "Pengguna tidak ditemukan.", "User not found.")
    return user


SCOPE_FIELDS = ("desa_code", "organisation_code", "community_group_id")


def update_user(admin: User, user: User, data: dict) -> User:
    """Rename, (de)activate, set a new password, or move the account to another desa,
    organisation or group; the admin cannot lock themselves out."""
    if data.get("is_active") is False and user.id == admin.id:
        raise ApiError(422, fields={"is_active": [{
            "id": "Anda tidak dapat menonaktifkan akun Anda sendiri.",
            "en": "You cannot deactivate your own account."}]})
    # The audit detail names the fields changed, never a password.
    changed = sorted(data)
    moved = [name for name in SCOPE_FIELDS if name in data]
    if moved:
        # A new scope for the account: its phones start over at their next sync
        # (scope_changed), so what it may no longer read leaves them.
        wanted = {name: data.pop(name) for name in moved}
        current = {"desa_code": user.desa_code, "community_group_id": user.community_group_id,
                   "organisation_code": user.organisation.code if user.organisation else None}
        data.update(scope_of(user.role, **(current | wanted)))
    if "password" in data:
        set_password(user, data.pop("password"))
    if data.get("is_active") is False:
        # For good: activating the account again does not bring a token back (a lost phone's
        # among them); each phone erases its data at its next contact.
        auth.revoke_all_devices(user, "deactivated")
    for name, value in data.items():
        setattr(user, name, value)
    audit.record("update", "user", str(user.id), {"fields": changed})
    return user


@api_bp.get("/admin/users")
@auth.login_required("admin")
@doc(query=UserQuerySchema, response=UserPageSchema, paged=True)
def list_users():
    """Accounts, by username."""
    args = query_args(user_query_schema)
    select = sa.select(User)
    for name in ("role", "desa_code", "organisation_id", "is_active"):
        if name in args:
            select = select.where(getattr(User, name) == args[name])
    if "q" in args:
        q = args["q"].lower()
        select = select.where(sa.or_(User.username.contains(q, autoescape=True),
                                     sa.func.lower(User.full_name).contains(q, autoescape=True)))
    return user_page_schema.dump(paginate(select.order_by(User.username)))


@api_bp.post("/admin/users")
@auth.login_required("admin")
@doc(body=UserCreateSchema, response=UserSchema, status=201)
def create_user_view():
    """Create an account with a role and the scope the role needs."""
    data = user_create_schema.load(json_body())
    user = create_user(data.pop("username"), data.pop("password"), data.pop("full_name"),
                       data.pop("role"), **data)
    audit.record("create", "user", str(user.id), {"role": user.role})
    db.session.commit()
    return user_schema.dump(user), 201


@api_bp.get("/admin/users/<int:user_id>")
@auth.login_required("admin")
@doc(response=UserSchema)
def get_user(user_id):
    """One account."""
    return user_schema.dump(_user(user_id))


@api_bp.patch("/admin/users/<int:user_id>")
@auth.login_required("admin")
@doc(body=UserPatchSchema, response=UserSchema)
def update_user_view(user_id):
    """Change an account's name, whether it is active, or its password.

    A new password does not end the sessions already open: revoke the devices for that.
    """
    user = _user(user_id)
    update_user(g.user, user, user_patch_schema.load(json_body()))
    db.session.commit()
    return user_schema.dump(user)


@api_bp.get("/admin/users/<int:user_id>/devices")
@auth.login_required("admin")
@doc(response=DeviceListSchema)
def list_user_devices(user_id):
    """The devices an account has logged in from, newest first, revoked ones included."""
    user = _user(user_id)
    devices = db.session.execute(
        sa.select(DeviceToken).where(DeviceToken.user_id == user.id)
        .order_by(DeviceToken.created_at.desc(), DeviceToken.id.desc())
    ).scalars().all()
    return device_list_schema.dump({"items": devices})


@api_bp.post("/admin/users/<int:user_id>/devices/<int:device_id>/revoke")
@auth.login_required("admin")
@doc(response=DeviceSchema)
def revoke_user_device(user_id, device_id):
    """Revoke one device of an account (a lost phone): it erases its Jangkau data at its next
    contact, edits not yet sent included. A device revoked already stays as it was."""
    user = _user(user_id)
    device = db.session.get(DeviceToken, device_id)
    if device is None or device.user_id != user.id:
        raise ApiError(404, "Perangkat tidak ditemukan.", "Device not found.")
    if auth.revoke_device(device, "admin"):
        audit.record("revoke", "device", str(device.id), {"user_id": user.id})
    db.session.commit()
    return device_schema.dump(device)


@api_bp.post("/admin/users/<int:user_id>/revoke-devices")
@auth.login_required("admin")
@doc(response=RevokeResultSchema)
def revoke_user_devices(user_id):
    """Revoke every device of an account (a person who left): each erases its Jangkau data at
    its next contact, as when revoked one by one."""
    user = _user(user_id)
    revoked = auth.revoke_all_devices(user)
    audit.record("revoke", "user", str(user.id), {"devices": revoked})
    db.session.commit()
    return revoke_result_schema.dump({"revoked": revoked})


@api_bp.post("/admin/community-groups")
@auth.login_required("admin")
@doc(body=CommunityGroupSchema, response=CommunityGroupSchema, status=201)
def create_community_group():
    """Add a community group (pokmas) in a desa."""
    data = community_group_schema.load(json_body())
    taken = db.session.execute(sa.select(CommunityGroup.id).where(
        CommunityGroup.desa_code == data["desa_code"],
        sa.func.lower(CommunityGroup.name) == data["name"].lower())).first()
    if taken:
        raise ApiError(422, fields={"name": [{
            "id": "Nama kelompok sudah ada di desa ini.",
            "en": "This desa already has a group of that name."}]})
    group = CommunityGroup(**data)
    db.session.add(group)
    db.session.flush()
    audit.record("create", "community_group", group.id, {"desa_code": group.desa_code})
    db.session.commit()
    return community_group_schema.dump(group), 201


@api_bp.get("/community-groups")
@auth.login_required()
@doc(query=CommunityGroupQuerySchema, response=CommunityGroupListSchema)
def list_community_groups():
    """Community groups: officers and members see their desa's, the others all of them."""
    args = query_args(community_group_query_schema)
    select = sa.select(CommunityGroup).where(scopes.readable(g.user, CommunityGroup))
    if "desa_code" in args:
        select = select.where(CommunityGroup.desa_code == args["desa_code"])
    groups = db.session.execute(select.order_by(CommunityGroup.desa_code, CommunityGroup.name))
    return community_group_list_schema.dump({"items": groups.scalars().all()})
