"""GET /api/openapi.json describes every /api endpoint, and is a well-formed OpenAPI 3 document."""

import re

import pytest

from server import create_app

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def spec_and_app():
    """The document and the app that served it; no database is touched."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json(), app


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_api_rule_is_described(spec_and_app):
    spec, app = spec_and_app
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/")]
    assert len(rules) > 40
    for rule in rules:
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        assert path in spec["paths"], rule.rule
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"][path], (method, rule.rule)


def test_document_is_structurally_valid(spec_and_app):
    spec, _ = spec_and_app
    assert re.fullmatch(r"3\.\d+\.\d+", spec["openapi"])
    assert spec["info"]["title"] and spec["info"]["version"]
    schemas = spec["components"]["schemas"]
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "Device token from login"}
    operation_ids = []
    for path, item in spec["paths"].items():
        assert path.startswith("/api/")
        for method, operation in item.items():
            assert method in HTTP_METHODS, (path, method)
            assert operation["summary"], (path, method)
            operation_ids.append(operation["operationId"])
            assert any(code.startswith("2") for code in operation["responses"]), (path, method)
            for code, response in operation["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", code) and response["description"]
            for parameter in operation.get("parameters", []):
                assert parameter["in"] in ("path", "query") and parameter["name"]
                if parameter["in"] == "path":
                    assert parameter["required"] is True
                    assert f"{{{parameter['name']}}}" in path
    assert len(operation_ids) == len(set(operation_ids))
    for ref in _refs(spec):
        prefix, _, name = ref.rpartition("/")
        assert prefix == "#/components/schemas" and name in schemas, ref


def test_security_errors_and_bodies_are_described(spec_and_app):
    spec, _ = spec_and_app
    paths = spec["paths"]
    assert paths["/api/openapi.json"]["get"]["security"] == []
    login = paths["/api/auth/login"]["post"]
    assert login["security"] == [] and set(login["responses"]) >= {"201", "401", "422", "429"}
    create = paths["/api/visits"]["post"]
    assert create["security"] == [{"bearer": []}]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Visit"}
    assert create["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
    patch = paths["/api/visits/{visit_id}"]["patch"]
    assert patch["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "VisitPatch")
    assert "required" not in spec["components"]["schemas"]["VisitPatch"]
    assert spec["components"]["schemas"]["Visit"]["required"] == [
        "desa_code", "visit_date", "visit_type"]
    admin = paths["/api/admin/users"]["post"]
    assert "403" in admin["responses"] and "Roles: admin." in admin["description"]
    listing = {p["name"] for p in paths["/api/visits"]["get"]["parameters"]}
    assert listing >= {"desa_code", "date_from", "date_to", "visit_type", "page", "per_page"}
    event = spec["components"]["schemas"]["ReferralEvent"]["properties"]
    assert event["status"]["enum"][0] == "terkirim"


def test_every_schema_module_class_is_registered(spec_and_app):
    from marshmallow import Schema

    from server.schemas import accounts
    from server.schemas import admin
    from server.schemas import records

    spec, _ = spec_and_app
    for module in (accounts, admin, records):
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, Schema) and (
                    value.__module__ == module.__name__):
                assert name.removesuffix("Schema") in spec["components"]["schemas"], name


def test_error_bodies_are_described_with_every_code(spec_and_app):
    from server.errors import CODES

    schemas = spec_and_app[0]["components"]["schemas"]
    detail = schemas["ErrorDetail"]
    assert set(detail["required"]) == {"status", "code", "message"}
    assert detail["properties"]["code"]["enum"] == list(CODES)
    assert {"fields", "retry_after_minutes", "error_id", "reason"} <= set(detail["properties"])
    assert set(schemas["Message"]["required"]) == {"id", "en"}
    # A refused sync mutation names its reason with the same codes.
    assert schemas["Refused"]["properties"]["reason"]["enum"] == list(CODES)


def test_every_body_can_be_refused_as_too_large_or_not_json(spec_and_app):
    for path, item in spec_and_app[0]["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= set(operation["responses"]), (path, method)


@pytest.mark.parametrize(("schema", "field", "nullable"), [
    ("Person", "archived_at", True),  # read-only, absent until archived
    ("Consent", "withdrawn_at", True),
    ("User", "desa_code", True),  # allow_none
    ("Device", "revoked_at", True),
    ("Region", "parent_code", True),
    ("Visit", "visit_date", False),  # required
    ("User", "username", False),
])
def test_fields_that_may_be_null_say_so(spec_and_app, schema, field, nullable):
    prop = spec_and_app[0]["components"]["schemas"][schema]["properties"][field]
    assert prop.get("nullable", False) is nullable


@pytest.mark.usefixtures("fast_passwords")
def test_error_answers_match_the_document(app, client, make_account):
    """Answers the fuzz rarely provokes (a lockout, a body too large or not JSON) are
    validated against the document too."""
    import schemathesis

    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    officer = make_account("officer")
    app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] = 1
    answers = [
        ("/api/auth/login", "POST", None, {"json": {"username": "x", "password": "y"}}, 401),
        ("/api/auth/login", "POST", None, {"json": {"username": "x", "password": "y"}}, 429),
        ("/api/visits", "POST", officer.headers, {"data": "x", "content_type": "text/plain"},
         415),
        ("/api/visits", "POST", officer.headers,
         {"data": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
          "content_type": "application/json"}, 413),
        ("/api/visits", "POST", officer.headers, {"json": {"visit_date": "kemarin"}}, 422),
    ]
    for path, method, headers, kwargs, status in answers:
        response = client.open(path, method=method, headers=headers, **kwargs)
        assert response.status_code == status, (path, response.get_json())
        schema[path][method].validate_response(response)
        assert response.get_json()["error"]["status"] == status
