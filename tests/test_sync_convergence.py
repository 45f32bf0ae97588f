"""Convergence: three offline phones and the server, messy delivery, one final state.

A hypothesis-driven simulation: phones with skewed clocks edit, delete and insert while
offline; pushes reach the server partly, out of order, twice, or lose their
acknowledgement and are retried; pulls bring the server's changes back in any order.  At
the end every replica receives every mutation again (shuffled, with duplicates, in
batches).  Then:

* every replica holds the same records;
* no replica applied a mutation twice, and each applied every mutation that is not refused;
* no edit is lost: every value a field was given is its final value, or is in that
  replica's conflict log as a losing value, or was knowingly replaced (by its own node, or
  by a write whose base was exactly that write);
* a deleted record's fields that the winning delete had not seen are in the log;
* every conflict entry is sound (real writes, a real winner, different values).
"""

import json
import math
from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from sync import hlc
from sync import merge

T = 1_767_225_600_000
KINDS = {
    "visits": {"fields": {"a": "lww", "b": "lww", "c": "lww"}},
    "persons": {"fields": {"a": "lww", "archived": "lww"}, "archive_only": True},
    "notes": {"fields": {"ref": "lww", "text": "lww"}, "insert_only": True},
}
IDS = {"visits": ("v1", "v2"), "persons": ("p1",), "notes": ("n1", "n2")}
# 1 and True are different values (as in JavaScript); a list checks deep copies.
VALUES = ("x", "y", "z", 1, True, None, ["l"])
PHONES = ("hp-1", "hp-2", "hp-3")
SETTINGS = settings(max_examples=200, deadline=None)


class Replica:
    """A phone or the server: a clock, a state, and what it applied and logged."""

    def __init__(self, node: str, skew_ms: int) -> None:
        self.node = node
        self.skew_ms = skew_ms
        self.clock: str | None = None
        self.own: str | None = None  # the last HLC this replica stamped itself
        self.state: dict = {}
        self.applied_ids: set = set()
        self.applied_log: list = []  # every key applied, across all batches
        self.applied_mutations: list = []  # what a pull from the server hands out
        self.conflicts: list = []
        self.next_mutation_id = 1
        self.outbox: list = []

    def deliver(self, mutations: list[dict], wall: int) -> merge.BatchResult:
        result = merge.apply_batch(self.state, mutations, self.applied_ids, KINDS)
        self.state = result.state
        self.applied_ids = result.applied_ids
        self.applied_log.extend(result.applied)
        self.conflicts.extend(result.conflicts)
        by_key = {merge.mutation_key(m): m for m in mutations}
        self.applied_mutations.extend(by_key[k] for k in result.applied)
        if mutations:
            latest = max(m["hlc"] for m in mutations)
            self.clock = hlc.receive(self.clock or hlc.now(self.node, None, wall), latest, wall)
        return result


class World:
    """Global time, the replicas, and every mutation ever made."""

    def __init__(self, skews: list[int]) -> None:
        self.t = T
        self.server = Replica("server", 0)
        self.phones = [Replica(n, s) for n, s in zip(PHONES, skews, strict=True)]
        self.every_mutation: list[dict] = []

    def replicas(self) -> list[Replica]:
        return [self.server, *self.phones]

    def wall(self, r: Replica) -> int:
        return self.t + r.skew_ms

    def make(self, r: Replica, entity: str, rid: str, op: str, fields: dict, with_base: bool):
        # A phone a day behind whose clock follows only its own edits: its edits sort below
        # the values they replace, as when a server corrects or clamps a phone's clock, so
        # the base it names must order them.
        last = r.own if r.skew_ms == BEHIND_UNSYNCED else r.clock
        stamp = hlc.now(r.node, last, self.wall(r))
        r.clock = r.own = stamp
        record = r.state.get(entity, {}).get(rid)
        m = {
            "entity": entity,
            "id": rid,
            "op": op,
            "fields": fields,
            "hlc": stamp,
            "node": r.node,
            "client_id": f"client-{r.node}",
            "mutation_id": r.next_mutation_id,
            "author": f"user-{r.node}",
        }
        if with_base and record is not None:
            names = record["_clocks"] if op == "delete" else fields
            m["base"] = {f: record["_clocks"][f] for f in names if f in record["_clocks"]}
        r.next_mutation_id += 1
        self.every_mutation.append(m)
        r.outbox.append(m)
        r.deliver([m], self.wall(r))

    def push(self, phone: Replica, rnd, acked: bool) -> None:
        batch = [m for m in phone.outbox if rnd.random() < 0.7]
        batch += [rnd.choice(phone.outbox) for _ in range(rnd.randint(0, 2))] if batch else []
        rnd.shuffle(batch)
        result = self.server.deliver(wire(batch), self.wall(self.server))
        phone.clock = hlc.receive(
            phone.clock or hlc.now(phone.node, None, self.wall(phone)),
            self.server.clock or hlc.now("server", None, self.t),
            self.wall(phone),
        )
        if acked:  # the response may be lost: then the phone retries these later
            done = result.applied_ids | {(r["client_id"], r["mutation_id"]) for r in result.refused}
            phone.outbox = [m for m in phone.outbox if key(m) not in done]

    def pull(self, phone: Replica, rnd) -> None:
        page = list(self.server.applied_mutations)
        rnd.shuffle(page)
        phone.deliver(wire(page[: rnd.randint(0, len(page))]), self.wall(phone))


KINDS_OF_ACTION = ("edit", "edit", "edit", "delete", "note", "push", "push", "pull", "tick")
EDITABLE = ("visits", "visits", "persons")

# An action is one integer, read as mixed-radix digits by decode(): one draw per step keeps
# hypothesis fast enough for 200 examples of up to 40 steps, and 0 shrinks to a plain edit.
RADIX = (
    len(KINDS_OF_ACTION),  # what
    4,  # who: 0 is the server, 1..3 the phones
    len(EDITABLE),  # which entity
    2,  # which record
    3,  # which fields: bit 0 the first field, bit 1 the second
    len(VALUES),  # first value
    len(VALUES),  # second value
    2,  # with base / acknowledged
    9,  # tick length in steps of 15 s
)
actions = st.integers(0, math.prod(RADIX) - 1)


def decode(action):
    digits = []
    for radix in RADIX:
        action, digit = divmod(action, radix)
        digits.append(digit)
    what, who, ent, rec, mask, v1, v2, flag, ticks = digits
    mask += 1
    flag = bool(flag)
    kind = KINDS_OF_ACTION[what]
    entity = EDITABLE[ent]
    rid = IDS[entity][rec % len(IDS[entity])]
    if kind == "edit":
        names = {"visits": ("a", "b"), "persons": ("a", "archived")}[entity]
        chosen = [n for bit, n in enumerate(names) if mask & (1 << bit)]
        values = dict(zip(chosen, (VALUES[v1], VALUES[v2]), strict=False))
        return (kind, who, entity, rid, values, flag)
    if kind == "delete":
        return (kind, who, entity, rid, flag)
    if kind == "note":
        return (kind, who, IDS["notes"][rec], {"ref": "r1", "text": ("satu", "dua")[v1 % 2]})
    if kind == "tick":
        return (kind, ticks * 15_000)
    return (kind, max(who, 1), flag)


BEHIND_UNSYNCED = -86_400_000
skews = st.lists(
    st.one_of(st.integers(-600_000, 600_000), st.just(86_400_000), st.just(BEHIND_UNSYNCED)),
    min_size=3, max_size=3,
)


def run_world(skew_list, steps, rnd) -> World:
    world = World(skew_list)
    for step in map(decode, steps):
        kind = step[0]
        if kind == "tick":
            world.t += step[1]
            continue
        r = world.replicas()[step[1]]
        if kind == "edit":
            world.make(r, step[2], step[3], "upsert", step[4], step[5])
        elif kind == "delete":
            world.make(r, step[2], step[3], "delete", {}, step[4])
        elif kind == "note":
            world.make(r, "notes", step[2], "insert", step[3], False)
        elif kind == "push":
            world.push(r, rnd, acked=step[2])
        elif kind == "pull":
            world.pull(r, rnd)
        world.t += rnd.randint(0, 5_000)
    # The end: every replica gets everything again, shuffled, with duplicates, in batches.
    for r in world.replicas():
        todo = list(world.every_mutation)
        todo += [rnd.choice(todo) for _ in range(rnd.randint(0, 3))] if todo else []
        rnd.shuffle(todo)
        while todo:
            size = rnd.randint(1, 5)
            r.deliver(wire(todo[:size]), world.wall(r))
            todo = todo[size:]
    return world


def wire(mutations: list[dict]) -> list[dict]:
    """Copies as they arrive over the network: a duplicate is never the same object."""
    return json.loads(json.dumps(mutations))


def key(m: dict) -> tuple[str, int]:
    return (m["client_id"], m["mutation_id"])


def canon(value) -> str:
    return json.dumps(value, sort_keys=True)


def writes_by_field(mutations):
    """{(entity, id, field): [(value, hlc, node, base)]} for every accepted field write."""
    out = defaultdict(list)
    for m in mutations:
        for name, value in (m.get("fields") or {}).items():
            base = (m.get("base") or {}).get(name)
            out[(m["entity"], m["id"], name)].append((value, m["hlc"], m["node"], base))
    return out


def accepted(mutations):
    refused = []
    ok = []
    for m in mutations:
        try:
            merge.check_mutation(m, KINDS[m["entity"]])
        except merge.MergeRefused:
            refused.append(m)
        else:
            ok.append(m)
    return ok, refused


def check_no_edit_lost(state, conflicts, mutations):
    logged = {
        (c["entity"], c["id"], c["field"], c["losing_hlc"], canon(c["losing_value"]))
        for c in conflicts
    }
    for (entity, rid, name), writes in writes_by_field(mutations).items():
        record = state[entity][rid]
        final = canon(record[name])
        insert_only = KINDS[entity].get("insert_only", False)
        for value in {canon(w[0]) for w in writes} - {final}:
            same = [w for w in writes if canon(w[0]) == value]
            if insert_only:
                # The earliest insert wins; each other value is logged as a duplicate_id loser.
                assert any(k[:3] == (entity, rid, name) and k[4] == value for k in logged), (
                    entity,
                    rid,
                    name,
                    value,
                )
                continue
            top = max(same, key=lambda w: merge.write_order(w[1], w[3]))
            if (entity, rid, name, top[1], value) in logged:
                continue
            # Not logged: only allowed if a later write of the field knowingly replaced it.
            later = [w for w in writes
                     if merge.write_order(w[1], w[3]) > merge.write_order(top[1], top[3])]
            assert any(w[2] == top[2] or w[3] == top[1] for w in later), (
                f"value {value} of {entity}/{rid}.{name} lost: writes {writes}"
            )


def check_tombstones(state, conflicts):
    logged = {(c["entity"], c["id"], c["field"], c["losing_hlc"], c["reason"]) for c in conflicts}
    for entity, records in state.items():
        for rid, record in records.items():
            deleted = record["_deleted"]
            if deleted is None:
                continue
            base = record["_deleted_base"]
            for name, stamp in record["_clocks"].items():
                if base is None:
                    seen = stamp <= deleted
                else:
                    own_earlier = hlc.node_of(stamp) == hlc.node_of(deleted) and stamp < deleted
                    seen = own_earlier or stamp <= base.get(name, "")
                if not seen:
                    reason = "edit_after_delete" if stamp > deleted else "deleted"
                    assert (entity, rid, name, stamp, reason) in logged, (entity, rid, name)


def check_sound(conflicts, mutations):
    writes = writes_by_field(mutations)
    deletes = {
        (m["entity"], m["id"], m["hlc"], m["author"]) for m in mutations if m["op"] == "delete"
    }
    for c in conflicts:
        assert set(c) == set(merge.CONFLICT_KEYS)
        field_writes = {(canon(w[0]), w[1]) for w in writes[(c["entity"], c["id"], c["field"])]}
        assert (canon(c["losing_value"]), c["losing_hlc"]) in field_writes, c
        if c["reason"] in ("deleted", "edit_after_delete"):
            assert (c["entity"], c["id"], c["winning_hlc"], c["winning_author"]) in deletes, c
            assert (c["losing_hlc"] > c["winning_hlc"]) == (c["reason"] == "edit_after_delete")
            continue
        assert (canon(c["winning_value"]), c["winning_hlc"]) in field_writes, c
        assert canon(c["winning_value"]) != canon(c["losing_value"]), c
        if c["reason"] == "concurrent_edit":
            # The winner comes later in the merge's order (its own clock, or just after the
            # base it names).
            orders = {(canon(w[0]), w[1]): merge.write_order(w[1], w[3])
                      for w in writes[(c["entity"], c["id"], c["field"])]}
            assert (orders[(canon(c["losing_value"]), c["losing_hlc"])]
                    < orders[(canon(c["winning_value"]), c["winning_hlc"])])
            assert hlc.node_of(c["losing_hlc"]) != hlc.node_of(c["winning_hlc"])
        else:
            assert c["reason"] == "duplicate_id" and c["entity"] == "notes", c
            assert c["winning_hlc"] <= c["losing_hlc"]


@SETTINGS
@given(skews, st.lists(actions, min_size=8, max_size=40), st.randoms(use_true_random=False))
def test_replicas_converge_and_lose_nothing(skew_list, steps, rnd):
    world = run_world(skew_list, steps, rnd)
    replicas = world.replicas()
    ok, refused = accepted(world.every_mutation)
    ok_keys = {key(m) for m in ok}

    # One final state everywhere.
    for r in replicas[1:]:
        assert r.state == replicas[0].state, r.node
    for r in replicas:
        # Applied exactly once each: no duplicates across batches, nothing missing.
        assert len(r.applied_log) == len(set(r.applied_log))
        assert set(r.applied_log) == ok_keys == r.applied_ids
        check_no_edit_lost(r.state, r.conflicts, ok)
        check_tombstones(r.state, r.conflicts)
        check_sound(r.conflicts, ok)
        assert len({merge.conflict_key(c) for c in r.conflicts}) == len(r.conflicts)
    for m in refused:
        assert (m["entity"], m["op"]) == ("persons", "delete")
    for rid in IDS["persons"]:
        assert not merge.is_deleted(replicas[0].state.get("persons", {}).get(rid))


def write_strategy(node_pool=("a", "b", "c")):
    return st.tuples(
        st.sampled_from(node_pool),
        st.integers(0, 3),  # seconds
        st.integers(0, 2),  # counter
        st.sampled_from(VALUES),
    )


@SETTINGS
@given(write_strategy(), write_strategy(), st.sampled_from(("none", "saw_first", "unrelated")))
def test_two_writes_give_the_same_record_and_conflicts_in_either_order(w1, w2, base_mode):
    # The conflict set is order-free when two writes of a field meet.  With a third (a
    # stored start value counts) only the no-loss invariant holds: one order may log the
    # start value while another lets a write that saw it replace it silently.
    m1 = _mutation(w1[3], hlc.encode(T + w1[1], w1[2], w1[0]), 1, None)
    base = {"none": None, "saw_first": m1["hlc"], "unrelated": hlc.encode(T, 9, "z")}
    m2 = _mutation(w2[3], hlc.encode(T + w2[1], w2[2], w2[0]), 2, base[base_mode])
    outcomes = []
    for order in ((m1, m2), (m2, m1)):
        result = merge.apply_batch({}, list(order), set(), KINDS)
        outcomes.append((result.state, sorted(result.conflicts, key=merge.conflict_sort_key)))
    assert outcomes[0] == outcomes[1]
    (state, conflicts) = outcomes[0]
    differ = merge.canonical(w1[3]) != merge.canonical(w2[3])
    knowing = w1[0] == w2[0] or base_mode == "saw_first"
    assert len(conflicts) == (1 if differ and (not knowing or m1["hlc"] == m2["hlc"]) else 0)
    if base_mode == "saw_first":
        # A write that names in its base the value it replaces wins, whatever the clocks.
        assert state["visits"]["v1"]["a"] == w2[3]


def _mutation(value, stamp, mid, base):
    m = {
        "entity": "visits",
        "id": "v1",
        "op": "upsert",
        "fields": {"a": value},
        "hlc": stamp,
        "node": hlc.node_of(stamp),
        "client_id": "c" + hlc.node_of(stamp),
        "mutation_id": mid,
        "author": "u" + hlc.node_of(stamp),
    }
    if base:
        m["base"] = {"a": base}
    return m


@SETTINGS
@given(skews, st.lists(actions, min_size=4, max_size=25), st.randoms(use_true_random=False))
def test_merging_states_equals_applying_every_mutation(skew_list, steps, rnd):
    world = run_world(skew_list, steps, rnd)
    everything = world.server.state
    # Split the mutations between two fresh replicas, then join their states record by record.
    left, right = [], []
    for m in world.every_mutation:
        (left if rnd.random() < 0.5 else right).append(m)
    a = merge.apply_batch({}, left, set(), KINDS).state
    b = merge.apply_batch({}, right, set(), KINDS).state
    for entity in KINDS:
        ids = set(a.get(entity, {})) | set(b.get(entity, {}))
        for rid in ids:
            ab, _ = merge.merge_records(
                a.get(entity, {}).get(rid), b.get(entity, {}).get(rid), KINDS[entity], entity
            )
            ba, _ = merge.merge_records(
                b.get(entity, {}).get(rid), a.get(entity, {}).get(rid), KINDS[entity], entity
            )
            assert ab == ba == everything[entity][rid]
        assert ids == set(everything.get(entity, {}))


def test_the_checkers_catch_a_lost_value_a_missing_tombstone_entry_and_a_bogus_entry():
    a = _mutation("A", hlc.encode(T + 1000, 0, "a"), 1, None)
    b = _mutation("B", hlc.encode(T + 2000, 0, "b"), 1, None)
    result = merge.apply_batch({}, [a, b], set(), KINDS)
    check_no_edit_lost(result.state, result.conflicts, [a, b])
    with pytest.raises(AssertionError):
        check_no_edit_lost(result.state, [], [a, b])  # "A" lost without a trace
    delete = {
        **_mutation(None, hlc.encode(T + 1500, 0, "c"), 2, None),
        "op": "delete",
        "fields": {},
    }
    deleted = merge.apply_batch(result.state, [delete], set(), KINDS)
    check_tombstones(deleted.state, deleted.conflicts)
    with pytest.raises(AssertionError):
        check_tombstones(deleted.state, [])  # "B" came after the delete and is not logged
    check_sound(result.conflicts, [a, b])
    with pytest.raises(AssertionError):
        check_sound([{**result.conflicts[0], "losing_value": "C"}], [a, b])
