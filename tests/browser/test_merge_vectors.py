"""pwa/js/hlc.js and pwa/js/merge.js in Chromium pass every file of sync/vectors/, in every order.

The comparison is the Python suite's own (tests/test_sync_vectors.py): the JavaScript merge
gives the record, the conflicts, the refusals and what was applied or skipped; a referral's
status is derived from the JavaScript records by sync.referral_status, as the server does.
"""

import json
import math

import pytest

from sync import merge
from sync.referral_status import derive_status
from tests.test_sync_vectors import MERGE_FILES
from tests.test_sync_vectors import VECTOR_DIR
from tests.test_sync_vectors import check
from tests.test_sync_vectors import load
from tests.test_sync_vectors import prepared_mutations
from tests.test_sync_vectors import project

pytestmark = pytest.mark.browser

# Runs a vector in every order inside the page; returns what the Python check compares.
RUN_VECTOR = """
async (vector) => {
  const merge = await import('/js/merge.js');
  const hlc = await import('/js/hlc.js');
  // sync/merge.py apply_batch: each (client_id, mutation_id) once, refusals reported.
  const applyBatch = (state, mutations, entity, kind) => {
    const records = { ...(state[entity] || {}) };
    const seen = new Set();
    const out = { records, applied: [], skipped: [], refused: [], conflicts: [] };
    for (const m of mutations) {
      const key = [m.client_id, m.mutation_id];
      if (seen.has(JSON.stringify(key))) {
        out.skipped.push(key);
        continue;
      }
      try {
        if (m.entity !== entity) throw new merge.MergeRefused('unknown_entity', m.entity);
        const [record, conflicts] = merge.applyMutation(records[m.id] ?? null, m, kind);
        records[m.id] = record;
        out.conflicts.push(...conflicts);
      } catch (e) {
        if (!(e instanceof merge.MergeRefused)) throw e;
        out.refused.push({ client_id: key[0], mutation_id: key[1], reason: e.reason });
        continue;
      }
      seen.add(JSON.stringify(key));
      out.applied.push(key);
    }
    return out;
  };
  const mutations = vector.mutations.map((m) => ({ ...m }));
  // In server time, as sync/engine.py push: moved by a wrong date's offset, bases bounded,
  // then clamped; the flags say which HLCs changed.
  const clamped = mutations.map((m) => {
    if (vector.server_wall_ms === undefined) return false;
    const wall = vector.server_wall_ms;
    const skew = vector.max_skew_ms ?? 300000;
    const sent = m.hlc;
    const moved = hlc.correctionMs(wall, m.offset_ms ?? null, m.device_time_ms ?? null, skew);
    if ('base' in m) m.base = hlc.boundBase(m.base, m.node, moved, wall, skew);
    [m.hlc] = hlc.clamp(hlc.shift(sent, moved), wall, skew);
    return m.hlc !== sent;
  });
  const orders = [];
  const permute = (rest, done) => {
    if (!rest.length) orders.push(done);
    rest.forEach((x, i) => permute([...rest.slice(0, i), ...rest.slice(i + 1)], [...done, x]));
  };
  permute([...mutations.keys()], []);
  const start = vector.start ? { [vector.entity]: { [vector.start.id]: vector.start } } : {};
  const recordId = vector.start ? vector.start.id : vector.mutations[0].id;
  // Orders that give the same outcome (lists compared as sets, as the check does) are
  // sent back once, with every order that gave it.
  const unique = new Map();
  const sortedBy = (list) => [...list].sort((a, b) => {
    const x = merge.canonical(a);
    const y = merge.canonical(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  for (const order of orders) {
    const result = applyBatch(start, order.map((i) => mutations[i]), vector.entity, vector.kind);
    const records = result.records;
    const outcome = {
      conflicts: result.conflicts, refused: result.refused, applied: result.applied,
      skipped: result.skipped, record: records[recordId] ?? null,
      records: vector.derive ? records : null,
    };
    const key = merge.canonical({ ...outcome, conflicts: sortedBy(outcome.conflicts),
      refused: sortedBy(outcome.refused), applied: sortedBy(outcome.applied),
      skipped: sortedBy(outcome.skipped) });
    if (!unique.has(key)) unique.set(key, { ...outcome, orders: [] });
    unique.get(key).orders.push(order);
  }
  return { clamped, hlcs: mutations.map((m) => m.hlc), orders: orders.length,
           outcomes: [...unique.values()] };
}
"""

RUN_HLC = """
async (cases) => {
  const hlc = await import('/js/hlc.js');
  return cases.map(({ fn, args }) => {
    if (fn === 'encode') return hlc.encode(args.wall_ms, args.counter, args.node);
    if (fn === 'now') return hlc.now(args.node_id, args.last, args.wall_ms);
    if (fn === 'receive') return hlc.receive(args.local, args.remote, args.wall_ms);
    if (fn === 'clamp') {
      return hlc.clamp(args.remote, args.server_wall_ms, args.max_skew_ms, args.last ?? null);
    }
    if (fn === 'sorted') return [...args.values].sort();
    if (fn === 'shift') return hlc.shift(args.remote, args.by_ms);
    if (fn === 'correction_ms') {
      return hlc.correctionMs(args.server_wall_ms, args.offset_ms, args.device_time_ms,
                              args.max_skew_ms);
    }
    if (fn === 'bound_base') {
      return hlc.boundBase(args.base, args.node, args.moved_ms, args.server_wall_ms,
                           args.max_skew_ms);
    }
    throw new Error(fn);
  });
}
"""


def outcome_for(vector: dict, raw: dict) -> dict:
    """The JavaScript result in the shape tests.test_sync_vectors.check compares."""
    expected = vector["expected"]
    out = {
        "conflicts": project(raw["conflicts"], expected.get("conflict_keys")),
        "refused": sorted(raw["refused"], key=merge.canonical),
        "applied": sorted(raw["applied"]),
        "skipped": sorted(raw["skipped"]),
        "record": raw["record"],
    }
    if vector.get("derive") == "referral_status":
        events = [{**merge.plain(r), "hlc": merge.latest_clock(r)}
                  for r in raw["records"].values()
                  if r.get("referral_id") == vector["referral_id"]]
        out["status"], out["flagged"] = derive_status(events)
    return out


@pytest.mark.parametrize("path", MERGE_FILES, ids=lambda p: p.stem)
def test_js_merge_passes_vector_in_every_order(module_blank_page, path):
    vector = load(path)
    result = module_blank_page.evaluate(RUN_VECTOR, vector)
    n = len(vector["mutations"])
    assert result["clamped"] == vector["expected"].get("clamped", [False] * n)
    if "server_wall_ms" in vector:
        assert result["hlcs"] == [m["hlc"] for m in prepared_mutations(vector)[0]]
    assert result["orders"] == math.factorial(n)
    assert sum(len(raw["orders"]) for raw in result["outcomes"]) == math.factorial(n)
    for raw in result["outcomes"]:
        check(vector, outcome_for(vector, raw), tuple(raw["orders"][0]))


def test_js_hlc_cases(module_blank_page):
    cases = load(VECTOR_DIR / "hlc.json")["cases"]
    got = module_blank_page.evaluate(RUN_HLC, cases)
    for case, value in zip(cases, got, strict=True):
        assert value == case["expected"], case


CANONICAL_VALUES = [
    {"b": 1, "a": [True, False, None], "c": {"z": "", "y": -3}},
    "Sosialisasi di balai desa — Rp 1.500.000 · ✓",
    "tab\tline\nquote\" backslash\\ bell\x07 del\x7f nbsp\xa0",
    "emoji 🙂 and U+FFFF \uffff and U+E000 \ue000",
    {"\ue000": 1, "🙂": 2, "a": 3, "é": 4},
    [1, -1, 0, 12345678901234, "1", "true"],
]


def test_js_canonical_json_matches_python(module_blank_page):
    got = module_blank_page.evaluate(
        "async (values) => { const m = await import('/js/merge.js'); "
        "return values.map((v) => m.canonical(v)); }", CANONICAL_VALUES)
    assert got == [merge.canonical(v) for v in CANONICAL_VALUES]
    # The tie-break compares canonical strings: both languages must order them alike.
    assert sorted(got) == sorted(got, key=lambda s: s.encode("utf-16-be"))


def test_js_merge_records_joins_like_python(module_blank_page):
    """merge_records of two replicas that each saw one write: the same join, either way round."""
    vector = load(VECTOR_DIR / "03_same_field_concurrent.json")
    kind = vector["kind"]
    start = {"visits": {vector["start"]["id"]: vector["start"]}} if vector["start"] else {}
    rid = vector["start"]["id"] if vector["start"] else vector["mutations"][0]["id"]
    left = merge.apply_batch(start, vector["mutations"][:1], set(), {"visits": kind})
    right = merge.apply_batch(start, vector["mutations"][1:], set(), {"visits": kind})
    a, b = left.state["visits"][rid], right.state["visits"][rid]
    got = module_blank_page.evaluate(
        "async ([a, b, kind]) => { const m = await import('/js/merge.js'); "
        "return [m.mergeRecords(a, b, kind, 'visits'), m.mergeRecords(b, a, kind, 'visits')]; }",
        [a, b, kind])
    for (local, remote), js in zip(((a, b), (b, a)), got, strict=True):
        record, conflicts = merge.merge_records(local, remote, kind, "visits")
        assert js[0] == record
        assert sorted(js[1], key=merge.canonical) == sorted(conflicts, key=merge.canonical)
    assert got[0][0] == got[1][0]
    assert got[0][1], "two concurrent writes of one field must log the loser"


WIRE = json.loads((VECTOR_DIR / "wire.json").read_text())


def test_js_wire_expands_compact_records_and_partial_changes(module_blank_page):
    """js/wire.js reads the compact wire form and lays partial changes over the phone's
    copy exactly as sync/wire.py (sync/vectors/wire.json)."""
    got = module_blank_page.evaluate("""async (vectors) => {
      const wire = await import('/js/wire.js');
      return {
        records: vectors.records.map((c) => wire.expand(c.compact, vectors.id)),
        partial: vectors.partial.map((c) => wire.applyPartial(c.local, c.compact, vectors.id)),
        echo: vectors.echo.filter((c) => c.expected && !c.expected.partial)
          .map((c) => wire.expand(c.expected.record, vectors.id)),
      };
    }""", WIRE)
    assert got["records"] == [c["expanded"] for c in WIRE["records"]]
    assert got["partial"] == [c["expected"] for c in WIRE["partial"]]
    assert got["echo"] == [c["change"]["record"] for c in WIRE["echo"]
                           if c["expected"] and not c["expected"].get("partial")]
