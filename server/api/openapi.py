"""GET /api/openapi.json: the OpenAPI 3 description of every /api endpoint.

The document is built from the app itself: each URL rule under /api is an operation; its
summary and description come from the view's docstring, its body, query and response
schemas from `@doc(...)`, and its security from `login_required`. A view without `@doc`
still appears, with what its docstring says.
"""

from __future__ import annotations

import importlib
import inspect
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from flask import current_app
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from ..enums import ROLES
from ..errors import CODES
from . import api_bp
from .util import ID_MAX

API_VERSION = "1"
SCHEMA_MODULES = ("server.schemas.accounts", "server.schemas.records", "server.schemas.admin",
                  "sync.protocol")
ERROR_STATUSES = {
    400: "Bad request",
    401: "Not logged in, or the session ended",
    403: "Not allowed for this role or scope",
    404: "Not found, or outside the user's scope",
    409: "Conflicts with the record's state",
    422: "Invalid data: `fields` names each field with {id, en} messages",
    413: "The body is too large (see the limits in docs/sync-protocol.md)",
    415: "The body must be JSON",
    426: "The app speaks an older sync protocol (`client_outdated`): update the app",
    429: "Too many failed logins; `retry_after_minutes` says when to try again",
    503: "Not available on this server (e.g. web push without VAPID keys)",
}
_RULE_ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
_CONVERTER_TYPES = {"int": {"type": "integer", "minimum": 0, "maximum": ID_MAX},
                    "uuid": {"type": "string", "format": "uuid"}}


def doc(*, body=None, response=None, query=None, status: int = 200, paged: bool = False,
        errors: tuple[int, ...] = ()):
    """Describe a view for the OpenAPI document.

    body, response and query are schema classes (or instances, e.g. partial ones); status
    is the success status; paged adds the page and per_page parameters; errors lists the
    error statuses beyond those that login and validation imply.
    """

    def decorator(view):
        view.apidoc = {"body": body, "response": response, "query": query, "status": status,
                       "paged": paged, "errors": errors}
        return view

    return decorator


CODES_DESCRIPTION = "; ".join(f"{code} ({status})" for code, (status, *_) in CODES.items())


class MessageSchema(Schema):
    id = fields.String(required=True, metadata={"description": "Bahasa Indonesia"})
    en = fields.String(required=True, metadata={"description": "English"})


class ErrorDetailSchema(Schema):
    status = fields.Integer(required=True, metadata={"description": "The HTTP status."})
    code = fields.String(required=True, validate=validate.OneOf(list(CODES)), metadata={
        "description": "Why, as a stable code (the same codes are the `reason` of a refused "
                       "sync mutation): " + CODES_DESCRIPTION,
    })
    message = fields.Nested(MessageSchema, required=True)
    retry_after_minutes = fields.Integer(metadata={
        "description": "With rate_limited (429): minutes until a login may be tried again."})
    error_id = fields.String(metadata={
        "description": "With server_error (500): the id of the fault in the server log."})
    reason = fields.String(metadata={
        "description": "With a referral status change refused (403, 409): the rule at fault, "
                       "e.g. role_not_allowed, transition_not_allowed, already_served, "
                       "not_forwarded (docs/sync-protocol.md)."})
    # Last: the name hides marshmallow's fields module in the rest of the class body.
    fields = fields.Dict(metadata={
        "description": "Per field: a list of {id, en} messages (nested for lists and objects)."
    })


class ErrorSchema(Schema):
    """Every error: a bilingual message, and for 422 the fields at fault."""

    error = fields.Nested(ErrorDetailSchema)


def _schema_name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    if not isinstance(schema, type) and getattr(schema, "partial", False):
        return f"{name}Patch"
    return name


def _schemas() -> list[type[Schema]]:
    """Every schema class defined in the schema modules, in a stable order."""
    found = [ErrorSchema, ErrorDetailSchema, MessageSchema]
    for module_name in SCHEMA_MODULES:
        module = importlib.import_module(module_name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Schema) and cls.__module__ == module_name:
                found.append(cls)
    return found


def _path(rule) -> tuple[str, list[dict]]:
    """The OpenAPI path of a Flask rule and its path parameters."""
    parameters = []
    for converter, name in _RULE_ARGUMENT.findall(rule.rule):
        parameters.append({"name": name, "in": "path", "required": True,
                           "schema": _CONVERTER_TYPES.get(converter, {"type": "string"})})
    return _RULE_ARGUMENT.sub(r"{\2}", rule.rule), parameters


def _json(schema) -> dict:
    return {"application/json": {"schema": schema}}


def _error(status: int) -> dict:
    return {"description": ERROR_STATUSES[status],
            "content": _json({"$ref": "#/components/schemas/Error"})}


def _operation(view, rule, path_parameters: list[dict]) -> dict:
    meta = getattr(view, "apidoc", {})
    lines = inspect.cleandoc(view.__doc__ or rule.endpoint).splitlines()
    operation = {"operationId": rule.endpoint.removeprefix("api."), "summary": lines[0],
                 "tags": [view.__module__.rsplit(".", 1)[-1]],
                 "parameters": list(path_parameters)}
    description = "\n".join(lines[1:]).strip()
    errors = set(meta.get("errors", ()))
    if hasattr(view, "required_roles"):
        operation["security"] = [{"bearer": []}]
        roles = view.required_roles or tuple(ROLES)
        description = (description + "\n\n" if description else "") + "Roles: " + ", ".join(
            roles) + "."
        errors.add(401)
        if view.required_roles:
            errors.add(403)
    else:
        operation["security"] = []
    if description:
        operation["description"] = description
    if meta.get("query") is not None:
        operation["parameters"].append({"in": "query", "schema": meta["query"]})
        errors.add(422)
    if meta.get("paged"):
        operation["parameters"] += [
            {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                       "default": 1}},
            {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                           "default": 50}},
        ]
        errors.add(400)
    if meta.get("body") is not None:
        operation["requestBody"] = {"required": True, "content": _json(meta["body"])}
        # Any body: not JSON (415), too large (413), not parsed (400), not valid (422).
        errors.update((400, 413, 415, 422))
    if path_parameters:
        errors.add(404)
    status = meta.get("status", 200)
    if status == 204:
        success = {"description": "Done; no content"}
    elif meta.get("response") is not None:
        success = {"description": "OK", "content": _json(meta["response"])}
    else:
        success = {"description": "OK"}
    operation["responses"] = {str(status): success} | {
        str(code): _error(code) for code in sorted(errors)}
    return operation


def _nullable_output(self, field, ret, **kwargs) -> dict:
    """A field only answered, never sent, and not required, may be null in an answer (an
    archived_at of a person not archived): say so, as allow_none says it of the others."""
    if field.dump_only and not field.required and not field.allow_none and "type" in ret:
        return {"nullable": True}
    return {}


def build_spec(app: Flask) -> dict:
    """The OpenAPI document of the app's /api rules."""
    marshmallow_plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(
        title="Jangkau API", version=API_VERSION, openapi_version="3.0.3",
        plugins=[marshmallow_plugin],
        info={"description": "Outreach and referral for safe labour migration, Kabupaten "
                             "Cirebon. Errors carry a message in Bahasa Indonesia (id) and "
                             "English (en)."},
    )
    marshmallow_plugin.converter.add_attribute_function(_nullable_output)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "description": "Device token from login"})
    for cls in _schemas():
        # A schema nested in one registered earlier is registered already, by the same name.
        if _schema_name(cls) not in spec.components.schemas:
            spec.components.schema(_schema_name(cls), schema=cls)
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/"):
            continue
        path, parameters = _path(rule)
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(view, rule, parameters)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    # The sync protocol names a refusal's reason as text (it cannot import the server's
    # table); the document lists the codes it takes.
    reason = document["components"]["schemas"]["Refused"]["properties"]["reason"]
    reason.update(enum=list(CODES), description="Why the mutation was refused, a code of "
                  "the API's errors: " + CODES_DESCRIPTION)
    return document


def _describe_account_views() -> None:
    # The login views came before @doc; they are described here rather than edited there.
    from ..schemas.accounts import LoginSchema
    from ..schemas.accounts import UserSchema
    from ..schemas.admin import DeviceListSchema
    from ..schemas.admin import LoginResultSchema
    from . import accounts

    doc(body=LoginSchema, response=LoginResultSchema, status=201, errors=(401, 429))(
        accounts.login)
    doc(status=204)(accounts.logout)
    doc(response=UserSchema)(accounts.me)
    doc(response=DeviceListSchema)(accounts.my_devices)


_describe_account_views()


@api_bp.get("/openapi.json")
@doc(response={"type": "object"})
def openapi_document():
    """The OpenAPI 3 document of this API."""
    cache = current_app.extensions.setdefault("jangkau", {})
    if "openapi" not in cache:
        cache["openapi"] = build_spec(current_app)
    return cache["openapi"]
