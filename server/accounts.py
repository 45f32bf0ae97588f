"""Creating accounts with a role and the scope that role needs."""

import sqlalchemy as sa

from .enums import ROLES
from .errors import ApiError
from .extensions import db
from .models import CommunityGroup
from .models import Organisation
from .models import Region
from .models import User
from .passwords import hash_password
from .passwords import password_problem


def _field_error(field: str, id_text: str, en_text: str) -> ApiError:
    return ApiError(422, fields={field: [{"id": id_text, "en": en_text}]})


def check_scope(role: str, desa_code: str | None, organisation: Organisation | None,
                group: CommunityGroup | None) -> None:
    """Each role needs its own kind of scope, and no other."""
    if role not in ROLES:
        raise _field_error("role", "Peran tidak dikenal.", "Unknown role.")
    if role in ("officer", "community"):
        region = db.session.get(Region, desa_code) if desa_code else None
        if region is None or region.level not in ("desa", "kelurahan"):
            raise _field_error("desa_code", "Pilih desa/kelurahan di Kabupaten Cirebon.",
                               "Choose a desa/kelurahan in Kabupaten Cirebon.")
    if role == "community":
        if group is None or group.desa_code != desa_code:
            raise _field_error("community_group_id",
                               "Anggota pokmas harus masuk kelompok di desanya.",
                               "A community member needs a group in their desa.")
    if role == "partner" and organisation is None:
        raise _field_error("organisation", "Petugas mitra harus punya organisasi.",
                           "Partner staff need an organisation.")


def create_user(username: str, password: str, full_name: str, role: str, *,
                desa_code: str | None = None, organisation_code: str | None = None,
                community_group_id: str | None = None) -> User:
    """Add a user (not committed); raises ApiError naming the bad field."""
    username = username.strip().lower()
    if not username or len(username) > 64:
        raise _field_error("username", "Nama pengguna 1–64 karakter.", "Username: 1–64 characters.")
    if db.session.execute(sa.select(User.id).where(User.username == username)).first():
        raise _field_error("username", "Nama pengguna sudah dipakai.", "Username already taken.")
    check_password(password, username)
    user = User(username=username, password_hash=hash_password(password),
                full_name=full_name.strip(), role=role,
                **scope_of(role, desa_code, organisation_code, community_group_id))
    db.session.add(user)
    db.session.flush()
    return user


def check_password(password: str, username: str) -> None:
    """A 422 naming the field `password` unless it meets the rule
    (passwords.password_problem)."""
    problem = password_problem(password, username)
    if problem:
        raise _field_error("password", *problem)


def set_password(user: User, password: str) -> None:
    """Give the account a new password that meets the rule."""
    check_password(password, user.username)
    user.password_hash = hash_password(password)


def scope_of(role: str, desa_code: str | None, organisation_code: str | None,
             community_group_id: str | None) -> dict:
    """The scope columns of an account of `role`: checked, and only those the role has."""
    organisation = None
    if organisation_code:
        organisation = db.session.execute(
            sa.select(Organisation).where(Organisation.code == organisation_code)
        ).scalar_one_or_none()
        if organisation is None:
            raise _field_error("organisation", "Organisasi tidak dikenal.", "Unknown organisation.")
    if role == "ltsa" and organisation is None:
        organisation = db.session.execute(
            sa.select(Organisation).where(Organisation.kind == "ltsa")
        ).scalars().first()
    group = db.session.get(CommunityGroup, community_group_id) if community_group_id else None
    check_scope(role, desa_code, organisation, group)
    return {
        "desa_code": desa_code if role in ("officer", "community") else None,
        "organisation_id": organisation.id if organisation and role in ("partner", "ltsa")
        else None,
        "community_group_id": group.id if group and role == "community" else None,
    }
