"""sync.merge: the per-field rules, tombstones, insert-only records and refusals."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from sync import hlc
from sync import merge
from sync.merge import MergeRefused

T = 1_767_225_600_000
VISIT = {"fields": {"notes": "lww", "count": "lww", "topics": "lww"}}
PERSON = {"fields": {"name": "lww", "archived_at": "lww"}, "archive_only": True}
NOTE = {"fields": {"referral_id": "lww", "note": "lww"}, "insert_only": True}
RID = "00000000-0000-4000-8000-000000000001"


def h(sec, node, counter=0):
    return hlc.encode(T + sec * 1000, counter, node)


def mut(fields, sec, node, op="upsert", mid=1, base=None, rid=RID, entity="visits", counter=0):
    m = {
        "entity": entity,
        "id": rid,
        "op": op,
        "fields": fields,
        "hlc": h(sec, node, counter),
        "node": node,
        "client_id": f"c-{node}",
        "mutation_id": mid,
        "author": f"user-{node}",
    }
    if base is not None:
        m["base"] = base
    return m


def apply_all(mutations, kind=VISIT, record=None):
    conflicts = []
    for m in mutations:
        record, found = merge.apply_mutation(record, m, kind)
        conflicts.extend(found)
    return record, conflicts


def test_first_write_creates_the_record_with_bookkeeping():
    rec, conflicts = merge.apply_mutation(None, mut({"notes": "x"}, 0, "a"), VISIT)
    assert conflicts == []
    assert rec == {
        "id": RID,
        "notes": "x",
        "_clocks": {"notes": h(0, "a")},
        "_authors": {"notes": "user-a"},
        "_bases": {},
        "_deleted": None,
        "_deleted_by": None,
        "_deleted_base": None,
    }


def test_apply_mutation_does_not_change_its_inputs():
    rec, _ = merge.apply_mutation(None, mut({"notes": "x", "topics": ["hak"]}, 0, "a"), VISIT)
    m = mut({"notes": "y", "topics": ["biaya"]}, 5, "b")
    before_rec, before_m = copy.deepcopy(rec), copy.deepcopy(m)
    out, _ = merge.apply_mutation(rec, m, VISIT)
    assert rec == before_rec and m == before_m
    assert out["notes"] == "y" and out["topics"] == ["biaya"]
    out["topics"].append("changed")
    assert m["fields"]["topics"] == ["biaya"]


def test_later_write_wins_and_the_loser_is_logged_in_both_orders():
    a = mut({"notes": "A"}, 10, "a")
    b = mut({"notes": "B"}, 20, "b")
    for order in ([a, b], [b, a]):
        rec, conflicts = apply_all(order)
        assert rec["notes"] == "B"
        assert rec["_authors"]["notes"] == "user-b"
        assert conflicts == [
            {
                "entity": "visits",
                "id": RID,
                "field": "notes",
                "winning_value": "B",
                "winning_hlc": h(20, "b"),
                "winning_author": "user-b",
                "losing_value": "A",
                "losing_hlc": h(10, "a"),
                "losing_author": "user-a",
                "reason": "concurrent_edit",
            }
        ]


def test_a_write_that_saw_the_stored_value_is_not_a_conflict():
    first = mut({"notes": "A"}, 10, "a")
    second = mut({"notes": "B"}, 20, "b", base={"notes": h(10, "a")})
    for order in ([first, second], [second, first]):
        rec, conflicts = apply_all(order)
        assert rec["notes"] == "B"
        assert rec["_bases"] == {"notes": h(10, "a")}
        assert conflicts == []


def test_a_base_for_another_value_does_not_hide_a_conflict():
    first = mut({"notes": "A"}, 10, "a")
    second = mut({"notes": "B"}, 20, "b", base={"notes": h(5, "c")})
    _, conflicts = apply_all([first, second])
    assert [c["losing_value"] for c in conflicts] == ["A"]


def test_same_node_overwrite_is_not_a_conflict_even_without_base():
    rec, conflicts = apply_all([mut({"count": 1}, 10, "a"), mut({"count": 2}, 20, "a", mid=2)])
    assert rec["count"] == 2 and conflicts == []


def test_equal_values_are_not_a_conflict():
    rec, conflicts = apply_all([mut({"count": 3}, 10, "a"), mut({"count": 3}, 20, "b")])
    assert rec["_clocks"]["count"] == h(20, "b") and conflicts == []


def test_values_compare_as_json_so_true_and_1_differ():
    assert not merge.same_value(True, 1)
    assert not merge.same_value(1, "1")
    assert merge.same_value({"a": [1, 2], "b": None}, {"b": None, "a": [1, 2]})
    _, conflicts = apply_all([mut({"count": 1}, 10, "a"), mut({"count": True}, 20, "b")])
    assert len(conflicts) == 1


def test_counter_breaks_a_wall_time_tie_then_the_node():
    hi_counter = mut({"notes": "A"}, 10, "a", counter=1)
    hi_node = mut({"notes": "B"}, 10, "b", counter=0)
    assert apply_all([hi_counter, hi_node])[0]["notes"] == "A"
    assert apply_all([hi_node, hi_counter])[0]["notes"] == "A"
    x = mut({"notes": "X"}, 10, "a")
    y = mut({"notes": "Y"}, 10, "b")
    assert apply_all([x, y])[0]["notes"] == "Y"
    assert apply_all([y, x])[0]["notes"] == "Y"


def test_an_hlc_collision_is_resolved_the_same_way_everywhere_and_logged():
    one = mut({"notes": "one"}, 10, "a", mid=1)
    two = mut({"notes": "two"}, 10, "a", mid=2)
    r1, c1 = apply_all([one, two])
    r2, c2 = apply_all([two, one])
    assert r1 == r2
    assert c1 == c2 and [c["reason"] for c in c1] == ["hlc_collision"]


def test_the_same_write_twice_changes_nothing():
    m = mut({"notes": "A"}, 10, "a")
    rec, _ = apply_all([m])
    again, conflicts = merge.apply_mutation(rec, m, VISIT)
    assert again == rec and conflicts == []


def test_delete_leaves_a_tombstone_that_keeps_the_fields():
    rec, _ = apply_all([mut({"notes": "A"}, 10, "a")])
    rec, conflicts = merge.apply_mutation(rec, mut({}, 20, "a", op="delete"), VISIT)
    assert merge.is_deleted(rec)
    assert rec["_deleted"] == h(20, "a") and rec["_deleted_by"] == "user-a"
    assert rec["notes"] == "A" and conflicts == []


def test_a_deleted_record_stays_deleted_whatever_comes_later():
    rec, _ = apply_all([mut({"notes": "A"}, 10, "a"), mut({}, 20, "a", op="delete", mid=2)])
    rec, conflicts = merge.apply_mutation(rec, mut({"notes": "B"}, 30, "b"), VISIT)
    assert merge.is_deleted(rec)
    assert rec["notes"] == "B"  # merged into the tombstone, so nothing is lost
    reasons = {c["reason"] for c in conflicts}
    assert "edit_after_delete" in reasons
    entry = next(c for c in conflicts if c["reason"] == "edit_after_delete")
    assert entry["winning_value"] is None and entry["winning_hlc"] == h(20, "a")
    assert entry["losing_value"] == "B"


def test_delete_without_base_treats_older_writes_as_seen():
    older = mut({"notes": "A"}, 10, "b")
    delete = mut({}, 20, "a", op="delete", mid=2)
    for order in ([older, delete], [delete, older]):
        rec, conflicts = apply_all(order)
        assert merge.is_deleted(rec) and rec["notes"] == "A"
        assert conflicts == []


def test_delete_with_base_logs_a_racing_edit_in_both_orders():
    create = mut({"notes": "A"}, 0, "a")
    rec, _ = apply_all([create])
    edit = mut({"notes": "B"}, 10, "b", base={"notes": h(0, "a")})
    delete = mut({}, 20, "a", op="delete", mid=2, base={"notes": h(0, "a")})
    results = [apply_all(order, record=rec) for order in ([edit, delete], [delete, edit])]
    assert results[0][0] == results[1][0]
    assert results[0][1] == results[1][1]
    assert [c["reason"] for c in results[0][1]] == ["deleted"]


def test_the_highest_delete_is_kept():
    d1 = mut({}, 10, "a", op="delete", mid=1)
    d2 = mut({}, 20, "b", op="delete", mid=2)
    assert apply_all([d1, d2])[0] == apply_all([d2, d1])[0]
    assert apply_all([d1, d2])[0]["_deleted"] == h(20, "b")


def test_insert_only_duplicate_is_a_no_op_and_updates_are_refused():
    ins = mut({"referral_id": "r", "note": "n"}, 10, "a", op="insert", entity="notes")
    rec, _ = merge.apply_mutation(None, ins, NOTE)
    again, conflicts = merge.apply_mutation(rec, dict(ins, mutation_id=9), NOTE)
    assert again == rec and conflicts == []
    for op, fields in (("upsert", {"note": "x"}), ("delete", {})):
        with pytest.raises(MergeRefused) as err:
            merge.apply_mutation(rec, mut(fields, 20, "a", op=op, entity="notes"), NOTE)
        assert err.value.reason == "insert_only"


def test_insert_only_id_collision_keeps_the_earliest_and_logs_the_other():
    early = mut({"referral_id": "r", "note": "early"}, 10, "b", op="insert", entity="notes")
    late = mut({"referral_id": "r", "note": "late"}, 20, "a", op="insert", entity="notes")
    r1, c1 = apply_all([early, late], kind=NOTE)
    r2, c2 = apply_all([late, early], kind=NOTE)
    assert r1 == r2 and r1["note"] == "early"
    assert c1 == c2
    assert [(c["field"], c["losing_value"], c["reason"]) for c in c1] == [
        ("note", "late", "duplicate_id")
    ]


def test_insert_only_needs_fields():
    with pytest.raises(MergeRefused) as err:
        merge.apply_mutation(None, mut({}, 1, "a", op="insert"), NOTE)
    assert err.value.reason == "empty_insert"


def test_archive_only_refuses_delete_but_archives_by_field():
    with pytest.raises(MergeRefused) as err:
        merge.apply_mutation(None, mut({}, 10, "a", op="delete", entity="persons"), PERSON)
    assert err.value.reason == "archive_only"
    rec, _ = merge.apply_mutation(
        None, mut({"archived_at": "2026-01-01T00:00:00Z"}, 10, "a", entity="persons"), PERSON
    )
    assert rec["archived_at"] == "2026-01-01T00:00:00Z" and not merge.is_deleted(rec)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"op": "replace"}, "bad_op"),
        ({"id": ""}, "bad_id"),
        ({"hlc": "yesterday"}, "bad_hlc"),
        ({"node": "someone-else"}, "node_mismatch"),
        ({"fields": {"_clocks": {}}}, "reserved_field"),
        ({"fields": {"id": "x"}}, "reserved_field"),
        ({"fields": {"nik": "3209"}}, "unknown_field"),
        ({"fields": ["notes"]}, "bad_fields"),
        ({"base": {"notes": "not-a-clock"}}, "bad_base"),
        ({"op": "delete", "fields": {"notes": "x"}}, "bad_fields"),
    ],
)
def test_malformed_mutations_are_refused_with_a_reason(change, reason):
    m = dict(mut({"notes": "x"}, 10, "a"), **change)
    with pytest.raises(MergeRefused) as err:
        merge.apply_mutation(None, m, VISIT)
    assert err.value.reason == reason


def test_null_in_base_means_no_value_was_seen():
    create = mut({"notes": "A", "count": 1}, 0, "a")
    rec, _ = merge.apply_mutation(None, create, VISIT)
    edit = mut({"notes": "B"}, 10, "b", base={"notes": None})
    _, conflicts = merge.apply_mutation(rec, edit, VISIT)
    assert [c["losing_value"] for c in conflicts] == ["A"]
    delete = mut({}, 20, "b", op="delete", base={"notes": h(0, "a"), "count": None})
    gone, conflicts = merge.apply_mutation(rec, delete, VISIT)
    assert gone["_deleted_base"] == {"notes": h(0, "a")}
    assert [(c["field"], c["reason"]) for c in conflicts] == [("count", "deleted")]


def test_a_kind_without_a_field_list_accepts_any_plain_field():
    rec, _ = merge.apply_mutation(None, mut({"anything": 1}, 10, "a"), {})
    assert rec["anything"] == 1


def test_mutation_for_another_record_is_a_programming_error():
    rec, _ = merge.apply_mutation(None, mut({"notes": "x"}, 10, "a"), VISIT)
    with pytest.raises(ValueError):
        merge.apply_mutation(rec, mut({"notes": "y"}, 20, "a", rid="other"), VISIT)


def test_apply_batch_skips_duplicates_and_goes_on_after_a_refusal():
    kinds = {"visits": VISIT, "persons": PERSON}
    ok = mut({"notes": "A"}, 10, "a", mid=1)
    bad = mut({}, 11, "a", op="delete", mid=2, entity="persons")
    later = mut({"count": 5}, 12, "a", mid=3)
    unknown = dict(mut({"x": 1}, 13, "a", mid=4), entity="nope")
    state = {}
    result = merge.apply_batch(state, [ok, bad, ok, later, unknown], set(), kinds)
    assert state == {}  # the input state is left alone
    assert result.applied == [("c-a", 1), ("c-a", 3)]
    assert result.skipped == [("c-a", 1)]
    assert result.refused == [
        {"client_id": "c-a", "mutation_id": 2, "reason": "archive_only"},
        {"client_id": "c-a", "mutation_id": 4, "reason": "unknown_entity"},
    ]
    assert result.applied_ids == {("c-a", 1), ("c-a", 3)}
    assert result.state["visits"][RID]["count"] == 5
    # A retry of the whole batch applies nothing and refuses the same mutations again.
    retry = merge.apply_batch(result.state, [ok, bad, later], result.applied_ids, kinds)
    assert retry.applied == [] and retry.state == result.state
    assert [r["mutation_id"] for r in retry.refused] == [2]


def test_merge_records_equals_applying_all_mutations():
    muts_local = [mut({"notes": "A"}, 10, "a", mid=1), mut({"count": 1}, 30, "a", mid=2)]
    muts_remote = [mut({"notes": "B"}, 20, "b", mid=1), mut({}, 25, "b", op="delete", mid=2)]
    local, _ = apply_all(muts_local)
    remote, _ = apply_all(muts_remote)
    everything, _ = apply_all(muts_local + muts_remote)
    joined, conflicts = merge.merge_records(local, remote, VISIT, "visits")
    assert joined == everything
    assert merge.merge_records(remote, local, VISIT, "visits")[0] == everything
    assert {c["reason"] for c in conflicts} == {"concurrent_edit", "edit_after_delete"}
    assert merge.merge_records(None, remote, VISIT)[0] == remote
    assert merge.merge_records(local, None, VISIT)[0] == local


def test_merge_records_for_insert_only():
    a, _ = apply_all([mut({"referral_id": "r", "note": "x"}, 10, "a", op="insert")], kind=NOTE)
    b, _ = apply_all([mut({"referral_id": "r", "note": "y"}, 5, "b", op="insert")], kind=NOTE)
    assert merge.merge_records(a, b, NOTE)[0] == merge.merge_records(b, a, NOTE)[0] == b
    assert merge.merge_records(a, a, NOTE) == (a, [])


def test_conflict_key_identifies_an_entry():
    _, conflicts = apply_all([mut({"notes": "A"}, 10, "a"), mut({"notes": "B"}, 20, "b")])
    (entry,) = conflicts
    assert merge.conflict_key(entry) == (
        "visits",
        RID,
        "notes",
        h(10, "a"),
        h(20, "b"),
        "concurrent_edit",
    )


def test_plain_and_latest_clock():
    rec, _ = apply_all([mut({"notes": "A"}, 10, "a"), mut({"count": 2}, 20, "a", mid=2)])
    assert merge.plain(rec) == {"id": RID, "notes": "A", "count": 2}
    assert merge.plain_fields(rec) == {"notes": "A", "count": 2}
    assert merge.latest_clock(rec) == h(20, "a")
    assert merge.latest_clock(merge.new_record("x")) is None


def test_sync_core_imports_no_framework():
    code = (
        "import sync, sync.hlc, sync.merge, sync.referral_status, sys; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy')); "
        "assert not bad, bad; print('clean')"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"


# A stored write at 10 s by the server, and an incoming write of one phone, in both orders:
# (incoming second, its base, the value that wins, the reasons logged).
@pytest.mark.parametrize(("sec", "base", "winner", "reasons"), [
    (5, h(10, "server"), "phone", []),                       # saw it, stamped below: wins
    (15, h(10, "server"), "phone", []),                      # saw it, stamped above: wins
    (5, None, "server", ["concurrent_edit"]),                # no base: the clocks decide
    (5, h(9, "server"), "server", ["concurrent_edit"]),      # saw an older value
    (5, h(12, "hp-x"), "phone", ["concurrent_edit"]),        # a base above, of another value
    (11, h(12, "hp-x"), "phone", ["concurrent_edit"]),
])
def test_a_write_sorts_just_after_the_base_it_names(sec, base, winner, reasons):
    stored = mut({"notes": "server"}, 10, "server", mid=1)
    incoming = mut({"notes": "phone"}, sec, "hp-a", mid=2,
                   base=None if base is None else {"notes": base})
    for order in ((stored, incoming), (incoming, stored)):
        result = merge.apply_batch({}, list(order), set(), {"visits": VISIT})
        assert result.state["visits"][RID]["notes"] == winner
        assert [c["reason"] for c in result.conflicts] == reasons
