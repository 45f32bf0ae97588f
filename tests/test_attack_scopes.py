"""Cross-scope attacks: every route of the app, tried by every role on the records of the
scope it does not belong to, leaks nothing and writes nothing.

The world holds two of everything: desa A and B, a community group in each, a partner
organisation for each side (SBMI for A, WCC for B), and on each side visits, persons (one
referred and forwarded to the side's partner, two never referred who share a NIK: a
possible duplicate), a community member's person with consent and referral, consents,
migration plans, referral events, conflicts on a visit, a person and a referral; and a
possible duplicate across the two desa. Who may read which of these is `FOREIGN`: per role,
the records it must never see.

For each role (admin, ltsa, partner, officer, community, an unauthenticated caller and a
deactivated account) every route in `ROUTES` is tried with the ids of its foreign records
(and, for lists, with filters naming them): the answer is a refusal (401, 403, 404) or, for
a list, a pull or a report, an answer without them; no foreign id, person name or NIK
appears anywhere in the raw body (a value the request itself carried aside); and no row of
any table but the audit log and the attacker's own session rows changed.

`ROUTES` has one row per route of `app.url_map`: a route missing from it fails the test, so a
new endpoint must say what it exposes and be attacked before it ships.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

import pytest
import sqlalchemy as sa

from server import notify
from server.extensions import db
from server.models import ConflictEntry
from server.models import DeviceToken
from server.models import Organisation
from server.models import PossibleDuplicate
from server.models import ReferralEvent
from sync import hlc
from sync.protocol import PROTOCOL_VERSION
from tests.conftest import DESA_A
from tests.conftest import DESA_B
from tests.conftest import Account
from tests.push_receiver import Browser
from tests.sync_helpers import VISIT
from tests.sync_helpers import Phone

# On SQLite only: the scope rules are the same SQL on both databases, and the whole table
# takes a minute per database; PostgreSQL's own answers are fuzzed in test_api_fuzz.py.
pytestmark = [pytest.mark.usefixtures("fast_passwords"),
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

SIDES = {"A": DESA_A, "B": DESA_B}
PARTNER_OF = {"A": "sbmi", "B": "wcc_mawar_balqis"}
DENIED = (401, 403, 404)
GIVEN_AT = "2026-11-01T03:00:00+00:00"
CONSENT = {"purposes": ["pencatatan", "rujukan_ltsa", "rujukan_mitra"],
           "notice_version": "2024-10", "method": "centang", "given_at": GIVEN_AT}
# Tables that a refused request may still write: the audit log (reads are audited), and,
# for the attacker's own account only, its session and sync bookkeeping.
AUDIT_ONLY = {"audit_log", "login_failures"}
OWN_ROWS = {"device_tokens": "user_id", "sync_clients": "user_id",
            "push_subscriptions": "user_id", "notifications": "user_id"}


# The world ---------------------------------------------------------------------------------

@dataclass
class Record:
    key: str
    entity: str  # persons, visits, referrals, consents, migration_plans, referral_events,
    #              conflicts, possible_duplicates, notifications
    id: str
    texts: tuple[str, ...] = ()  # a person's name and NIK


@dataclass
class World:
    accounts: dict[str, Account]
    records: dict[str, Record] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    organisations: dict[str, int] = field(default_factory=dict)
    clients: dict[str, str] = field(default_factory=dict)  # label -> a sync client id
    nodes: dict[str, str] = field(default_factory=dict)  # label -> that client's node
    devices: dict[str, int] = field(default_factory=dict)  # label -> a device token id

    def add(self, key: str, entity: str, record_id, *texts: str) -> str:
        self.records[key] = Record(key, entity, str(record_id), texts)
        return str(record_id)


def ok(response, status=(200, 201)) -> dict:
    assert response.status_code in (status if isinstance(status, tuple) else (status,)), \
        response.get_data(as_text=True)[:500]
    return response.get_json()


def nik(side: str, n: int) -> str:
    # A woman born 1 January 1990 (day + 40), registered in Waled; serials unique per test.
    return f"320901410190{ord(side) - 60:02d}{n:02d}"


def person_body(side: str, name: str, n: int, **changes) -> dict:
    # Birth dates differ, so only a shared NIK makes a possible duplicate.
    return {"name": name, "nik": nik(side, n), "sex": "P",
            "birth_date": f"1990-01-{min(n, 28):02d}",
            "phone": f"08123{ord(side)}{n:04d}", "desa_code": SIDES[side],
            "address": f"Blok {name}", "migration_status": "calon_potensial",
            "lawful_basis": "tugas_publik"} | changes


def concurrent(client, account: Account, entity: str, record_id: str, field_name: str):
    """Two phones of one account change one field offline: a conflict."""
    phones = [Phone(client, account, wall_ms=hlc.wall_clock_ms()) for _ in range(2)]
    for phone in phones:
        phone.sync_all()
        assert (entity, record_id) in phone.records, (account.username, entity)
    for i, phone in enumerate(phones):
        phone.edit(entity, record_id, {field_name: f"{field_name} ke-{i}"})
    for phone in phones:
        assert phone.sync()["applied"] == [1]
    return phones[0].client_id, phones[0].node


def build_side(client, w: World, side: str, ltsa: Account) -> None:
    a = w.accounts
    officer, member, partner = a[f"officer {side}"], a[f"community {side}"], a[f"partner {side}"]
    h = officer.headers
    w.add(f"visit {side}", "visits", ok(client.post(
        "/api/visits", json=VISIT | {"desa_code": SIDES[side]}, headers=h))["id"])
    w.add(f"group visit {side}", "visits", ok(client.post(
        "/api/visits", json=VISIT | {"desa_code": SIDES[side]}, headers=member.headers))["id"])
    names = {k: f"{k.title()} Warga{side}" for k in ("rujuk", "sendiri", "kembar", "pokmas",
                                                    "lintas")}
    person = ok(client.post("/api/persons", json=person_body(side, names["rujuk"], 1),
                            headers=h))["id"]
    w.add(f"person {side}", "persons", person, names["rujuk"], nik(side, 1))
    w.add(f"consent {side}", "consents", ok(client.post(
        f"/api/persons/{person}/consents", json=CONSENT, headers=h))["id"])
    w.add(f"plan {side}", "migration_plans", ok(client.put(
        f"/api/persons/{person}/migration-plans",
        json={"destination_country": "TW", "agency_name": "PT Maju"}, headers=h))["id"])
    referral = ok(client.post("/api/referrals", json={
        "person_id": person, "services": ["bantuan_hukum"], "reason": "Gaji ditahan"},
        headers=h))["id"]
    w.add(f"referral {side}", "referrals", referral)
    ok(client.post(f"/api/referrals/{referral}/events", json={
        "kind": "status", "status": "dirujuk_lanjut",
        "organisation_id": w.organisations[side]}, headers=ltsa.headers))
    # A desk note (audience desk): never for the village side.
    w.add(f"desk note {side}", "referral_events", ok(client.post(
        f"/api/referrals/{referral}/events",
        json={"kind": "note", "note": "Catatan meja", "audience": "desk"},
        headers=ltsa.headers))["id"])
    w.add(f"note {side}", "referral_events", ok(client.post(
        f"/api/referrals/{referral}/events",
        json={"kind": "note", "note": "Sudah ditelepon", "audience": "village"},
        headers=partner.headers))["id"])
    # Two persons never referred who share a NIK (unique to this side): a possible duplicate.
    for n, key in ((2, "sendiri"), (3, "kembar")):
        body = person_body(side, names[key], n, nik=nik(side, 2))
        w.add(f"{key} {side}", "persons", ok(client.post("/api/persons", json=body,
                                                           headers=h))["id"], names[key])
    w.records[f"sendiri {side}"].texts += (nik(side, 2),)
    # The community member's own person, with consent, referred (not forwarded).
    own = ok(client.post("/api/persons", json=person_body(
        side, names["pokmas"], 4, lawful_basis="persetujuan", consent=CONSENT),
        headers=member.headers))["id"]
    w.add(f"pokmas person {side}", "persons", own, names["pokmas"], nik(side, 4))
    w.add(f"pokmas referral {side}", "referrals", ok(client.post("/api/referrals", json={
        "person_id": own, "services": ["informasi_migrasi_aman"]},
        headers=member.headers))["id"])
    # A person whose NIK matches one in the other desa (the cross pair; NIK not searched).
    w.add(f"lintas {side}", "persons", ok(client.post("/api/persons", json=person_body(
        side, names["lintas"], 9, nik="3209014101900099"), headers=h))["id"], names["lintas"])
    # Conflicts on a visit, a person and a referral of this side.
    w.clients[f"officer {side}"], w.nodes[f"officer {side}"] = concurrent(
        client, officer, "visits", w.records[f"visit {side}"].id, "notes")
    concurrent(client, officer, "persons", w.records[f"sendiri {side}"].id, "address")
    phones = [Phone(client, who, wall_ms=hlc.wall_clock_ms()) for who in (ltsa, partner)]
    for phone in phones:
        phone.sync_all()
    for i, phone in enumerate(phones):
        phone.edit("referrals", referral, {"outcome": f"Hasil ke-{i}"})
        assert phone.sync()["applied"] == [1]
    w.clients[f"partner {side}"] = phones[1].client_id


@pytest.fixture
def world(app, client, make_account) -> World:
    private, public = notify.new_vapid_keys()
    app.config.update(VAPID_PRIVATE_KEY=private, VAPID_PUBLIC_KEY=public)
    orgs = dict(db.session.execute(sa.select(Organisation.code, Organisation.id)).all())
    accounts = {"admin": make_account("admin", desa_code=None),
                "ltsa": make_account("ltsa", desa_code=None)}
    for side, desa in SIDES.items():
        accounts[f"officer {side}"] = make_account("officer", desa_code=desa)
        accounts[f"community {side}"] = make_account("community", desa_code=desa)
        accounts[f"partner {side}"] = make_account("partner", organisation_code=PARTNER_OF[side])
    w = World(accounts, organisations={s: orgs[PARTNER_OF[s]] for s in SIDES})
    for side in SIDES:
        build_side(client, w, side, accounts["ltsa"])
    # Every conflict, referral event and possible duplicate, keyed by the record it is of.
    of_record = {r.id: r.key for r in w.records.values()}
    for c in db.session.execute(sa.select(ConflictEntry)).scalars():
        w.add(f"conflict on {of_record[c.record_id]}", "conflicts", c.id)
    for e in db.session.execute(sa.select(ReferralEvent)).scalars():
        if e.id not in of_record:
            w.add(f"event {e.id[:8]} of {of_record[e.referral_id]}", "referral_events", e.id)
    for p in db.session.execute(sa.select(PossibleDuplicate)).scalars():
        sides = {of_record[p.person_id][-1], of_record[p.other_person_id][-1]}
        w.add("cross pair" if len(sides) == 2 else f"pair {sides.pop()}",
              "possible_duplicates", p.id)
    assert {"pair A", "pair B", "cross pair"} <= set(w.records), sorted(w.records)
    # Each account's push subscription; the notifications the referrals made.
    for label, account in accounts.items():
        browser = Browser(label.replace(" ", "-"), "http://127.0.0.1:9")
        ok(client.post("/api/push/subscription", json=browser.subscription(),
                       headers=account.headers), 204)
        w.users[label] = account.user_id
        w.devices[label] = db.session.execute(sa.select(DeviceToken.id).where(
            DeviceToken.user_id == account.user_id).limit(1)).scalar_one()
    # A deactivated account of desa A: its token is dead.
    gone = make_account("officer", desa_code=DESA_A)
    ok(client.patch(f"/api/admin/users/{gone.user_id}", json={"is_active": False},
                    headers=accounts["admin"].headers))
    accounts["deactivated"] = gone
    accounts["anonymous"] = Account(0, "anonymous", "anonymous", "")
    return w


# Who must never see what ----------------------------------------------------------------------

def side_keys(w: World, side: str) -> set[str]:
    return {k for k in w.records if k.endswith(f" {side}") or k.endswith(f" {side})")}


def of(w: World, side: str, *bases: str) -> set[str]:
    """The records of a side named by their base keys, with their events and conflicts."""
    keys = {f"{b} {side}" for b in bases}
    return {k for k in side_keys(w, side) if k in keys or any(k.endswith(f" of {x}") or
                                                              k.endswith(f" on {x}")
                                                              for x in keys)}


def foreign(w: World, label: str) -> set[str]:
    """The keys of the records `label` must never see."""
    every = set(w.records)
    if label == "admin":
        return set()
    if label in ("anonymous", "deactivated"):
        return every
    if label == "ltsa":
        # The desk sees every referral with its person; never a person not referred, nor
        # a possible duplicate of such persons.
        return {k for s in SIDES for k in of(w, s, "sendiri", "kembar", "lintas", "pair")} | {
            "cross pair"}
    role, side = label.split()
    other = "B" if side == "A" else "A"
    outside = side_keys(w, other) | {"cross pair"}
    if role == "officer":
        return outside | {f"desk note {side}"}
    if role == "community":
        mine = of(w, side, "group visit", "pokmas person", "pokmas referral")
        return every - mine
    if role == "partner":
        mine = of(w, side, "person", "consent", "plan", "referral", "note", "desk note")
        return every - mine
    raise AssertionError(label)


# The routes ------------------------------------------------------------------------------------

@dataclass
class Attempt:
    """One request: method, path (with a foreign id filled in), JSON body, and whether the
    answer may be a success (a list, a pull or a report must then hold no foreign record)."""

    method: str
    path: str
    body: object = None
    may_succeed: bool = False


@dataclass
class Row:
    """What a route exposes and how to attack it: `target`, the kind of record its path
    parameter names (each foreign one is tried); `body`, the JSON sent (a function of the
    world and the foreign record); `queries`, for a list, query strings naming foreign
    records (each tried; the answer may succeed, without them); `searches`, the same as JSON
    bodies; `public`, a route that holds no personal data at all (tried once, may succeed);
    `admin`, a route for admins only (any other caller is refused)."""

    target: str | None = None
    body: Callable | dict | None = None
    queries: tuple[Callable, ...] = ()
    searches: tuple[Callable, ...] = ()
    public: bool = False
    admin: bool = False
    last: bool = False  # ends the attacker's session: tried after every other route


def q(template: str) -> Callable:
    """A query naming a foreign record: {id}, {name}, {nik} of it."""
    return lambda r: template.format(id=r.id, name=r.texts[0] if r.texts else r.id,
                                     nik=r.texts[-1] if r.texts else r.id)


def search(**template: str) -> Callable:
    """A JSON body naming a foreign record, as q() a query."""
    return lambda r: {k: q(v)(r) for k, v in template.items()}


NOTE = {"kind": "note", "note": "Catatan penyusup", "audience": "village"}
ROUTES: dict[tuple[str, str], Row] = {
    ("POST", "/api/auth/login"): Row(public=True, body=lambda w, r: {
        "username": w.accounts["officer B"].username, "password": "salah-sekali-123"}),
    ("POST", "/api/auth/logout"): Row(public=True, last=True),
    ("GET", "/api/me"): Row(public=True),
    ("GET", "/api/me/devices"): Row(public=True),
    ("GET", "/api/openapi.json"): Row(public=True),
    ("GET", "/api/push/key"): Row(public=True),
    # The retention period, for the consent notice: a setting, no personal data.
    ("GET", "/api/privacy"): Row(public=True),
    ("POST", "/api/push/subscription"): Row(public=True, body=lambda w, r: Browser(
        "penyusup", "http://127.0.0.1:9").subscription()),
    ("DELETE", "/api/push/subscription"): Row(public=True),
    ("GET", "/api/regions"): Row(public=True),
    ("GET", "/api/regions/<code>"): Row(public=True),
    ("GET", "/api/organisations"): Row(public=True),
    ("GET", "/api/organisations/<int:organisation_id>"): Row(public=True),
    ("POST", "/api/organisations"): Row(admin=True, body={
        "code": "penyusup", "name": "Penyusup", "kind": "ngo"}),
    ("PATCH", "/api/organisations/<int:organisation_id>"): Row(admin=True, body={
        "name": "Diganti penyusup"}),
    ("GET", "/api/community-groups"): Row(public=True),
    ("POST", "/api/admin/community-groups"): Row(admin=True, body={
        "name": "Kelompok penyusup", "desa_code": DESA_B}),
    ("GET", "/api/admin/users"): Row(admin=True),
    ("POST", "/api/admin/users"): Row(admin=True, body={
        "username": "penyusup", "password": "kata-sandi-panjang-1", "full_name": "Penyusup",
        "role": "admin"}),
    ("GET", "/api/admin/users/<int:user_id>"): Row(admin=True),
    ("PATCH", "/api/admin/users/<int:user_id>"): Row(admin=True, body={"is_active": False}),
    ("GET", "/api/admin/users/<int:user_id>/devices"): Row(admin=True),
    ("POST", "/api/admin/users/<int:user_id>/revoke-devices"): Row(admin=True),
    ("POST", "/api/admin/users/<int:user_id>/devices/<int:device_id>/revoke"): Row(admin=True),
    ("GET", "/api/notifications"): Row(public=True),
    ("POST", "/api/notifications/read"): Row(public=True, body={"up_to": 10**9}),
    ("GET", "/api/reports"): Row(public=True, queries=(
        lambda r: f"area={DESA_B}&by=desa", lambda r: f"area={DESA_A}&by=desa")),
    ("GET", "/api/reports/export"): Row(public=True, queries=(
        lambda r: f"format=csv&table=visits&area={DESA_B}",
        lambda r: f"format=xlsx&area={DESA_B}", lambda r: "format=xlsx")),
    ("GET", "/api/visits"): Row(queries=(q("desa_code=" + DESA_B), q(""))),
    ("GET", "/api/visits/<visit_id>"): Row("visits"),
    ("POST", "/api/visits"): Row(body=lambda w, r: VISIT | {"desa_code": DESA_B}),
    ("PATCH", "/api/visits/<visit_id>"): Row("visits", body={"notes": "Diubah penyusup"}),
    ("GET", "/api/persons"): Row(queries=(q("q={name}"), q("desa_code=" + DESA_B),
                                          q("include_archived=true"))),
    ("POST", "/api/persons/duplicates"): Row(searches=(
        search(nik="{nik}"), search(name="{name}", birth_date="1990-01-02"))),
    ("GET", "/api/persons/possible-duplicates"): Row(queries=(q("person_id={id}"), q(""))),
    ("GET", "/api/persons/<person_id>"): Row("persons"),
    ("POST", "/api/persons"): Row(body=lambda w, r: person_body("B", "Penyusup", 77)),
    ("PATCH", "/api/persons/<person_id>"): Row("persons", body={"address": "Diubah"}),
    ("POST", "/api/persons/<person_id>/archive"): Row("persons"),
    # The full NIK, and the rights of the person (access, withdrawal, erasure).
    ("POST", "/api/persons/<person_id>/nik"): Row("persons"),
    ("GET", "/api/persons/<person_id>/data"): Row("persons"),
    ("POST", "/api/persons/<person_id>/withdraw"): Row("persons"),
    ("POST", "/api/persons/<person_id>/erase"): Row("persons"),
    ("GET", "/api/persons/<person_id>/consents"): Row("persons"),
    ("POST", "/api/persons/<person_id>/consents"): Row("persons", body=CONSENT),
    ("GET", "/api/persons/<person_id>/migration-plans"): Row("persons"),
    ("PUT", "/api/persons/<person_id>/migration-plans"): Row("persons", body={
        "destination_country": "MY"}),
    ("GET", "/api/consents/<consent_id>"): Row("consents"),
    ("POST", "/api/consents/<consent_id>/withdraw"): Row("consents"),
    ("GET", "/api/migration-plans/<plan_id>"): Row("migration_plans"),
    ("GET", "/api/referrals"): Row(queries=(q("person_id={id}"), q("q={name}"),
                                            q("desa_code=" + DESA_B))),
    ("GET", "/api/referrals/counts"): Row(queries=(q("person_id={id}"),)),
    ("POST", "/api/referrals"): Row("persons", body=lambda w, r: {
        "person_id": r.id, "services": ["bantuan_hukum"]}),
    ("GET", "/api/referrals/<referral_id>"): Row("referrals"),
    ("PATCH", "/api/referrals/<referral_id>"): Row("referrals", body={"urgency": "darurat"}),
    ("GET", "/api/referrals/<referral_id>/events"): Row("referrals"),
    ("POST", "/api/referrals/<referral_id>/events"): Row("referrals", body=NOTE),
    ("GET", "/api/conflicts"): Row(queries=(q("record_id={id}"), q("open=1"))),
    ("POST", "/api/conflicts/<conflict_id>/resolve"): Row("conflicts", body={"value": "x"}),
    ("POST", "/api/possible-duplicates/<pair_id>/merge"): Row(
        "possible_duplicates", body=lambda w, r: {"keep": db.session.get(
            PossibleDuplicate, r.id).person_id}),
    ("POST", "/api/possible-duplicates/<pair_id>/dismiss"): Row("possible_duplicates"),
    ("POST", "/api/sync"): Row(public=True),  # attacked by SYNC_ATTACKS below
    # The app's shell and files: no data.
    ("GET", "/"): Row(public=True),
    ("GET", "/index.html"): Row(public=True),
    ("GET", "/sw.js"): Row(public=True),
    ("GET", "/<apppath:filename>"): Row(public=True),
    ("GET", "/healthz"): Row(public=True),
}
# Path parameters of the public rows: another side's or another account's.
PUBLIC_PARAMS = {"<code>": DESA_B, "<apppath:filename>": "app.js"}


def fill(w: World, rule: str, record: Record | None) -> str:
    path = rule
    if record is not None and "<" in path:
        path = path.replace(path[path.index("<"):path.index(">") + 1], record.id)
    path = path.replace("<int:user_id>", str(w.users["officer B"]))
    path = path.replace("<int:device_id>", str(w.devices["officer B"]))
    path = path.replace("<int:organisation_id>", str(w.organisations["B"]))
    for name, value in PUBLIC_PARAMS.items():
        path = path.replace(name, value)
    # A parameter left unfilled would be refused by the router: a refusal proving nothing.
    assert "<" not in path, f"{rule}: name what its parameter takes in fill()"
    return path


def attempts(w: World, rule: str, method: str, row: Row, hidden: set[str]):
    """Every request of a row against the records in `hidden`."""
    def body_of(record):
        return row.body(w, record) if callable(row.body) else row.body

    if row.target:
        for key in sorted(hidden):
            record = w.records[key]
            if record.entity == row.target:
                yield key, Attempt(method, fill(w, rule, record), body_of(record))
        return
    if row.queries or row.searches:
        texts = [w.records[k] for k in sorted(hidden) if w.records[k].texts
                 or w.records[k].entity != "persons"] or [Record("none", "", "")]
        seen = set()
        for make in row.queries + row.searches:
            for record in texts:
                made = make(record)
                if repr(made) in seen:
                    continue
                seen.add(repr(made))
                if make in row.queries:
                    yield record.key, Attempt(method, f"{fill(w, rule, None)}?{made}",
                                              body_of(record), may_succeed=True)
                else:
                    yield record.key, Attempt(method, fill(w, rule, None), made,
                                              may_succeed=True)
        return
    yield "-", Attempt(method, fill(w, rule, None), body_of(None), may_succeed=row.public)


# The sync attacks: (what, the mutations or body changes, given the foreign record) --------------

def sync_attacks(w: World, label: str, hidden: set[str]):
    """Bodies for POST /api/sync that try to reach foreign records or forge what the server
    sets. Each yields (what, body, expected): "pull" (answered 200), "refused" (200 with the
    mutation refused as not_found or forbidden), "invalid" (422 naming the mutation, or
    refused), "mismatch" (409 client_mismatch)."""
    fresh = "00000000-0000-4000-8000-00000000a77a"

    def batch(*mutations, client_id=None, cursor=0):
        # A new client and node each time: a mutation id the server saw before is skipped,
        # and a node is bound to the first client that pushes with it.
        stamp = hlc.now(f"penyusup-{uuid.uuid4().hex[:12]}")
        return {"protocol": PROTOCOL_VERSION, "client_id": client_id or str(uuid.uuid4()),
                "cursor": cursor, "pull_limit": 1000,
                "mutations": [m | {"mutation_id": i, "hlc": m.get("hlc", stamp)}
                              for i, m in enumerate(mutations, start=1)]}

    yield "pull from zero", batch(), "pull"
    for victim, client_id in w.clients.items():
        if victim != label:
            yield f"as {victim}'s client", batch(client_id=client_id, cursor=0), "mismatch"
            yield f"as {victim}'s client, with a change", batch(
                {"entity": "visits", "id": fresh, "op": "upsert", "fields": VISIT},
                client_id=client_id), "mismatch"
    if label == "admin":
        return  # the admin may write anywhere: only another's client is forbidden to it
    for key in sorted(hidden):
        r = w.records[key]
        fields = {"visits": {"notes": "x"}, "persons": {"address": "x"},
                  "referrals": {"outcome": "x"}, "consents": {"withdrawn_at": GIVEN_AT},
                  "migration_plans": {"agency_name": "x"}}.get(r.entity)
        if fields:
            yield f"change {key}", batch({"entity": r.entity, "id": r.id, "op": "upsert",
                                          "fields": fields}), "refused"
        if r.entity == "referrals":
            yield f"event on {key}", batch({"entity": "referral_events", "id": fresh,
                                            "op": "insert", "fields": NOTE | {
                                                "referral_id": r.id}}), "refused"
            yield f"derived status of {key}", batch({
                "entity": "referrals", "id": r.id, "op": "upsert",
                "fields": {"status": "selesai"}}), "invalid"
            yield f"desa of {key}", batch({"entity": "referrals", "id": r.id, "op": "upsert",
                                           "fields": {"desa_code": DESA_A}}), "invalid"
        if r.entity == "persons":
            yield f"referral of {key}", batch({"entity": "referrals", "id": fresh,
                                               "op": "upsert", "fields": {
                                                   "person_id": r.id,
                                                   "services": ["bantuan_hukum"]}}), \
                "refused"
            yield f"consent of {key}", batch({"entity": "consents", "id": fresh, "op": "upsert",
                                              "fields": CONSENT | {"person_id": r.id}}), \
                "refused"
            yield f"a node of another phone on {key}", batch({
                "entity": "persons", "id": r.id, "op": "upsert", "fields": {"address": "y"},
                "hlc": hlc.now(w.nodes["officer B"])}), "invalid"
    yield "a visit in desa B", batch({"entity": "visits", "id": fresh, "op": "upsert",
                                      "fields": VISIT | {"desa_code": DESA_B}}), "refused"
    yield "a person in desa B", batch({"entity": "persons", "id": fresh, "op": "upsert",
                                       "fields": person_body("B", "Penyusup", 78)}), "refused"
    yield "created_by forged", batch({"entity": "visits", "id": fresh, "op": "upsert",
                                      "fields": VISIT | {"created_by_id": 1}}), "invalid"
    yield "author forged", batch({"entity": "visits", "id": fresh, "op": "upsert",
                                  "fields": VISIT, "author": str(w.users["officer B"])}), \
        "invalid"
    yield "_authors forged", batch({"entity": "visits", "id": fresh, "op": "upsert",
                                    "fields": VISIT | {"_authors": {"notes": "1"}}}), "invalid"
    yield "author_role forged", batch({"entity": "referral_events", "id": fresh,
                                       "op": "insert", "fields": NOTE | {
                                           "referral_id": w.records["referral B"].id,
                                           "author_role": "admin"}}), "invalid"


# The oracle --------------------------------------------------------------------------------------

def digest(attacker_id: int) -> dict[str, str]:
    """A hash of every table's rows, but the audit log and the attacker's own session rows."""
    out = {}
    for table in db.metadata.sorted_tables:
        if table.name in AUDIT_ONLY:
            continue
        select = sa.select(table)
        if table.name in OWN_ROWS:
            select = select.where(table.c[OWN_ROWS[table.name]] != attacker_id)
        rows = db.session.execute(select).all()
        out[table.name] = hashlib.sha256(
            repr(sorted(repr(tuple(r)) for r in rows)).encode()).hexdigest()
    return out


def raw_text(response) -> str:
    data = response.get_data()
    if data[:2] == b"PK":  # an XLSX: search the text of its parts
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "\n".join(z.read(n).decode(errors="replace") for n in z.namelist())
    return data.decode(errors="replace")


def leaks(w: World, hidden: set[str], text: str, sent: str) -> list[str]:
    """Foreign ids, names and NIKs in an answer (those the request carried aside)."""
    found = []
    for key in hidden:
        r = w.records[key]
        for token in (r.id, *r.texts):
            if token and token in text and token not in sent:
                found.append(f"{key}: {token}")
    return found


def sync_outcome(response) -> str:
    """What came of a POST /api/sync: pull, refused, invalid, mismatch or something else
    (applied, a 5xx)."""
    status, answer = response.status_code, response.get_json() or {}
    error = answer.get("error") or {}
    if status in (401, 403):
        return "refused"
    if status == 409 and error.get("code") == "client_mismatch":
        return "mismatch"
    if status == 422 and "1" in ((error.get("fields") or {}).get("mutations") or {}):
        return "invalid"
    if status != 200:
        return f"answered {status}"
    if answer["applied"]:
        return f"applied {answer['applied']}"
    if not answer["refused"] and answer["last_mutation_id"] == 0:
        return "pull"
    reasons = [r["reason"] for r in answer["refused"]]
    return "refused" if reasons and set(reasons) <= {"not_found", "forbidden"} else \
        f"refused as {reasons}"


def send(client, account: Account, a: Attempt):
    headers = account.headers if account.token else {}
    kwargs = {"headers": headers}
    if a.body is not None:
        kwargs["json"] = a.body
    return client.open(a.path, method=a.method, **kwargs)


LABELS = ["admin", "ltsa", "partner A", "officer A", "community A", "anonymous",
          "deactivated"]


def test_every_route_is_in_the_table(app):
    routes = {(m, r.rule) for r in app.url_map.iter_rules()
              for m in r.methods - {"HEAD", "OPTIONS"} if r.endpoint != "static"}
    assert sorted(routes - set(ROUTES)) == [], "a route without its row in ROUTES"
    assert sorted(set(ROUTES) - routes) == [], "a row of ROUTES without its route"


@pytest.mark.parametrize("label", LABELS)
def test_no_role_reaches_another_scope(client, world, label):
    w = world
    account = w.accounts[label]
    hidden = foreign(w, label)
    assert hidden or label == "admin"
    problems: list[str] = []
    tried = 0
    start = digest(account.user_id)
    # The sync attacks first: the REST rows end with the attacker's logout.
    for what, body, expected in sync_attacks(w, label, hidden):
        before = digest(account.user_id)
        response = send(client, account, Attempt("POST", "/api/sync", body))
        tried += 1
        outcome = sync_outcome(response)
        if outcome != ("refused" if label in ("anonymous", "deactivated") else expected) \
                and not (expected == "invalid" and outcome == "refused"):
            problems.append(f"sync {what}: {outcome} ({response.status_code}), not {expected}")
        problems += [f"sync {what}: leaks {x}" for x in leaks(
            w, hidden, raw_text(response), json.dumps(body))]
        db.session.expire_all()
        after = digest(account.user_id)
        problems += [f"sync {what}: wrote {t}" for t in after if after[t] != before[t]]
    rows = sorted(ROUTES.items(), key=lambda item: item[1].last)
    for (method, rule), row in rows:
        if rule == "/api/sync":
            continue
        if label == "admin" and method != "GET":
            continue  # the admin may change anything: nothing of it is foreign
        for key, a in attempts(w, rule, method, row, hidden):
            # A read is checked by the digests around the whole test (they are slow).
            before = digest(account.user_id) if method != "GET" else None
            response = send(client, account, a)
            tried += 1
            where = f"{a.method} {a.path} [{key}]"
            status = response.status_code
            if status >= 500:
                problems.append(f"{where}: {status}")
            elif status not in DENIED and (row.admin and label != "admin" or not (
                    a.may_succeed or row.public or row.admin)):
                problems.append(f"{where}: answered {status}, not a refusal")
            sent = a.path + json.dumps(a.body or {})
            problems += [f"{where}: leaks {x}" for x in leaks(w, hidden, raw_text(response),
                                                              sent)]
            if before is not None:
                db.session.expire_all()
                after = digest(account.user_id)
                problems += [f"{where}: wrote {t}" for t in after if after[t] != before[t]]
    db.session.expire_all()
    problems += [f"written by the reads: {t}" for t, value in digest(account.user_id).items()
                 if value != start[t]]
    assert problems == []
    assert tried > len(ROUTES) // 2
