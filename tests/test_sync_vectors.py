"""The shared JSON vectors in sync/vectors/: every vector passes in every delivery order."""

import itertools
import json
import sys
from pathlib import Path

import pytest

import sync
from sync import hlc
from sync import merge
from sync.referral_status import derive_status

VECTOR_DIR = Path(sync.__file__).parent / "vectors"
# hlc.json: clock cases; wire.json: the wire form (tests/test_sync_wire.py).
MERGE_FILES = sorted(p for p in VECTOR_DIR.glob("*.json")
                     if p.name not in ("hlc.json", "wire.json"))
TOP_KEYS = {
    "type",
    "name",
    "description",
    "entity",
    "kind",
    "start",
    "mutations",
    "expected",
    "server_wall_ms",
    "max_skew_ms",
    "derive",
    "referral_id",
}
EXPECTED_KEYS = {
    "record",
    "conflicts",
    "conflict_keys",
    "refused",
    "applied",
    "skipped",
    "clamped",
    "status",
    "flagged",
}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def prepared_mutations(vector: dict) -> tuple[list[dict], list[bool]]:
    """The vector's mutations in server time, if the vector has a server clock: moved by a
    wrong date's offset, bases bounded, then clamped (as sync/engine.py push does); the
    flags say which HLCs the server changed."""
    mutations = [dict(m) for m in vector["mutations"]]
    if "server_wall_ms" not in vector:
        return mutations, [False] * len(mutations)
    wall = vector["server_wall_ms"]
    skew = vector.get("max_skew_ms", hlc.MAX_SKEW_MS)
    flags = []
    for m in mutations:
        sent = m["hlc"]
        moved = hlc.correction_ms(wall, m.get("offset_ms"), m.get("device_time_ms"), skew)
        if "base" in m:
            m["base"] = hlc.bound_base(m["base"], m["node"], moved, wall, skew)
        m["hlc"], _ = hlc.clamp(hlc.shift(sent, moved), wall, skew)
        flags.append(m["hlc"] != sent)
    return mutations, flags


def project(entries: list[dict], keys: list[str] | None) -> list[dict]:
    if keys is not None:
        entries = [{k: e[k] for k in keys} for e in entries]
    return sorted(entries, key=merge.conflict_sort_key)


def run(vector: dict, mutations: list[dict]) -> dict:
    """Apply mutations in the given order as one batch; return what the vector compares."""
    entity = vector["entity"]
    state = {}
    if vector["start"] is not None:
        state = {entity: {vector["start"]["id"]: vector["start"]}}
    result = merge.apply_batch(state, mutations, set(), {entity: vector["kind"]})
    expected = vector["expected"]
    out = {
        "conflicts": project(result.conflicts, expected.get("conflict_keys")),
        "refused": sorted(result.refused, key=merge.canonical),
        "applied": sorted([list(k) for k in result.applied]),
        "skipped": sorted([list(k) for k in result.skipped]),
    }
    records = result.state.get(entity, {})
    record_id = vector["start"]["id"] if vector["start"] else vector["mutations"][0]["id"]
    out["record"] = records.get(record_id)
    if vector.get("derive") == "referral_status":
        events = [
            {**merge.plain(r), "hlc": merge.latest_clock(r)}
            for r in records.values()
            if r.get("referral_id") == vector["referral_id"]
        ]
        out["status"], out["flagged"] = derive_status(events)
    return out


def check(vector: dict, outcome: dict, order: tuple[int, ...]) -> None:
    expected = vector["expected"]
    where = f"{vector['name']} in order {order}"
    assert outcome["conflicts"] == project(expected["conflicts"], expected.get("conflict_keys")), (
        where
    )
    assert outcome["refused"] == sorted(expected.get("refused", []), key=merge.canonical), where
    for key in ("record", "applied", "skipped", "status", "flagged"):
        if key in expected:
            assert outcome[key] == expected[key], f"{key}: {where}"


@pytest.mark.parametrize("path", MERGE_FILES, ids=lambda p: p.stem)
def test_vector_in_every_order(path):
    vector = load(path)
    mutations, flags = prepared_mutations(vector)
    assert flags == vector["expected"].get("clamped", [False] * len(mutations))
    orders = list(itertools.permutations(range(len(mutations))))
    for order in orders:
        check(vector, run(vector, [mutations[i] for i in order]), order)


@pytest.mark.parametrize("path", MERGE_FILES, ids=lambda p: p.stem)
def test_vector_is_well_formed(path):
    vector = load(path)
    assert vector["type"] == "merge"
    assert set(vector) <= TOP_KEYS
    assert set(vector["expected"]) <= EXPECTED_KEYS
    assert path.stem.endswith(vector["name"])
    assert 2 <= len(vector["mutations"]) <= 6
    assert "record" in vector["expected"] or vector.get("derive") == "referral_status"
    for m in vector["mutations"]:
        assert m["entity"] == vector["entity"]
        assert m["node"] == hlc.node_of(m["hlc"])
    # Files are stored as UTF-8 JSON that a JavaScript JSON.parse reads the same way.
    assert json.loads(json.dumps(vector)) == vector


def test_vectors_cover_the_required_cases():
    names = {load(p)["name"] for p in MERGE_FILES}
    assert len(names) >= 12
    required = {
        "single_writer",
        "different_fields",
        "same_field_concurrent",
        "tie_breaks",
        "same_node_sequential",
        "equal_values",
        "three_nodes_same_field",
        "delete_vs_concurrent_edit",
        "edit_after_delete",
        "insert_only_duplicate",
        "duplicate_mutation",
        "referral_late_withdrawal",
        "clamp_phone_clock_ahead",
        "base_names_replaced_value",
        "offset_correction",
        "referral_withdrawal_after_desk",
    }
    assert required <= names


def test_hlc_cases():
    cases = load(VECTOR_DIR / "hlc.json")["cases"]
    assert len(cases) >= 10
    for case in cases:
        args = case["args"]
        if case["fn"] == "sorted":
            got = sorted(args["values"])
            assert got == sorted(args["values"], key=hlc.parse)
        elif case["fn"] == "clamp":
            got = list(hlc.clamp(**args))
        else:
            got = getattr(hlc, case["fn"])(**args)
        assert got == case["expected"], case


def _fails_somewhere(monkeypatch_target, name, replacement, monkeypatch) -> list[str]:
    monkeypatch.setattr(monkeypatch_target, name, replacement)
    failed = []
    for path in MERGE_FILES:
        vector = load(path)
        mutations, _ = prepared_mutations(vector)
        for order in itertools.permutations(range(len(mutations))):
            try:
                check(vector, run(vector, [mutations[i] for i in order]), order)
            except AssertionError:
                failed.append(vector["name"])
                break
    monkeypatch.undo()
    return failed


def test_vectors_catch_a_merge_that_drops_losers(monkeypatch):
    failed = _fails_somewhere(merge, "_lww_reason", lambda winner, loser: None, monkeypatch)
    assert {"same_field_concurrent", "tie_breaks", "clamp_phone_clock_ahead"} <= set(failed)


def test_vectors_catch_a_merge_that_logs_every_overwrite(monkeypatch):
    failed = _fails_somewhere(
        merge, "_lww_reason", lambda winner, loser: "concurrent_edit", monkeypatch
    )
    assert {"same_node_sequential", "equal_values", "different_fields"} & set(failed)


def test_vectors_catch_a_merge_that_ignores_deletes(monkeypatch):
    failed = _fails_somewhere(merge, "_merge_delete", lambda entity, record, d: [], monkeypatch)
    assert {"delete_vs_concurrent_edit", "delete_before_insert"} <= set(failed)


def test_vectors_catch_a_merge_that_reapplies_duplicates(monkeypatch):
    failed = _fails_somewhere(merge, "mutation_key", lambda m: (id(m), 0), monkeypatch)
    assert "duplicate_mutation" in failed


def test_vectors_catch_a_merge_that_orders_by_clock_alone(monkeypatch):
    failed = _fails_somewhere(
        merge, "write_order", lambda stamp, base: (stamp, 0, stamp), monkeypatch
    )
    assert "base_names_replaced_value" in failed


def test_vectors_catch_a_server_that_judges_skew_only_at_arrival(monkeypatch):
    failed = _fails_somewhere(hlc, "correction_ms", lambda *args: 0, monkeypatch)
    assert "offset_correction" in failed


def test_vectors_catch_a_fold_that_ignores_the_seen_status(monkeypatch):
    real = derive_status

    def blind(events):
        return real([{k: v for k, v in e.items() if k != "seen_status"}
                              for e in events])

    failed = _fails_somewhere(sys.modules[__name__], "derive_status", blind, monkeypatch)
    assert failed == ["referral_withdrawal_after_desk"]
