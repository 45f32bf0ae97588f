"""The compact wire form and the echo rule (sync/wire.py) pass sync/vectors/wire.json; the
PWA's js/wire.js passes the same file in tests/browser/test_merge_vectors.py."""

import json

import pytest

from sync import hlc
from sync import merge
from sync import wire
from tests.test_sync_vectors import VECTOR_DIR

VECTORS = json.loads((VECTOR_DIR / "wire.json").read_text())
KINDS = {"referral_events": {"insert_only": True}}


@pytest.mark.parametrize("case", VECTORS["records"], ids=lambda c: c["note"])
def test_compact_and_expand_are_exact_both_ways(case):
    assert wire.compact(case["expanded"]) == case["compact"]
    assert wire.expand(case["compact"], VECTORS["id"]) == case["expanded"]
    # The wire form carries the record's id once, in the change.
    assert "id" not in case["compact"]


@pytest.mark.parametrize("case", VECTORS["partial"], ids=lambda c: c["note"])
def test_a_partial_change_keeps_the_phones_own_fields(case):
    assert wire.apply_partial(case["local"], case["compact"], VECTORS["id"]) == case["expected"]


@pytest.mark.parametrize("case", VECTORS["echo"], ids=lambda c: c["note"])
def test_the_echo_rule(case):
    own = wire.own_writes(case["mutations"], set(case["handled"]),
                          {int(k): v for k, v in case["clamped"].items()}, KINDS)
    got = wire.elide_echo(dict(case["change"]), case["change"]["record"], own, case["author"])
    assert got == case["expected"]
    if got is not None and got.get("partial"):
        # What the phone holds after the answer: its own acknowledged writes, with the
        # partial change laid over them, is the server's record.
        phone = None
        for m in case["mutations"]:
            if m["mutation_id"] in case["handled"]:
                stamp = case["clamped"].get(str(m["mutation_id"]), m["hlc"])
                fields = {k: v for k, v in m["fields"].items()
                          if k not in wire.NEVER_ELIDED.get(m["entity"], ())}
                phone, _ = merge.apply_mutation(phone, dict(
                    m, fields=fields, hlc=stamp, node=hlc.node_of(stamp), client_id="c",
                    author=case["author"]), KINDS.get(m["entity"], {}))
        held = wire.apply_partial(phone, got["record"], got["id"])
        assert held == case["change"]["record"]
