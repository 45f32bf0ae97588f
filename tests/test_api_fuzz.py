"""Every /api operation, fuzzed from the OpenAPI document with each role's token over the
demo dataset: no answer is a server error, and every answer (status, content type, body)
is one the document describes.

Bounded: a few derandomized examples per operation (a run is repeatable), with generated
path ids and with ids of real records; invalid input once per operation, by the first role
the operation allows. On both databases: PostgreSQL takes about as long as SQLite, and
refuses numbers that SQLite takes.
"""

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import given
from hypothesis import settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.checks import status_code_conformance

from server import models
from server import notify
from server.demo import DEMO_PASSWORD
from server.demo import load_demo
from server.extensions import db

# On PostgreSQL only: its column types refuse what SQLite stores (an id past 32 bits was a
# 500 there alone); the scope table of test_attack_scopes.py covers SQLite.
pytestmark = [pytest.mark.usefixtures("fast_passwords"),
              pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]

# A demo account of each role: it sees the demo records of its scope.
ACCOUNTS = {"admin": "admin.demo", "ltsa": "ltsa.cirebon", "partner": "mitra.sbmi",
            "officer": "perangkat.waled", "community": "pokmas.gebang1"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
MAX_EXAMPLES = 3
# Operations that end the token's session run last, so the others are tried logged in.
SESSION_ENDING = ("/api/auth/logout", "/api/admin/users/{user_id}/revoke-devices")
# Path parameter -> the model whose first row gives a real id.
PATH_MODELS = {
    "person_id": models.Person, "visit_id": models.OutreachVisit,
    "referral_id": models.Referral, "consent_id": models.Consent,
    "plan_id": models.MigrationPlan, "organisation_id": models.Organisation,
    "conflict_id": models.ConflictEntry, "pair_id": models.PossibleDuplicate,
}


@pytest.fixture
def fast_dummy_hash(monkeypatch):
    # An unknown username is checked against a dummy hash made with the real parameters;
    # the fuzzed logins need not spend them.
    from server import passwords

    monkeypatch.setattr(passwords, "_DUMMY_HASH", passwords._hasher.hash("dummy"))


def _real_ids(user_id: int) -> dict:
    ids = {"user_id": user_id, "code": "32.09.01.2008"}
    for name, model in PATH_MODELS.items():
        found = db.session.execute(sa.select(model.id).order_by(model.id).limit(1)).scalar()
        if found is not None:
            ids[name] = found
    return ids


def _first_allowed_role(app, schema, operation) -> str:
    view = app.view_functions["api." + schema.get_operation_id(operation)]
    roles = getattr(view, "required_roles", ())
    return next(role for role in ACCOUNTS if not roles or role in roles)


def _runs(operation, real_ids: dict, invalid_too: bool):
    """(generation mode, fixed path parameters) to try on the operation."""
    runs = [(GenerationMode.POSITIVE, None)]
    names = [parameter.name for parameter in operation.path_parameters]
    if names and all(name in real_ids for name in names):
        runs.append((GenerationMode.POSITIVE, {name: real_ids[name] for name in names}))
    # Only a query string or a body can be made invalid (a path id is a string either
    # way); invalid input is tried once, by the first role allowed past the role check.
    if invalid_too and (len(operation.query) or len(operation.body)):
        runs.append((GenerationMode.NEGATIVE, None))
    return runs


@pytest.mark.parametrize("role", list(ACCOUNTS))
def test_every_operation_answers_as_documented(app, client, fast_dummy_hash, role):
    load_demo(db.session)
    db.session.commit()
    # Web push set up, so its endpoints answer as they do in service (not 503).
    private, public = notify.new_vapid_keys()
    app.config.update(VAPID_PRIVATE_KEY=private, VAPID_PUBLIC_KEY=public)
    login = client.post("/api/auth/login",
                        json={"username": ACCOUNTS[role], "password": DEMO_PASSWORD})
    assert login.status_code == 201, login.get_json()
    # Identity encoding: the test transport hands a gzipped answer over undecoded.
    headers = {"Authorization": f"Bearer {login.get_json()['token']}",
               "Accept-Encoding": "identity"}
    real_ids = _real_ids(login.get_json()["user"]["id"])
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda op: op.path in SESSION_ENDING)
    failures = []
    for operation in operations:
        invalid_too = _first_allowed_role(app, schema, operation) == role
        for mode, path_parameters in _runs(operation, real_ids, invalid_too):
            strategy = operation.as_strategy(generation_mode=mode, headers=headers,
                                             path_parameters=path_parameters)

            @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                      derandomize=True, suppress_health_check=list(HealthCheck),
                      phases=[Phase.explicit, Phase.generate])
            @given(case=strategy)
            def run(case):
                case.validate_response(case.call(), checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                pass  # nothing in the operation to make invalid
            except BaseExceptionGroup as e:
                failures.append(f"{operation.label} ({mode}, path {path_parameters}): "
                                f"{str(e)[:3000]}")
    assert not failures, "\n\n".join(failures)
