"""Values no field may take answer 422 naming the field, on the REST API and on /api/sync;
a cut gzip body is 400; an unforeseen error in one mutation refuses that mutation only."""

import gzip
import json
import logging
import uuid

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import OutreachVisit
from server.models import SyncClient
from sync.protocol import MAX_JSON_DEPTH
from sync.protocol import VALUE_PROBLEMS
from tests.conftest import DESA_A
from tests.sync_helpers import VISIT
from tests.sync_helpers import Phone

pytestmark = pytest.mark.usefixtures("fast_passwords")


def nested(depth: int):
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


# (field, value, problem); the body is the visit with this field's value replaced.
# `topics` sits at depth 2 of a REST body (3 with its list) and 5 of a sync body.
BAD_VALUES = [
    ("notes", "Balai\x00desa", "nul"),
    ("notes", "Balai \ud800 desa", "surrogate"),
    ("dusun", "\udc00", "surrogate"),
    ("participants_male", 2**63, "integer"),
    ("participants_female", -(2**63) - 1, "integer"),
    ("participants_children", float("nan"), "number"),
    ("participants_children", float("inf"), "number"),
    ("topics", nested(MAX_JSON_DEPTH), "depth"),
]
IDS = [f"{field}-{problem}-{i}" for i, (field, _, problem) in enumerate(BAD_VALUES)]


def raw_json(body: dict) -> str:
    # json.dumps escapes a lone surrogate and NUL as \uXXXX and writes NaN/Infinity, as a
    # client could.
    return json.dumps(body)


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def messages_at(fields: dict, name: str) -> list:
    found = fields[name]
    while isinstance(found, dict) and not {"id", "en"} <= set(found):
        found = next(iter(found.values()))
    return found if isinstance(found, list) else [found]


@pytest.fixture
def officer(make_account):
    return make_account("officer", desa_code=DESA_A)


@pytest.mark.parametrize(("field", "value", "problem"), BAD_VALUES, ids=IDS)
def test_rest_body_with_a_bad_value_is_422_naming_the_field(client, officer, field, value,
                                                            problem):
    body = dict(VISIT, id=str(uuid.uuid4()), **{field: value})
    response = client.post("/api/visits", data=raw_json(body), headers=officer.headers,
                           content_type="application/json")
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {field}
    text_id, text_en = VALUE_PROBLEMS[problem]
    assert {"id": text_id, "en": text_en} in messages_at(error["fields"], field)
    assert count(OutreachVisit) == 0


@pytest.mark.parametrize(("field", "value", "problem"), BAD_VALUES, ids=IDS)
def test_sync_mutation_with_a_bad_value_is_422_by_mutation_id(client, officer, field, value,
                                                              problem):
    phone = Phone(client, officer)
    phone.new("visits", VISIT)
    phone.new("visits", dict(VISIT, **{field: value}))
    response = client.post("/api/sync", data=raw_json(phone.body()), headers=officer.headers,
                           content_type="application/json")
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    error = response.get_json()["error"]
    assert error["code"] == "invalid_batch"
    assert set(error["fields"]["mutations"]) == {"2"}
    named = error["fields"]["mutations"]["2"]["fields"]
    assert set(named) == {field}
    text_id, text_en = VALUE_PROBLEMS[problem]
    assert {"id": text_id, "en": text_en} in messages_at(named, field)
    assert count(OutreachVisit) == 0 and count(SyncClient) == 0
    # The app sets the named mutation aside and sends the rest, which goes through.
    phone.outbox = phone.outbox[:1]
    assert phone.sync()["applied"] == [1]


@pytest.mark.parametrize(("path", "name"), [
    ("/api/persons?q=Siti%00", "q"),
    ("/api/visits?desa_code=32.09%00", "desa_code"),
    ("/api/persons/ab%00cd", "person_id"),
])
def test_a_nul_in_a_query_or_path_is_422_naming_it(client, officer, path, name):
    response = client.get(path, headers=officer.headers)
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and set(error["fields"]) == {name}
    text_id, text_en = VALUE_PROBLEMS["nul"]
    assert error["fields"][name] == [{"id": text_id, "en": text_en}]


def test_a_bad_key_is_named_escaped(client, officer):
    body = dict(VISIT, id=str(uuid.uuid4()), **{"no\x00te": "x"})
    response = client.post("/api/visits", data=raw_json(body), headers=officer.headers,
                           content_type="application/json")
    assert response.status_code == 422
    assert "no\\u0000te" in response.get_json()["error"]["fields"]


@pytest.mark.parametrize("path", ["/api/visits", "/api/sync"])
def test_a_body_nested_past_the_parser_is_400(client, officer, path):
    response = client.post(path, data="[" * 100_000 + "]" * 100_000,
                           headers=officer.headers, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize("cut", [
    pytest.param(lambda data: data[:-8], id="trailer"),
    pytest.param(lambda data: data[:-4], id="length"),
    pytest.param(lambda data: data + b"\x00junk", id="trailing-bytes"),
])
def test_a_cut_or_damaged_gzip_body_is_400(client, officer, cut):
    phone = Phone(client, officer)
    for i in range(50):
        phone.new("visits", dict(VISIT, notes=f"kunjungan {i}"))
    data = gzip.compress(json.dumps(phone.body()).encode())
    response = client.post("/api/sync", data=cut(data),
                           headers=dict(officer.headers, **{"Content-Encoding": "gzip"}),
                           content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert count(OutreachVisit) == 0
    assert phone.sync(gzip_body=True)["applied"] == list(range(1, 51))


def _fails_before_writing(session, user, row, is_new):
    if row.notes == "rusak":
        raise KeyError("a bug in a hook")


def _fails_after_writing(session, user, row, is_new):
    # The row is in the database already: only the savepoint's rollback takes it out.
    session.flush()
    if row.notes == "rusak":
        raise KeyError("a bug in a hook")


@pytest.mark.parametrize(("hook", "fails"), [("prepare", _fails_before_writing),
                                             ("after_write", _fails_after_writing)])
def test_an_unforeseen_error_refuses_that_mutation_only(client, app, officer, monkeypatch,
                                                        caplog, hook, fails):
    from server.api.sync import sync_registry

    registry, _ = sync_registry()
    monkeypatch.setattr(registry["visits"], hook, fails)
    phone = Phone(client, officer)
    good = phone.new("visits", VISIT)
    bad = phone.new("visits", dict(VISIT, notes="rusak"))
    after = phone.new("visits", dict(VISIT, notes="sesudahnya"))
    with caplog.at_level(logging.ERROR):
        answer = phone.sync()
    assert answer["applied"] == [1, 3] and answer["last_mutation_id"] == 3
    [refusal] = answer["refused"]
    assert refusal["mutation_id"] == 2 and refusal["reason"] == "server_error"
    assert refusal["error_id"] in refusal["message"]["en"]
    assert refusal["error_id"] in caplog.text
    ids = set(db.session.execute(sa.select(OutreachVisit.id)).scalars())
    assert ids == {good, after} and bad not in ids
    assert ("visits", bad) not in phone.records
    # A retry of the batch gets the refusal again, and writes nothing more.
    phone.outbox = []
    phone.next_id = 1
    for _ in range(3):
        phone.edit("visits", str(uuid.uuid4()), VISIT)
    assert phone.sync()["skipped"] == [1, 2, 3]
    assert count(OutreachVisit) == 2
