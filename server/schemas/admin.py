"""Schemas for the admin's work: accounts, their devices, community groups."""

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from ..enums import ROLES
from ..passwords import MIN_PASSWORD_LENGTH
from .accounts import DeviceSchema
from .accounts import UserSchema
from .records import PageSchema
from .records import Text
from .records import UTCDateTime
from .records import enum_field
from .records import region_name
from .records import validate_desa

PASSWORD_LENGTH = validate.Length(min=MIN_PASSWORD_LENGTH, max=256)


class UserCreateSchema(Schema):
    """A new account; the scope it needs depends on the role (see create_user)."""

    username = Text(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, load_only=True, validate=PASSWORD_LENGTH)
    full_name = Text(required=True, validate=validate.Length(min=1, max=120))
    role = enum_field(ROLES, required=True)
    desa_code = fields.String(allow_none=True, load_default=None,
                              metadata={"description": "officer and community"})
    organisation_code = fields.String(allow_none=True, load_default=None,
                                      metadata={"description": "partner; ltsa defaults to LTSA"})
    community_group_id = fields.String(allow_none=True, load_default=None,
                                       metadata={"description": "community"})


class UserPatchSchema(Schema):
    """What an admin changes on an account: the name, active or not, a new password, and
    where it works (desa, organisation, community group: given together, as the role needs)."""

    full_name = Text(validate=validate.Length(min=1, max=120))
    is_active = fields.Boolean()
    password = fields.String(load_only=True, validate=PASSWORD_LENGTH)
    desa_code = fields.String(allow_none=True)
    organisation_code = fields.String(allow_none=True)
    community_group_id = fields.String(allow_none=True)


class UserQuerySchema(Schema):
    role = enum_field(ROLES)
    desa_code = fields.String()
    organisation_id = fields.Integer()
    is_active = fields.Boolean()
    q = Text(validate=validate.Length(min=1, max=120),
             metadata={"description": "Part of the username or full name."})


class UserPageSchema(PageSchema):
    items = fields.List(fields.Nested(UserSchema))


class LoginResultSchema(Schema):
    token = fields.String(metadata={"description": "Bearer token for this device"})
    user = fields.Nested(UserSchema)


class DeviceListSchema(Schema):
    items = fields.List(fields.Nested(DeviceSchema))


class RevokeResultSchema(Schema):
    revoked = fields.Integer(metadata={"description": "How many live tokens were revoked"})


class CommunityGroupSchema(Schema):
    id = fields.String(dump_only=True)
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    desa_code = fields.String(required=True, validate=validate_desa)
    desa_name = fields.Function(lambda g: region_name(g.desa_code))
    created_at = UTCDateTime(dump_only=True)


class CommunityGroupQuerySchema(Schema):
    desa_code = fields.String()


class CommunityGroupListSchema(Schema):
    items = fields.List(fields.Nested(CommunityGroupSchema))


user_create_schema = UserCreateSchema()
user_patch_schema = UserPatchSchema()
user_query_schema = UserQuerySchema()
user_page_schema = UserPageSchema()
device_list_schema = DeviceListSchema()
revoke_result_schema = RevokeResultSchema()
community_group_schema = CommunityGroupSchema()
community_group_query_schema = CommunityGroupQuerySchema()
community_group_list_schema = CommunityGroupListSchema()
