"""Schemas for login, users and devices."""

from marshmallow import EXCLUDE
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from ..enums import ROLES
from .moments import UTCDateTime


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, load_only=True,
                             validate=validate.Length(min=1, max=256))
    device_name = fields.String(load_default="", validate=validate.Length(max=120))


class OrganisationRefSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()


class UserSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.Integer(dump_only=True)
    username = fields.String()
    full_name = fields.String()
    role = fields.String(validate=validate.OneOf(list(ROLES)))
    role_label = fields.Function(lambda u: ROLES[u.role][0], dump_only=True)
    desa_code = fields.String(allow_none=True)
    desa_name = fields.Function(lambda u: u.desa.name if u.desa else None, dump_only=True)
    organisation = fields.Nested(OrganisationRefSchema, allow_none=True, dump_only=True)
    community_group_id = fields.String(allow_none=True)
    is_active = fields.Boolean()


class DeviceSchema(Schema):
    id = fields.Integer()
    device_name = fields.String()
    created_at = UTCDateTime()
    last_used_at = UTCDateTime()
    last_address = fields.String(allow_none=True)
    revoked_at = UTCDateTime(allow_none=True)
    current = fields.Boolean(metadata={"description": "This very device (in /me/devices)"})
    revoked_reason = fields.String(allow_none=True, metadata={
        "description": "Why the token ended: logout, admin or deactivated; null while live"})


login_schema = LoginSchema()
user_schema = UserSchema()
users_schema = UserSchema(many=True)
device_schema = DeviceSchema()
