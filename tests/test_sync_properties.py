"""Properties of POST /api/sync on a real database: messy offline work converges, nothing lost.

Hypothesis draws a day of work: three phones (two officers and a community member of desa A,
or three officers) edit shared visits, persons and a referral offline with skewed clocks
(inside the 5-minute bound, and some far beyond it, which the server clamps), while an
officer at the web and the LTSA desk change the same records through the REST API. Phones
sync in any order, with small pull pages; a connection is cut after the server committed
(the phone never reads the answer and sends the batch again later); batches are resent and
old mutations sent again. Then every phone syncs until converged, twice around, and:

* every phone holds exactly the server's copy of every record it may read, and its
  conflicts;
* nothing was applied twice: each (client, mutation id) is applied once, the audit counts
  each once, no record was made twice, no conflict logged twice;
* no edit is lost: the invariant of sync/merge.py's docstring holds for every field of
  every record, on the clocks the server stored (after clamping), and every conflict entry
  names a real write.

A world of its own per example: the database is emptied and the accounts made again.
"""

import json
from collections import Counter
from collections import defaultdict
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck
from hypothesis import event
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from server import enums
from server.api.sync import sync_registry
from server.extensions import db
from server.identity import normalise_phone
from server.models import AuditEntry
from server.models import ConflictEntry
from server.models import OutreachVisit
from server.models import Person
from server.models import Referral
from server.models import ReferralEvent
from server.models import SyncClient
from server.models import User
from server.seed import ensure_organisations
from sync import hlc
from sync import merge
from tests.conftest import DESA_A
from tests.conftest import _empty_tables
from tests.sync_helpers import VISIT
from tests.sync_helpers import Phone
from tests.sync_helpers import SkewedPhone
from tests.sync_helpers import disclosed

pytestmark = pytest.mark.usefixtures("fast_passwords")

MINUTE = 60_000
MODELS = {"visits": OutreachVisit, "persons": Person, "referrals": Referral}
# What a phone changes on each kind of record; the desk changes referrals' desk fields.
PHONE_FIELDS = {
    "visits": ("notes", "participants_female", "dusun", "participants_male",
               "participants_children", "topics", "rt"),
    "persons": ("address", "phone", "education", "marital_status", "migration_status"),
    "referrals": ("urgency", "reason", "case_category"),
}
REST_FIELDS = {
    "visits": PHONE_FIELDS["visits"],
    "persons": PHONE_FIELDS["persons"],
    "referrals": ("urgency", "outcome", "case_category"),
}
PERSON = {"name": "Casmini", "sex": "P", "birth_date": "1992-03-01", "phone": "081234567890",
          "desa_code": DESA_A, "address": "Blok Pon RT 01", "migration_status": "cpmi",
          "lawful_basis": "tugas_publik"}
TOPICS = sorted(enums.TOPICS)


def value_for(entity: str, field: str, k: int):
    """The k-th value of a field: text and counts never repeat; codes cycle."""
    text = {"notes": f"catatan {k}", "dusun": f"Dusun {k}", "address": f"Blok {k}",
            "reason": f"alasan {k}", "outcome": f"hasil {k}"}
    if field in text:
        return text[field]
    if field.startswith("participants_"):
        return k
    if field == "topics":
        return [t for i, t in enumerate(TOPICS) if k >> i & 1]
    if field == "rt":
        return f"{k % 999 + 1:03d}" if k % 3 else str(k % 99 + 1)  # "7" is stored as "007"
    if field == "phone":
        return f"08{12_000_000_00 + k}" if k % 2 else f"+62 8{12_000_000_00 + k}"
    codes = {"education": enums.EDUCATION_LEVELS, "marital_status": enums.MARITAL_STATUSES,
             "migration_status": enums.MIGRATION_STATUSES, "urgency": enums.URGENCIES,
             "case_category": enums.CASE_CATEGORIES}[field]
    return sorted(codes)[k % len(codes)]


def stored_form(field: str, value):
    """The value as the server stores it (what the merge compares)."""
    if field == "phone" and value is not None:
        return normalise_phone(value)
    if field == "rt" and value:
        return value.zfill(3)
    return value


def hot(pick: int, count: int) -> int:
    """A field index: mostly the first or second field, so that edits meet."""
    return 0 if pick < 50 else 1 if pick < 70 else pick % count


@dataclass(frozen=True)
class Write:
    """One applied write of one field, with the clock the server stored for it."""

    value: object
    hlc: str
    base: str | None
    origin: str  # "client_id:mutation_id" or "rest:n"


class SimPhone(SkewedPhone):
    """A phone whose clock runs `skew_ms` off the real time; it remembers every mutation it
    made and every batch it sent, and moves its clock past what it pulls (as the app does)."""

    def __init__(self, world, account, skew_ms: int, told: bool = False):
        super().__init__(world.client, account, skew_ms)
        self.world = world
        # Sends its clock with each request (device_time_ms), so the server can undo a
        # wrong date; otherwise its clock is only bounded.
        self.told = told
        self.last_body: dict | None = None

    def post(self, body: dict) -> dict:
        """Send a body; the world notes what the server did, whether or not the phone
        ever reads the answer."""
        self.last_body = json.loads(json.dumps(body))
        response = self.client.post("/api/sync", json=body, headers=self.account.headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:2000]
        answer = response.get_json()
        self.world.note_answer(self, body, answer)
        return answer

    def absorb(self, answer: dict) -> None:
        """What the app does with an answer it read (as Phone.sync)."""
        self.acknowledge_all(answer, {r["mutation_id"] for r in answer["refused"]})
        assert answer["reset"] is None, answer["reset"]
        for change in answer["changes"]:
            if change["entity"] == "conflicts":
                self.conflicts[change["id"]] = change["record"]
                continue
            change = self.expand(change)
            self.records[(change["entity"], change["id"])] = change
            clocks = change["record"]["_clocks"].values()
            if clocks:
                self.clock = hlc.receive(self.clock or self.tick(), max(clocks),
                                         hlc.wall_clock_ms() + self.skew_ms)
        self.cursor = answer["cursor"]

    def body(self, pull_limit=1000):
        out = super().body(pull_limit)
        if self.told:
            out["device_time_ms"] = hlc.wall_clock_ms() + self.skew_ms
        return out

    def sync(self, pull_limit=1000, expect=200, gzip_body=False):
        answer = self.post(self.body(pull_limit))
        self.absorb(answer)
        return answer

    def known(self) -> list[tuple[str, str]]:
        """The records this phone can change: the ones it holds or made."""
        return sorted(key for key in set(self.records) | self.made if key[0] in PHONE_FIELDS)


class World:
    """The server, the phones and the web users of one example, and every write applied."""

    def __init__(self, client, make_account, scenario: dict):
        self.client = client
        self.k = 0
        self.writes: dict[tuple[str, str, str], list[Write]] = defaultdict(list)
        self.applied: Counter = Counter()
        self.stored: dict[str, str] = {}  # the HLC the server stored for each mutation
        self.on_server: set[tuple[str, str]] = set()
        self.created: dict[str, set[str]] = defaultdict(set)
        self.rest_edits = 0
        self._reset()
        mixed = scenario["mode"] == "mixed"
        roles = ["officer", "officer", "community" if mixed else "officer"]
        accounts = [make_account(role, desa_code=DESA_A) for role in roles]
        self.group_id = (db.session.get(User, accounts[2].user_id).community_group_id
                         if mixed else None)
        self.phones = [SimPhone(self, a, skew, told) for a, skew, told in
                       zip(accounts, scenario["skews"], scenario["told"], strict=True)]
        self.web = make_account("officer", desa_code=DESA_A)
        self.ltsa = make_account("ltsa")

    @staticmethod
    def _reset() -> None:
        """Empty the database between examples, as the app fixture does between tests."""
        db.session.rollback()
        _empty_tables()
        ensure_organisations(db.session)
        db.session.commit()

    def next_k(self) -> int:
        self.k += 1
        return self.k

    # What the server did -------------------------------------------------------------

    def note_answer(self, phone: SimPhone, body: dict, answer: dict) -> None:
        assert answer["refused"] == [], answer["refused"]
        clamped = {c["mutation_id"]: c["hlc"] for c in answer["clamped"]}
        now = answer["clock"]["server_time_ms"]
        for mid in answer["applied"]:
            key = f"{phone.client_id}:{mid}"
            self.applied[key] += 1
            mutation = phone.sent[mid]
            stamp = clamped.get(mid, mutation["hlc"])
            self.stored[key] = stamp
            # As the server keeps it: in server time, and a clock beyond the skew bound is
            # no stored value's.
            moved = hlc.correction_ms(now, mutation.get("offset_ms"), body.get("device_time_ms"))
            base = hlc.bound_base(mutation.get("base"), phone.node, moved, now) or {}
            for name, value in mutation["fields"].items():
                self.writes[(mutation["entity"], mutation["id"], name)].append(
                    Write(stored_form(name, value), stamp, base.get(name), key))
            self.on_server.add((mutation["entity"], mutation["id"]))
            self.created[mutation["entity"]].add(mutation["id"])
        # A retried batch gets its clamps again, the same as when they were applied.
        assert set(clamped) <= set(answer["applied"]) | set(answer["skipped"])
        for mid in set(clamped) & set(answer["skipped"]):
            assert self.stored[f"{phone.client_id}:{mid}"] == clamped[mid]

    # Actions -------------------------------------------------------------------------

    def setup(self) -> None:
        """Officer 1 records two visits (for the group, if there is one), a person and a
        referral; the third phone registers another person. Everyone pulls."""
        first, _, third = self.phones
        self.visits = [first.new("visits", dict(VISIT, community_group_id=self.group_id,
                                                notes=f"awal {i}")) for i in range(2)]
        person = first.new("persons", PERSON)
        self.referral = first.new("referrals", {"person_id": person,
                                                "services": ["bantuan_hukum"],
                                                "reason": "Ditawari calo"})
        own_person = third.new("persons", dict(PERSON, name="Rina", lawful_basis="persetujuan"))
        for phone in (first, third):
            phone.sync()
        for phone in self.phones:
            phone.sync_all()
        self.shared = {("visits", self.visits[0]), ("persons", own_person),
                       ("referrals", self.referral)}
        assert {person, own_person} <= {rid for (e, rid) in self.on_server if e == "persons"}

    def run(self, action: tuple) -> None:
        kind, which, pick, field_pick, flag = action
        if kind == "rest":
            self.rest_edit(pick, field_pick)
            return
        phone = self.phones[which]
        if kind == "edit":
            entity, record_id = self.pick(phone.known(), pick)
            names = PHONE_FIELDS[entity]
            picked = {names[hot(field_pick, len(names))]}
            if flag:
                picked.add(names[(field_pick + 1) % len(names)])
            phone.edit(entity, record_id, {n: value_for(entity, n, self.next_k())
                                           for n in sorted(picked)})
        elif kind == "new":
            group = self.group_id if phone.account.role == "community" or flag else None
            phone.new("visits", dict(VISIT, community_group_id=group,
                                     notes=f"baru {self.next_k()}"))
        elif kind == "sync":
            phone.sync()
        elif kind == "page":
            phone.sync(pull_limit=2)
        elif kind == "cut":
            # The server commits, the answer never reaches the phone: it keeps its outbox
            # and its cursor, and sends them again later.
            phone.post(phone.body())
        elif kind == "retry":
            # The same batch again, as a phone does after a timeout; this time it reads.
            if phone.last_body is not None:
                phone.absorb(phone.post(phone.last_body))
        elif kind == "dup":
            # Mutations already acknowledged come again with the new ones.
            done = [m for mid, m in phone.sent.items()
                    if m not in phone.outbox and mid % 3 != pick % 3]
            batch = sorted(done + phone.outbox, key=lambda m: m["mutation_id"])
            phone.absorb(phone.post(dict(phone.body(), mutations=batch)))
        else:
            raise AssertionError(kind)

    def pick(self, known: list[tuple[str, str]], pick: int) -> tuple[str, str]:
        """Mostly one of the records everyone shares, so that edits meet."""
        shared = [key for key in known if key in self.shared]
        choices = shared if shared and pick < 75 else known
        return choices[pick % len(choices)]

    def rest_edit(self, pick: int, field_pick: int) -> None:
        """The web officer corrects a visit or person, or the LTSA desk a referral."""
        entity, record_id = self.pick(sorted(self.on_server), pick)
        names = REST_FIELDS[entity]
        name = names[hot(field_pick, len(names))]
        value = value_for(entity, name, self.next_k())
        account = self.ltsa if entity == "referrals" else self.web
        response = self.client.patch(f"/api/{entity}/{record_id}", json={name: value},
                                     headers=account.headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:2000]
        db.session.expire_all()
        row = db.session.get(MODELS[entity], record_id)
        self.rest_edits += 1
        self.writes[(entity, record_id, name)].append(Write(
            stored_form(name, value), row.field_clocks[name],
            (row.sync_meta.get("_bases") or {}).get(name), f"rest:{self.rest_edits}"))
        assert hlc.node_of(row.field_clocks[name]) == "server"

    def converge(self) -> None:
        for _ in range(2):
            for phone in self.phones:
                phone.sync_all(pull_limit=3)

    # Checks --------------------------------------------------------------------------

    def check(self) -> None:
        db.session.expire_all()
        registry, conflict_spec = sync_registry()
        self.check_replicas(registry, conflict_spec)
        self.check_once()
        conflicts = db.session.execute(sa.select(ConflictEntry)).scalars().all()
        event(f"conflicts logged: {min(len(conflicts), 3)}{'+' if len(conflicts) > 2 else ''}")
        self.check_conflicts_are_real(conflicts)
        self.check_nothing_lost(registry, conflicts)

    def check_replicas(self, registry, conflict_spec) -> None:
        for phone in self.phones:
            assert phone.outbox == [], phone.account.username
            user = db.session.get(User, phone.account.user_id)
            expected = {}
            for name, spec in registry.items():
                rows = db.session.execute(
                    sa.select(spec.model).where(spec.readable(user))).scalars()
                for row in rows:
                    expected[(name, row.id)] = row
            assert set(phone.records) == set(expected), phone.account.username
            for (name, record_id), row in expected.items():
                copy = phone.record(name, record_id)
                server = merge.plain_fields(disclosed(registry[name], user, row)["record"])
                assert merge.plain_fields(copy) == server, (phone.account.username, name)
                assert copy["_clocks"] == row.field_clocks
            readable = set(db.session.execute(
                sa.select(ConflictEntry.id).where(conflict_spec.readable(user))).scalars())
            assert set(phone.conflicts) == readable, phone.account.username

    def check_once(self) -> None:
        made = {f"{p.client_id}:{mid}" for p in self.phones for mid in p.sent}
        assert set(self.applied) == made, "every mutation applied"
        assert [k for k, n in self.applied.items() if n != 1] == [], "applied twice"
        for phone in self.phones:
            client = db.session.get(SyncClient, phone.client_id)
            assert client.last_mutation_id == max(phone.sent, default=0)
        audited = [e.detail for e in db.session.execute(
            sa.select(AuditEntry).where(AuditEntry.action == "sync")).scalars()]
        assert sum(d["applied"] for d in audited) == len(made)
        updates = db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "update")).scalar_one()
        assert updates == self.rest_edits
        for entity, model in MODELS.items():
            ids = db.session.execute(sa.select(model.id)).scalars().all()
            assert sorted(ids) == sorted(self.created[entity]), entity
        # The referral's first event, made by the server once however often it was pushed.
        assert db.session.execute(sa.select(sa.func.count()).select_from(ReferralEvent)
                                  ).scalar_one() == 1

    def check_conflicts_are_real(self, conflicts) -> None:
        keys = [(c.entity, c.record_id, c.field, c.losing_hlc, c.winning_hlc, c.reason)
                for c in conflicts]
        assert len(keys) == len(set(keys)), "a conflict logged twice"
        for c in conflicts:
            writes = self.writes[(c.entity, c.record_id, c.field)]
            loser = [w for w in writes if w.hlc == c.losing_hlc]
            winner = [w for w in writes if w.hlc == c.winning_hlc]
            assert loser and merge.same_value(loser[0].value, c.losing_value), c.losing_value
            assert winner and merge.same_value(winner[0].value, c.winning_value), c.winning_value
            assert not merge.same_value(c.losing_value, c.winning_value)
            # The winner is later in the merge's order: by its clock, or just after its base.
            assert (merge.write_order(winner[0].hlc, winner[0].base)
                    >= merge.write_order(loser[0].hlc, loser[0].base))

    def check_nothing_lost(self, registry, conflicts) -> None:
        finals = {}
        for entity, record_id, name in self.writes:
            row = db.session.get(MODELS[entity], record_id)
            finals[(entity, record_id, name)] = registry[entity].dump(row)[name]
        logged = [(c.entity, c.record_id, c.field, c.losing_hlc, c.losing_value)
                  for c in conflicts]
        lost = lost_edits(self.writes, finals, logged)
        assert lost == [], f"edits lost without a trace: {lost}"


def lost_edits(writes: dict, finals: dict, logged: list[tuple]) -> list:
    """The invariant of sync/merge.py: for each value v a field was given that is not its
    final value, take the highest write of v; either the log holds an entry with its
    losing_hlc (and v as losing_value), or a higher write of that field saw it (same node,
    or base equal to its HLC); higher and highest by merge.write_order. Returns the writes
    for which none holds."""
    log = defaultdict(set)
    for entity, record_id, name, losing_hlc, losing_value in logged:
        log[(entity, record_id, name)].add((losing_hlc, merge.canonical(losing_value)))
    lost = []
    for key, field_writes in writes.items():
        final = merge.canonical(finals[key])
        by_value = defaultdict(list)
        for w in field_writes:
            by_value[merge.canonical(w.value)].append(w)
        assert final in by_value, f"{key}: final value {final} was never written"
        for value, same in by_value.items():
            if value == final:
                continue
            top = max(same, key=lambda w: merge.write_order(w.hlc, w.base))
            if (top.hlc, value) in log[key]:
                continue
            if any(merge.write_order(w.hlc, w.base) > merge.write_order(top.hlc, top.base)
                   and (hlc.node_of(w.hlc) == hlc.node_of(top.hlc) or w.base == top.hlc)
                   for w in field_writes):
                continue
            lost.append((key, top, finals[key]))
    return lost


# Each action: (kind, phone, pick, pick, flag); edits and desk edits come most often.
KINDS = ["edit"] * 6 + ["rest"] * 2 + ["sync"] * 2 + ["page", "cut", "retry", "dup", "new"]
PICK = st.integers(0, 99)
ACTION = st.tuples(st.sampled_from(KINDS), st.integers(0, 2), PICK, PICK, st.booleans())
# Inside the allowed skew either way, or a date far off: ahead is clamped, behind loses.
SKEW = st.one_of(st.integers(-5 * MINUTE, 5 * MINUTE), st.integers(-5 * MINUTE, 5 * MINUTE),
                 st.sampled_from([6 * MINUTE, 60 * MINUTE, 86_400_000, -86_400_000]))
SCENARIO = st.fixed_dictionaries({
    "mode": st.sampled_from(["mixed", "officers"]),
    "skews": st.lists(SKEW, min_size=3, max_size=3),
    "told": st.lists(st.booleans(), min_size=3, max_size=3),
    "actions": st.lists(ACTION, min_size=8, max_size=30),
})


@settings(max_examples=18, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scenario=SCENARIO)
def test_offline_work_converges_and_no_edit_is_lost(client, make_account, scenario):
    world = World(client, make_account, scenario)
    world.setup()
    for action in scenario["actions"]:
        world.run(action)
    world.converge()
    world.check()


def test_a_phones_later_edit_is_not_lost_when_its_clock_passes_the_skew_bound(
        client, make_account):
    """A phone one hour ahead: an edit that waited 56 minutes offline arrives 4 minutes
    ahead of the server (kept as sent); the user's correction, made and sent at once,
    arrives 60 minutes ahead (clamped to the server's time). The correction is the phone's
    latest word: it must be the value, or at least be in the conflict log."""
    phone = Phone(client, make_account("officer", desa_code=DESA_A), node="hp-jam")
    visit_id = phone.new("visits", VISIT)
    phone.sync()
    phone.wall_ms = hlc.wall_clock_ms() + 4 * MINUTE
    phone.edit("visits", visit_id, {"notes": "ditulis di desa"})
    assert phone.sync()["clamped"] == []
    phone.wall_ms = hlc.wall_clock_ms() + 60 * MINUTE
    phone.edit("visits", visit_id, {"notes": "koreksi"})
    answer = phone.sync()
    assert answer["applied"] == [3] and [c["mutation_id"] for c in answer["clamped"]] == [3]
    db.session.expire_all()
    stored = db.session.get(OutreachVisit, visit_id)
    logged = db.session.execute(sa.select(ConflictEntry.losing_value)).scalars().all()
    assert stored.notes == "koreksi" or "koreksi" in logged, (
        f"the correction vanished: notes={stored.notes!r}, conflicts={logged!r}, "
        f"clocks={stored.field_clocks['notes']!r}")


def test_the_lost_edit_check_can_fail():
    """The invariant check itself: a value neither final, nor logged, nor seen is lost."""
    a = hlc.encode(1_790_000_000_000, 0, "hp-a")
    b = hlc.encode(1_790_000_001_000, 0, "hp-b")
    key = ("visits", "v", "notes")
    writes = {key: [Write("x", a, None, "1"), Write("y", b, None, "2")]}
    assert [w.value for _, w, _ in lost_edits(writes, {key: "y"}, [])] == ["x"]
    assert lost_edits(writes, {key: "y"}, [(*key, a, "x")]) == []
    assert lost_edits(writes, {key: "y"}, [(*key, a, "other")]) != []
    writes[key][1] = Write("y", b, a, "2")  # b's author saw a
    assert lost_edits(writes, {key: "y"}, []) == []
    own = hlc.encode(1_790_000_002_000, 0, "hp-a")  # a's own later edit
    assert lost_edits({key: [Write("x", a, None, "1"), Write("z", own, None, "3")]},
                      {key: "z"}, []) == []
