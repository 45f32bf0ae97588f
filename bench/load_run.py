"""Load run: 100 simulated phones of every field role log in and sync for a set time against
`gunicorn -w 4` on PostgreSQL, while the push worker sends the referrals' notifications.

    python bench/load_run.py                 # 100 phones for 10 minutes
    python bench/load_run.py --minutes 1     # a short run
    python bench/load_run.py --phones 40 --minutes 2

The phones (one account and one client id each; threads of this process, over keep-alive
HTTP): per desa of DESAS, officers and community members (two groups) who record visits,
persons (with their consent, for the groups) and referrals, and correct their own records;
the officers of a desa also all correct the notes of two shared visits, and the LTSA desk
phones all correct the outcome of shared referrals: concurrent edits of the same field.
The desk receives, schedules and forwards referrals to the partners, whose phones take them
up. A phone syncs (POST /api/sync) after each round of changes, then waits 2 to 8 seconds,
as a phone in use does; the desk and partner phones also read their inbox, and every phone
its notifications. Each phone's subscription points at a local push receiver that decrypts
every message (tests/push_receiver.py), and `flask push-worker` runs throughout.

At the end, every phone syncs until its outbox is empty, and the server's rows are checked
against what the phones logged: every mutation acknowledged (the client's last_mutation_id
on the server is the phone's last), each phone's records exactly the rows the server
holds as created by its account (none lost, none twice), each phone's own corrections the
stored values; for the shared fields, the stored value is the last write by the merge order
and every other value written is in the conflict log or was seen by a later write (the
rule of sync/merge.py); no answer 5xx (nor any status but 200/201); every push message
sent. Exit status 0 when all hold.

The PostgreSQL database is made for the run and dropped after it (JANGKAU_BENCH_POSTGRES,
as bench/sync_bench.py, whose servers and HTTP helpers this uses).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import sync_bench as sb
from sync_bench import DESAS
from sync_bench import PASSWORD
from sync_bench import BenchError

from sync import hlc  # noqa: E402  (sync_bench put the project on the path)
from sync import merge  # noqa: E402
from sync import wire  # noqa: E402
from sync.merge import write_order  # noqa: E402
from sync.protocol import MAX_MUTATIONS  # noqa: E402
from sync.protocol import PROTOCOL_VERSION  # noqa: E402

if not sb.BIN.exists():
    # A worktree without its own .venv: the tools of the Python running this.
    sb.BIN = Path(sys.executable).parent

sys.path.insert(0, str(sb.ROOT))
from tests.push_receiver import Receiver  # noqa: E402

ORGANISATIONS = ("sbmi", "wcc_mawar_balqis")
ENTITIES = ("visits", "persons", "consents", "referrals", "referral_events")
TABLES = {"visits": "outreach_visits", "persons": "persons", "consents": "consents",
          "referrals": "referrals", "referral_events": "referral_events"}
CONSENT = {"purposes": ["pencatatan", "rujukan_ltsa", "rujukan_mitra"],
           "notice_version": "2024-10", "method": "centang"}


# The phones' accounts -----------------------------------------------------------------------

def plan_accounts(n: int) -> list[dict]:
    """n accounts: a tenth desk (ltsa), a tenth partners, the rest the village side of the
    desa (three officers to one community member, in two groups per desa)."""
    desk = max(1, n // 10)
    partners = max(1, n // 10)
    village = n - desk - partners
    accounts = []
    for i in range(village):
        desa = DESAS[i % len(DESAS)]
        k = i // len(DESAS)
        if k % 4 == 3:
            accounts.append({"username": f"pokmas{i:03d}", "role": "community", "desa": desa,
                             "group": f"Pokmas {desa} {k // 4 % 2}"})
        else:
            accounts.append({"username": f"perangkat{i:03d}", "role": "officer", "desa": desa})
    accounts += [{"username": f"ltsa{i:02d}", "role": "ltsa"} for i in range(desk)]
    accounts += [{"username": f"mitra{i:02d}", "role": "partner",
                  "organisation": ORGANISATIONS[i % len(ORGANISATIONS)]}
                 for i in range(partners)]
    return accounts


CREATE_ACCOUNTS = """
import json, sys
import sqlalchemy as sa
from server import create_app
from server.accounts import create_user
from server.extensions import db
from server.models import CommunityGroup
app = create_app()
with app.app_context():
    groups = {}
    for a in json.loads(sys.argv[1]):
        group_id = None
        if a.get("group"):
            key = (a["desa"], a["group"])
            if key not in groups:
                group = CommunityGroup(name=a["group"], desa_code=a["desa"])
                db.session.add(group)
                db.session.flush()
                groups[key] = group.id
            group_id = groups[key]
        create_user(a["username"], sys.argv[2], "Load " + a["username"], a["role"],
                    desa_code=a.get("desa"), organisation_code=a.get("organisation"),
                    community_group_id=group_id)
    db.session.commit()
"""


# HTTP -------------------------------------------------------------------------------------

@dataclass
class Stats:
    """Every answer of the run: latency per kind, statuses, the 5xx and odd answers."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, status: int, seconds: float, what: str = "") -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[status] += 1
            if status not in (200, 201):
                self.errors.append(f"{kind}: {status} {what[:300]}")


def call(conn: sb.Http, stats: Stats, kind: str, method: str, path: str,
         payload: dict | None = None, token: str | None = None) -> dict | None:
    """One request on the phone's connection; its answer's JSON, or None when it was not
    200/201 (counted as an error)."""
    headers = {"Accept-Encoding": "identity"}
    body = None
    if payload is not None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    started = time.perf_counter()
    try:
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        data = response.read()
    except (OSError, sb.http.client.HTTPException) as e:
        conn.close()
        stats.add(kind, 0, time.perf_counter() - started, f"{type(e).__name__}: {e}")
        return None
    stats.add(kind, response.status, time.perf_counter() - started, data.decode(errors="replace"))
    return json.loads(data) if response.status in (200, 201) else None


# A phone ----------------------------------------------------------------------------------

@dataclass
class Write:
    """One field value a phone wrote to a shared record, as the server applied it."""

    entity: str
    record_id: str
    field: str
    value: str
    hlc: str
    base: str | None


class LoadPhone:
    """One installed app: outbox, cursor and local copy, as tests/sync_helpers.Phone, over
    real HTTP; it logs what it created and wrote, for the checks at the end."""

    def __init__(self, port: int, account: dict, stats: Stats, rng: random.Random) -> None:
        self.port = port
        self.account = account
        self.stats = stats
        self.rng = rng
        self.conn = sb.Http(port, timeout=120)
        self.token: str | None = None
        self.user_id: int | None = None
        self.client_id = str(uuid.uuid4())
        self.node = f"load-{account['username']}-{self.client_id[:6]}"
        self.clock: str | None = None
        self.next_id = 1
        self.outbox: list[dict] = []
        self.cursor = 0
        self.records: dict[tuple[str, str], dict] = {}
        self.created: dict[str, set[str]] = {e: set() for e in ENTITIES}
        self.own_values: dict[tuple[str, str, str], object] = {}
        self.shared_writes: list[Write] = []
        self.pending_shared: dict[int, Write] = {}
        self.mutations = 0
        self.refused: list[dict] = []
        self.resets = 0

    # requests
    def login(self) -> None:
        answer = call(self.conn, self.stats, "login", "POST", "/api/auth/login",
                      {"username": self.account["username"], "password": PASSWORD,
                       "device_name": "load_run"})
        if answer is None:
            raise BenchError(f"{self.account['username']} could not log in")
        self.token = answer["token"]
        self.user_id = answer["user"]["id"]

    def get(self, kind: str, path: str) -> dict | None:
        return call(self.conn, self.stats, kind, "GET", path, token=self.token)

    def sync_once(self) -> dict | None:
        batch = self.outbox[:MAX_MUTATIONS]
        answer = call(self.conn, self.stats, "sync_push" if batch else "sync_pull", "POST",
                      "/api/sync", {"protocol": PROTOCOL_VERSION, "client_id": self.client_id,
                                    "cursor": self.cursor, "mutations": batch,
                                    "pull_limit": 500}, self.token)
        if answer is None:
            return None
        refused = {r["mutation_id"]: r for r in answer["refused"]}
        self.refused += [{"mutation": m, "refusal": refused[m["mutation_id"]]}
                         for m in batch if m["mutation_id"] in refused]
        clamped = {c["mutation_id"]: c["hlc"] for c in answer["clamped"] if "mutation_id" in c}
        acked = answer["last_mutation_id"]
        for m in batch:
            if m["mutation_id"] > acked:
                continue
            if m["mutation_id"] not in refused:
                self.acknowledge(m, clamped.get(m["mutation_id"], m["hlc"]))
            self.mutations += 1
            write = self.pending_shared.pop(m["mutation_id"], None)
            if write is not None and m["mutation_id"] not in refused:
                write.hlc = clamped.get(m["mutation_id"], write.hlc)
                self.shared_writes.append(write)
        self.outbox = [m for m in self.outbox if m["mutation_id"] > acked]
        if answer["reset"]:
            self.resets += 1
            self.records.clear()
            self.cursor = 0
            return answer
        for change in answer["changes"]:
            key = (change["entity"], change["id"])
            if "seq" not in change:
                # Protocol 2: compact, and partial where it leaves out this phone's writes.
                held = self.records.get(key)
                record = (wire.apply_partial(held and held["record"], change["record"], key[1])
                          if change.get("partial") else wire.expand(change["record"], key[1]))
                change = {k: v for k, v in change.items() if k != "partial"} | {"record": record}
            self.records[key] = change
            for stamp in change["record"].get("_clocks", {}).values():
                self.clock = hlc.receive(self.clock or hlc.now(self.node), stamp)
        for gone in answer.get("removed", []):
            self.records.pop((gone["entity"], gone["id"]), None)
        self.cursor = answer["cursor"]
        return answer

    def acknowledge(self, m: dict, stamp: str) -> None:
        # As the app does (docs/sync-protocol.md §13): the server does not send it back.
        key = (m["entity"], m["id"])
        held = self.records.get(key)
        fields = {k: v for k, v in m["fields"].items()
                  if k not in wire.NEVER_ELIDED.get(m["entity"], ())}
        kind = {"insert_only": True} if m["entity"] == "referral_events" else {}
        try:
            record, _ = merge.apply_mutation(held and held["record"], dict(
                m, fields=fields, hlc=stamp, node=hlc.node_of(stamp), client_id=self.client_id,
                author=str(self.user_id)), kind)
        except merge.MergeRefused:
            return
        self.records[key] = dict(held or {"entity": key[0], "id": key[1]}, record=record)

    def sync_all(self, rounds: int = 50) -> bool:
        """Sync until the outbox is empty and nothing more waits; False if a request failed."""
        for _ in range(rounds):
            answer = self.sync_once()
            if answer is None:
                return False
            if not self.outbox and not answer["more"]:
                return True
        return False

    # changes
    def edit(self, entity: str, record_id: str, fields: dict, op: str = "upsert",
             shared: bool = False) -> dict:
        self.clock = hlc.now(self.node, last=self.clock)
        mutation = {"mutation_id": self.next_id, "entity": entity, "id": record_id, "op": op,
                    "fields": fields, "hlc": self.clock}
        known = self.records.get((entity, record_id))
        if known is not None and op == "upsert":
            clocks = known["record"].get("_clocks", {})
            mutation["base"] = {name: clocks.get(name) for name in fields}
        if shared:
            (name, value), = fields.items()
            self.pending_shared[self.next_id] = Write(
                entity, record_id, name, value, self.clock, (mutation.get("base") or {}).get(name))
        elif record_id in self.created.get(entity, ()):
            for name, value in fields.items():
                self.own_values[(entity, record_id, name)] = value
        self.next_id += 1
        self.outbox.append(mutation)
        return mutation

    def new(self, entity: str, fields: dict) -> str:
        record_id = str(uuid.uuid4())
        self.created[entity].add(record_id)
        self.edit(entity, record_id, fields, op="insert" if entity == "referral_events"
                  else "upsert")
        return record_id

    def close(self) -> None:
        self.conn.close()


# What each role does ------------------------------------------------------------------------

def new_visit(phone: LoadPhone, desa: str) -> str:
    rng = phone.rng
    record = sb.make_records(1, desa, rng)[0][2]
    return phone.new("visits", record)


def new_person_and_referral(phone: LoadPhone, desa: str) -> None:
    """A person and their referral; a community group's person consents first."""
    records = sb.make_records(3, desa, phone.rng)
    _, _, person = records[0]
    _, _, referral = records[1]
    community = phone.account["role"] == "community"
    if community:
        person = person | {"lawful_basis": "persetujuan"}
    person_id = phone.new("persons", person)
    if community:
        phone.new("consents", CONSENT | {"person_id": person_id,
                                         "given_at": dt.datetime.now(dt.UTC).isoformat()})
    phone.new("referrals", referral | {"person_id": person_id})


def village_round(phone: LoadPhone, hot_visits: list[str]) -> None:
    rng, desa = phone.rng, phone.account["desa"]
    new_visit(phone, desa)
    if rng.random() < 0.35:
        new_person_and_referral(phone, desa)
    own = sorted(phone.created["visits"] - set(hot_visits))
    if own and rng.random() < 0.5:
        phone.edit("visits", rng.choice(own), {"notes": f"Koreksi {uuid.uuid4().hex[:10]}"})
    persons = sorted(phone.created["persons"])
    if persons and rng.random() < 0.3:
        phone.edit("persons", rng.choice(persons),
                   {"address": f"Blok {uuid.uuid4().hex[:6]} RT 01/RW 02"})
    if phone.account["role"] == "officer" and hot_visits and rng.random() < 0.5:
        visit = rng.choice(hot_visits)
        if ("visits", visit) in phone.records:
            phone.edit("visits", visit, {"notes": f"Catatan bersama {uuid.uuid4().hex[:10]}"},
                       shared=True)


def status_event(phone: LoadPhone, referral: dict, status: str, **extra) -> None:
    phone.new("referral_events", {"referral_id": referral["id"], "kind": "status",
                                  "status": status,
                                  "seen_status": referral["derived"]["status"]} | extra)


def desk_round(phone: LoadPhone, hot_referrals: list[str], organisations: list[int]) -> None:
    """The desk: receive what is new, schedule or forward what was received, and correct
    the outcome of the shared referrals."""
    rng = phone.rng
    phone.get("referrals_list", "/api/referrals?sort=inbox&per_page=20")
    referrals = [c for (e, _), c in phone.records.items() if e == "referrals" and "derived" in c]
    rng.shuffle(referrals)
    for referral in referrals[:3]:
        status = referral["derived"]["status"]
        if status == "terkirim":
            status_event(phone, referral, "diterima")
        elif status == "diterima" and rng.random() < 0.5:
            status_event(phone, referral, "dirujuk_lanjut",
                         organisation_id=rng.choice(organisations))
        elif status == "diterima":
            when = dt.datetime.now(dt.UTC) + dt.timedelta(days=rng.randrange(1, 10))
            status_event(phone, referral, "dijadwalkan", appointment_at=when.isoformat(),
                         place="Kantor LTSA Cirebon")
    if hot_referrals and rng.random() < 0.6:
        referral = rng.choice(hot_referrals)
        if ("referrals", referral) in phone.records:
            phone.edit("referrals", referral, {"outcome": f"Hasil {uuid.uuid4().hex[:10]}"},
                       shared=True)


def partner_round(phone: LoadPhone) -> None:
    """A partner takes up a referral forwarded to its organisation, or notes progress."""
    rng = phone.rng
    phone.get("referrals_list", "/api/referrals?sort=inbox&per_page=20")
    referrals = [c for (e, _), c in phone.records.items() if e == "referrals" and "derived" in c]
    if not referrals:
        return
    referral = rng.choice(referrals)
    if referral["derived"]["status"] == "dirujuk_lanjut":
        status_event(phone, referral, "dilayani")
    else:
        phone.new("referral_events", {"referral_id": referral["id"], "kind": "note",
                                      "note": f"Tindak lanjut {uuid.uuid4().hex[:8]}"})


# The run ----------------------------------------------------------------------------------

def sql_rows(url: str, query: str, *params) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as conn:
        return conn.execute(query, params).fetchall()


def subscribe_all(url: str, phones: list[LoadPhone], receiver: Receiver) -> None:
    """A push subscription per phone's device at the local receiver. Written straight into
    the database: the API takes only https endpoints outside tests, the receiver is http."""
    import psycopg

    devices = dict(sql_rows(url, "SELECT user_id, id FROM device_tokens"))
    with psycopg.connect(url) as conn:
        for phone in phones:
            sub = receiver.browser(phone.account["username"]).subscription()
            conn.execute(
                "INSERT INTO push_subscriptions (device_token_id, user_id, endpoint, p256dh, "
                "auth, created_at) VALUES (%s, %s, %s, %s, %s, now())",
                (devices[phone.user_id], phone.user_id, sub["endpoint"],
                 sub["keys"]["p256dh"], sub["keys"]["auth"]))


def set_up_shared(phones: list[LoadPhone]) -> tuple[list[str], dict[str, list[str]]]:
    """Before the clock starts: per desa, the first officer records two visits all its
    officers will correct, and a referral the desk will correct; every phone pulls them."""
    hot_visits: dict[str, list[str]] = {}
    hot_referrals: list[str] = []
    for desa in DESAS:
        first = next((p for p in phones if p.account["role"] == "officer"
                      and p.account["desa"] == desa), None)
        if first is None:
            continue
        hot_visits[desa] = [new_visit(first, desa) for _ in range(2)]
        for m in first.outbox:
            if m["id"] in hot_visits[desa]:
                # The creation is the first write of the shared field.
                first.pending_shared[m["mutation_id"]] = Write(
                    "visits", m["id"], "notes", m["fields"]["notes"], m["hlc"], None)
        before = set(first.created["referrals"])
        new_person_and_referral(first, desa)
        hot_referrals += sorted(first.created["referrals"] - before)
        if not first.sync_all():
            raise BenchError("setting up the shared records failed")
        shared = set(hot_visits[desa]) | set(hot_referrals)
        first.own_values = {k: v for k, v in first.own_values.items() if k[1] not in shared}
    for phone in phones:
        if not phone.sync_all():
            raise BenchError("the first pull failed")
    return hot_referrals, hot_visits


def run_phone(phone: LoadPhone, deadline: float, hot_referrals: list[str],
              hot_visits: dict[str, list[str]], organisations: list[int],
              errors: list[str]) -> None:
    role = phone.account["role"]
    rng = phone.rng
    try:
        while time.monotonic() < deadline:
            if role in ("officer", "community"):
                village_round(phone, hot_visits.get(phone.account["desa"], []))
            elif role == "ltsa":
                desk_round(phone, hot_referrals, organisations)
            else:
                partner_round(phone)
            phone.sync_all()
            if rng.random() < 0.3:
                phone.get("notifications", "/api/notifications")
            time.sleep(rng.uniform(2, 8))
        if not phone.sync_all(rounds=200):
            errors.append(f"{phone.account['username']}: the final sync did not finish")
    except Exception as e:  # every failure is counted and printed
        errors.append(f"{phone.account['username']}: {type(e).__name__}: {e}")


def check(url: str, phones: list[LoadPhone], setup_writes: list[Write]) -> tuple[list[str],
                                                                                   str]:
    """What the server holds against what the phones logged: the problems found, and what
    was compared."""
    problems = []
    acked = dict(sql_rows(url, "SELECT client_id, last_mutation_id FROM sync_clients"))
    for phone in phones:
        name = phone.account["username"]
        if phone.outbox:
            problems.append(f"{name}: {len(phone.outbox)} mutations never acknowledged")
        if acked.get(phone.client_id, 0) != phone.next_id - 1:
            problems.append(f"{name}: server acknowledged {acked.get(phone.client_id)}, "
                            f"phone made {phone.next_id - 1}")
    for entity, table in TABLES.items():
        extra = " AND NOT (kind = 'status' AND status = 'terkirim')" \
            if entity == "referral_events" else ""
        held = defaultdict(set)
        for record_id, user_id in sql_rows(
                url, f"SELECT id, created_by_id FROM {table} WHERE true{extra}"):
            held[user_id].add(record_id)
        for phone in phones:
            made = phone.created[entity]
            if held[phone.user_id] != made:
                problems.append(
                    f"{phone.account['username']} {entity}: {len(made - held[phone.user_id])} "
                    f"lost, {len(held[phone.user_id] - made)} not the phone's")
    columns = {"visits": "notes", "persons": "address", "referrals": "outcome"}
    stored = {}
    for entity, column in columns.items():
        for record_id, value in sql_rows(url, f"SELECT id, {column} FROM {TABLES[entity]}"):
            stored[(entity, record_id, column)] = plain(TABLES[entity], column, value)
    for phone in phones:
        for key, value in phone.own_values.items():
            if columns.get(key[0]) == key[2] and stored.get(key) != value:
                problems.append(f"{phone.account['username']}: {key} holds {stored.get(key)!r}, "
                                f"its last write was {value!r}")
    shared = [w for p in phones for w in p.shared_writes] + setup_writes
    problems += check_shared(url, shared, stored)
    own = sum(1 for p in phones for k in p.own_values if columns.get(k[0]) == k[2])
    made = sum(len(ids) for p in phones for ids in p.created.values())
    fields = len({(w.entity, w.record_id, w.field) for w in shared})
    return problems, (f"checked: {made} records made by the phones, {own} own corrections, "
                      f"{len(shared)} writes of {fields} shared fields")


def plain(table: str, column: str, value):
    """A value as read by SQL, decrypted when the column is stored encrypted (notes,
    outcomes: server/crypto.py), with the keys the server uses (the instance folder's)."""
    from server import crypto

    if not isinstance(value, str) or crypto.key_id_of(value) is None:
        return value
    _keys()
    return crypto.decrypt_text(value, f"{table}.{column}")


@functools.cache
def _keys() -> None:
    # Building the app reads the keys (DATA_KEYS, or the instance folder's) once.
    from server import create_app

    create_app()


def check_shared(url: str, writes: list[Write], stored: dict) -> list[str]:
    """sync/merge.py's rule for the shared fields: the stored value is the highest write;
    every other value is in the conflict log or was seen by a higher write."""
    problems = []
    logged = {(e, i, f, h) for e, i, f, h in sql_rows(
        url, "SELECT entity, record_id, field, losing_hlc FROM conflicts")}
    by_field = defaultdict(list)
    for w in writes:
        by_field[(w.entity, w.record_id, w.field)].append(w)
    for (entity, record_id, name), group in by_field.items():
        group.sort(key=lambda w: write_order(w.hlc, w.base))
        if stored.get((entity, record_id, name)) != group[-1].value:
            problems.append(f"{entity} {record_id} {name}: stored "
                            f"{stored.get((entity, record_id, name))!r}, last write "
                            f"{group[-1].value!r}")
        for k, w in enumerate(group[:-1]):
            later = group[k + 1:]
            seen = any(hlc.node_of(x.hlc) == hlc.node_of(w.hlc) or x.base == w.hlc
                       for x in later)
            if not seen and (entity, record_id, name, w.hlc) not in logged:
                problems.append(f"{entity} {record_id} {name}: the value of {w.hlc} lost "
                                "without a conflict entry")
    return problems


def wait_for_push(url: str, seconds: float = 120) -> dict[str, int]:
    deadline = time.monotonic() + seconds
    while True:
        counts = dict(sql_rows(url, "SELECT status, count(*) FROM push_outbox GROUP BY status"))
        if not counts.get("pending") or time.monotonic() > deadline:
            return counts
        time.sleep(1)


def figures(stats: Stats, phones: list[LoadPhone], wall: float, url: str,
            receiver: Receiver, push: dict[str, int]) -> dict:
    conflicts = sql_rows(url, "SELECT count(*) FROM conflicts")[0][0]
    rows = {e: sql_rows(url, f"SELECT count(*) FROM {t}")[0][0] for e, t in TABLES.items()}
    notifications = sql_rows(url, "SELECT count(*) FROM notifications")[0][0]
    return {
        "kinds": {kind: (len(v), sb.percentile(v, 0.5) * 1000, sb.percentile(v, 0.95) * 1000,
                         sb.percentile(v, 0.99) * 1000, max(v) * 1000)
                  for kind, v in sorted(stats.latencies.items())},
        "requests": sum(stats.statuses.values()), "statuses": dict(stats.statuses),
        "mutations": sum(p.mutations for p in phones), "wall": wall,
        "refused": sum(len(p.refused) for p in phones),
        "resets": sum(p.resets for p in phones), "conflicts": conflicts, "rows": rows,
        "notifications": notifications, "push": push,
        "delivered": len(receiver.delivered()), "receiver_errors": receiver.errors,
        "roles": Counter(p.account["role"] for p in phones),
    }


def print_figures(f: dict, minutes: float) -> None:
    roles = ", ".join(f"{n} {r}" for r, n in sorted(f["roles"].items()))
    print(f"\n{sum(f['roles'].values())} phones ({roles}) for {minutes:g} minutes "
          f"({f['wall']:.0f} s with the final syncs); gunicorn -w 4, PostgreSQL, push worker; "
          f"{os.cpu_count()} cores\n")
    head = f"{'request':<16} | {'count':>7} | {'p50 ms':>7} | {'p95 ms':>7} | {'p99 ms':>7} | " \
           f"{'max ms':>7}"
    print(head)
    print("-" * len(head))
    for kind, (n, p50, p95, p99, top) in f["kinds"].items():
        print(f"{kind:<16} | {n:>7} | {p50:>7.0f} | {p95:>7.0f} | {p99:>7.0f} | {top:>7.0f}")
    print(f"\nrequests {f['requests']} ({f['requests'] / f['wall']:.1f}/s), statuses "
          f"{f['statuses']}; mutations applied {f['mutations']} "
          f"({f['mutations'] / f['wall']:.1f}/s), refused {f['refused']}, resets {f['resets']}")
    print("records on the server: " + ", ".join(f"{e} {n}" for e, n in f["rows"].items()))
    print(f"conflicts logged {f['conflicts']}; notifications {f['notifications']}; push "
          f"messages sent {f['push'].get('sent', 0)} (received and decrypted "
          f"{f['delivered']}), pending {f['push'].get('pending', 0)}, failed "
          f"{f['push'].get('failed', 0)}")
    print(f"gunicorn CPU {f['server_cpu']:.0f} s in {f['wall']:.0f} s "
          f"({f['server_cpu'] / f['wall']:.2f} cores); host load average "
          f"{f['load'][0]:.1f} at the start, {f['load'][1]:.1f} at the end "
          f"(the phones, PostgreSQL, the push worker and any other work share the cores)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--phones", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="jangkau-load-"))
    name = f"jangkau_load_{os.getpid()}"
    url = f"{sb.PG_BASE}/{name}"
    from server.notify import new_vapid_keys

    private, public = new_vapid_keys()
    os.environ.update(VAPID_PRIVATE_KEY=private, VAPID_PUBLIC_KEY=public,
                      VAPID_SUBJECT="mailto:load@jangkau.test")
    sb.pg_admin(f'CREATE DATABASE "{name}"')
    server = worker = None
    problems: list[str] = []
    try:
        with Receiver() as receiver:
            accounts = plan_accounts(args.phones)
            sb.run([sb.BIN / "flask", "--app", "server", "init"], url, tmp, "flask init")
            sb.run([sb.BIN / "python", "-c", CREATE_ACCOUNTS, json.dumps(accounts), PASSWORD],
                   url, tmp, "creating accounts")
            organisations = [i for (i,) in sql_rows(
                url, "SELECT id FROM organisations WHERE code = ANY(%s)", list(ORGANISATIONS))]
            server = sb.Server(url, 4, tmp)
            stats = Stats()
            phones = [LoadPhone(server.port, a, stats, random.Random(args.seed * 1000 + i))
                      for i, a in enumerate(accounts)]
            for phone in phones:
                phone.login()
            subscribe_all(url, phones, receiver)
            worker_log = open(tmp / "push-worker.log", "w")
            worker = sb.subprocess.Popen(
                [sb.BIN / "flask", "--app", "server", "push-worker", "--interval", "1"],
                cwd=sb.ROOT, env=sb.server_env(url), stdout=worker_log,
                stderr=sb.subprocess.STDOUT, start_new_session=True)
            hot_referrals, hot_visits = set_up_shared(phones)
            setup_writes = [w for p in phones for w in p.shared_writes]
            for p in phones:
                p.shared_writes = []
            errors: list[str] = []
            load_before, cpu_before = os.getloadavg()[0], server.cpu_seconds()
            started = time.perf_counter()
            deadline = time.monotonic() + args.minutes * 60
            threads = [threading.Thread(target=run_phone, args=(
                p, deadline, hot_referrals, hot_visits, organisations, errors))
                for p in phones]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - started
            host = {"server_cpu": server.cpu_seconds() - cpu_before,
                    "load": (load_before, os.getloadavg()[0])}
            push = wait_for_push(url)
            found, compared = check(url, phones, setup_writes)
            problems = errors + stats.errors + found
            problems += [f"push receiver: {e}" for e in receiver.errors]
            if push.get("pending") or push.get("failed"):
                problems.append(f"push messages not sent: {push}")
            f = figures(stats, phones, wall, url, receiver, push) | host
            for phone in phones:
                phone.close()
            print_figures(f, args.minutes)
            print(compared)
    except BenchError as e:
        problems.append(str(e))
    finally:
        if worker is not None:
            worker.send_signal(sb.signal.SIGTERM)
            try:
                worker.wait(15)
            except sb.subprocess.TimeoutExpired:
                worker.kill()
        if server is not None:
            server.stop()
        sb.pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"\nproblems: {len(problems)}")
    for p in problems[:30]:
        print(f"  {p}")
    if problems:
        print(f"logs kept in {tmp}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
