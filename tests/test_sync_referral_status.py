"""sync.referral_status: the transitions table, role rules and the order-free fold."""

import itertools

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from sync import hlc
from sync import referral_status as rs

T = 1_767_225_600_000
ROLES = ("officer", "community", "ltsa", "partner", "admin")


def ev(num, sec, status, role, kind="status", node="n", seen=None):
    return {
        "id": f"e{num:03d}",
        "referral_id": "r1",
        "kind": kind,
        "status": status,
        "hlc": hlc.encode(T + sec * 1000, 0, node),
        "author_role": role,
        "seen_status": seen,
    }


def test_labels_are_bahasa_indonesia():
    assert rs.STATUS_LABELS == {
        "terkirim": "Terkirim",
        "diterima": "Diterima",
        "dijadwalkan": "Dijadwalkan",
        "dilayani": "Sedang dilayani",
        "dirujuk_lanjut": "Dirujuk ke mitra",
        "selesai": "Selesai",
        "tidak_hadir": "Tidak hadir",
        "dikembalikan": "Dikembalikan ke LTSA",
        "dibatalkan": "Dibatalkan",
    }
    assert tuple(rs.STATUS_LABELS) == rs.STATUSES
    assert rs.DRAFT not in rs.STATUS_LABELS  # a draft never leaves the phone


def test_transitions_table_is_closed_over_the_statuses():
    assert set(rs.TRANSITIONS) == set(rs.STATUSES) | {None}
    for targets in rs.TRANSITIONS.values():
        assert targets <= set(rs.STATUSES)
    assert rs.TRANSITIONS[None] == {"terkirim"}
    for terminal in rs.TERMINAL:
        assert rs.TRANSITIONS[terminal] == frozenset()
    assert rs.TRANSITIONS["tidak_hadir"] == {"dijadwalkan", "dikembalikan"}
    assert rs.TERMINAL < rs.CLOSED
    # Nothing leads back to terkirim: a referral is sent once.
    assert all("terkirim" not in t for s, t in rs.TRANSITIONS.items() if s is not None)


def test_every_status_is_reachable_from_terkirim():
    seen, todo = {"terkirim"}, ["terkirim"]
    while todo:
        for nxt in rs.TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(rs.STATUSES)


@pytest.mark.parametrize(
    ("old", "new", "role", "kwargs", "allowed"),
    [
        (None, "terkirim", "officer", {}, True),
        (None, "terkirim", "community", {}, True),
        (None, "terkirim", "partner", {}, False),
        (None, "diterima", "ltsa", {}, False),
        ("terkirim", "dibatalkan", "officer", {}, True),
        ("dijadwalkan", "dibatalkan", "community", {}, True),
        ("dijadwalkan", "dibatalkan", "officer", {"served": True}, False),
        ("dilayani", "dibatalkan", "officer", {}, False),
        ("terkirim", "diterima", "officer", {}, False),
        ("terkirim", "diterima", "ltsa", {}, True),
        ("terkirim", "dibatalkan", "ltsa", {}, False),
        ("dijadwalkan", "tidak_hadir", "ltsa", {}, True),
        ("tidak_hadir", "dijadwalkan", "ltsa", {}, True),
        ("tidak_hadir", "dilayani", "ltsa", {}, False),
        ("selesai", "dilayani", "admin", {}, False),
        ("dibatalkan", "terkirim", "admin", {}, False),
        ("terkirim", "dibatalkan", "admin", {}, True),
        ("dirujuk_lanjut", "dilayani", "partner", {}, True),
        ("dirujuk_lanjut", "tidak_hadir", "partner", {}, True),
        ("terkirim", "dilayani", "partner", {}, False),
        ("dilayani", "selesai", "partner", {"forwarded": True}, True),
        ("dilayani", "selesai", "partner", {}, False),
        ("dirujuk_lanjut", "dirujuk_lanjut", "partner", {}, False),
        # Partners do what the desk does on a referral forwarded to them, but forward.
        ("dirujuk_lanjut", "diterima", "partner", {}, True),
        ("diterima", "dijadwalkan", "partner", {"forwarded": True}, True),
        ("tidak_hadir", "dijadwalkan", "partner", {"forwarded": True}, True),
        ("dijadwalkan", "dirujuk_lanjut", "partner", {"forwarded": True}, False),
        # Handing back to the LTSA is the partner's (and admin's) alone.
        ("dilayani", "dikembalikan", "partner", {"forwarded": True}, True),
        ("dirujuk_lanjut", "dikembalikan", "partner", {}, True),
        ("diterima", "dikembalikan", "partner", {}, False),
        ("dirujuk_lanjut", "dikembalikan", "ltsa", {}, False),
        ("dirujuk_lanjut", "dikembalikan", "officer", {}, False),
        ("dirujuk_lanjut", "dikembalikan", "admin", {}, True),
        ("terkirim", "dikembalikan", "partner", {"forwarded": True}, False),
        ("dikembalikan", "diterima", "ltsa", {}, True),
        ("dikembalikan", "dirujuk_lanjut", "ltsa", {}, True),
        ("dikembalikan", "dibatalkan", "officer", {}, True),
        ("dikembalikan", "dilayani", "partner", {}, False),
        ("terkirim", "diterima", "stranger", {}, False),
        ("terkirim", "hilang", "admin", {}, False),
    ],
)
def test_can_transition(old, new, role, kwargs, allowed):
    assert rs.can_transition(old, new, role, **kwargs) is allowed


def test_reasons():
    assert rs.transition_problem("terkirim", "hilang", "admin") == "unknown_status"
    assert rs.transition_problem("selesai", "dilayani", "ltsa") == "transition_not_allowed"
    assert rs.transition_problem("terkirim", "diterima", "officer") == "role_not_allowed"
    assert rs.transition_problem("diterima", "dibatalkan", "officer", served=True) == (
        "already_served"
    )
    assert rs.transition_problem("terkirim", "dilayani", "partner") == "not_forwarded"


def test_admin_may_set_every_status_somewhere_and_ltsa_never_withdraws():
    for status in rs.STATUSES:
        assert any(rs.can_transition(old, status, "admin") for old in rs.TRANSITIONS)
        assert not rs.can_transition("terkirim", "dibatalkan", "ltsa")


def test_derive_status_happy_path_and_notes():
    events = [
        ev(1, 0, "terkirim", "officer"),
        ev(2, 10, "diterima", "ltsa"),
        ev(3, 15, None, "ltsa", kind="note"),
        ev(4, 20, "dijadwalkan", "ltsa"),
        ev(5, 30, "dilayani", "ltsa"),
        ev(6, 40, "selesai", "ltsa"),
    ]
    assert rs.derive_status(events) == ("selesai", [])
    history = rs.replay(events)
    assert [e["id"] for e in history] == ["e001", "e002", "e004", "e005", "e006"]
    assert [e["from"] for e in history] == [None, "terkirim", "diterima", "dijadwalkan", "dilayani"]


def test_no_events_means_no_status():
    assert rs.derive_status([]) == (None, [])


def test_status_before_the_sent_event_arrives_is_flagged_until_it_does():
    diterima = ev(2, 10, "diterima", "ltsa")
    assert rs.derive_status([diterima]) == (
        None,
        [{"id": "e002", "reason": "transition_not_allowed"}],
    )
    assert rs.derive_status([diterima, ev(1, 0, "terkirim", "officer")]) == ("diterima", [])


def test_late_withdrawal_is_flagged_and_later_events_still_apply():
    events = [
        ev(1, 0, "terkirim", "officer"),
        ev(2, 10, "dilayani", "ltsa"),
        ev(3, 20, "dibatalkan", "officer"),
        ev(4, 30, "selesai", "ltsa"),
    ]
    status, flagged = rs.derive_status(events)
    assert status == "selesai"
    assert flagged == [{"id": "e003", "reason": "transition_not_allowed"}]


def test_withdrawal_after_a_served_referral_got_a_follow_up_is_flagged():
    events = [
        ev(1, 0, "terkirim", "community"),
        ev(2, 10, "dilayani", "ltsa"),
        ev(3, 20, "dijadwalkan", "ltsa"),
        ev(4, 30, "dibatalkan", "community"),
    ]
    assert rs.derive_status(events) == ("dijadwalkan", [{"id": "e004", "reason": "already_served"}])


def test_partner_acts_only_after_forwarding():
    events = [
        ev(1, 0, "terkirim", "officer"),
        ev(2, 5, "dilayani", "partner"),
        ev(3, 10, "dirujuk_lanjut", "ltsa"),
        ev(4, 20, "dilayani", "partner"),
        ev(5, 30, "selesai", "partner"),
    ]
    assert rs.derive_status(events) == ("selesai", [{"id": "e002", "reason": "not_forwarded"}])


def test_a_partner_hands_back_and_acts_no_more_until_forwarded_again():
    events = [
        ev(1, 0, "terkirim", "officer"),
        ev(2, 10, "dirujuk_lanjut", "ltsa"),
        ev(3, 20, "dijadwalkan", "partner"),
        ev(4, 30, "tidak_hadir", "partner"),
        ev(5, 40, "dikembalikan", "partner"),
        ev(6, 50, "dilayani", "partner"),
        ev(7, 60, "diterima", "ltsa"),
        ev(8, 70, "dirujuk_lanjut", "ltsa"),
        ev(9, 80, "selesai", "partner"),
    ]
    assert rs.derive_status(events) == ("selesai", [{"id": "e006", "reason": "not_forwarded"}])


def test_equal_hlcs_are_ordered_by_event_id():
    same = hlc.encode(T, 0, "n")
    a = dict(ev(1, 0, "terkirim", "officer"), hlc=hlc.encode(T - 1, 0, "n"))
    b = dict(ev(2, 0, "dibatalkan", "officer"), hlc=same)
    c = dict(ev(3, 0, "diterima", "ltsa"), hlc=same)
    assert rs.derive_status([a, c, b]) == (
        "dibatalkan",
        [{"id": "e003", "reason": "transition_not_allowed"}],
    )


event_lists = st.lists(
    st.builds(
        lambda i, sec, status, role, kind, seen: ev(i, sec, status, role, kind=kind, seen=seen),
        st.integers(0, 999),
        st.integers(0, 50),
        st.sampled_from(rs.STATUSES + (None, "hilang")),
        st.sampled_from(ROLES + (None,)),
        st.sampled_from(("status", "status", "status", "note")),
        st.sampled_from((None, None, None) + rs.STATUSES),
    ),
    max_size=12,
    unique_by=lambda e: e["id"],
)


@settings(max_examples=200, deadline=None)
@given(event_lists, st.randoms(use_true_random=False))
def test_derived_status_does_not_depend_on_arrival_order(events, rnd):
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert rs.derive_status(shuffled) == rs.derive_status(events)


@settings(max_examples=200, deadline=None)
@given(event_lists)
def test_every_applied_step_is_an_allowed_transition(events):
    history = rs.replay(events)
    status, served, forwarded = None, False, False
    for entry in history:
        assert entry["from"] == status
        event = _event(events, entry["id"])
        ok = rs.can_transition(
            status, entry["status"], event["author_role"], served=served, forwarded=forwarded
        )
        # Applied: an allowed transition by one who saw the status (or did not say).
        if entry["applied"]:
            assert ok and event["seen_status"] in (None, status)
        else:
            assert not ok or entry["reason"] == "status_changed"
        assert (entry["reason"] is None) is entry["applied"]
        if entry["applied"]:
            status = entry["status"]
            served |= status == "dilayani"
            if status in ("dirujuk_lanjut", "dikembalikan"):
                forwarded = status == "dirujuk_lanjut"
    assert rs.derive_status(events)[0] == status
    assert len(history) == sum(1 for e in events if e["kind"] == "status")


def _event(events, event_id):
    return next(e for e in events if e["id"] == event_id)


# A referral the village sent (terkirim, seen nothing) and what happened next: events as
# (number, second, status, role, seen_status); expected status and flagged events.
SENT = (1, 0, "terkirim", "officer", None)


@pytest.mark.parametrize(("events", "status", "flagged"), [
    # The village withdraws having seen terkirim; by the clocks it comes first, but the desk
    # received and served it without seeing any withdrawal: the withdrawal yields.
    ([SENT, (2, 30, "dibatalkan", "officer", "terkirim"), (3, 60, "diterima", "ltsa", "terkirim"),
      (4, 90, "dilayani", "ltsa", "diterima")],
     "dilayani", [(2, "status_changed")]),
    # The same, with the withdrawal after the desk's events by the clocks.
    ([SENT, (2, 99, "dibatalkan", "officer", "terkirim"), (3, 60, "diterima", "ltsa", "terkirim"),
      (4, 90, "dilayani", "ltsa", "diterima")],
     "dilayani", [(2, "transition_not_allowed")]),
    # Received only: withdrawing from diterima is allowed, but this one saw terkirim.
    ([SENT, (2, 99, "dibatalkan", "officer", "terkirim"), (3, 60, "diterima", "ltsa", "terkirim")],
     "diterima", [(2, "status_changed")]),
    # A withdrawal by one who saw diterima stands.
    ([SENT, (2, 99, "dibatalkan", "officer", "diterima"), (3, 60, "diterima", "ltsa", "terkirim")],
     "dibatalkan", []),
    # The desk saw the withdrawal and still acted (a stale screen): its event is flagged.
    ([SENT, (2, 30, "dibatalkan", "officer", "terkirim"),
      (3, 60, "diterima", "ltsa", "dibatalkan")],
     "dibatalkan", [(3, "transition_not_allowed")]),
    # A desk event that does not say what it saw (an older record) cannot push a withdrawal
    # aside: the clocks decide, as before.
    ([SENT, (2, 30, "dibatalkan", "officer", "terkirim"), (3, 60, "diterima", "ltsa", None)],
     "dibatalkan", [(3, "transition_not_allowed")]),
    # Two withdrawals both yield to a desk that saw neither.
    ([SENT, (2, 10, "dibatalkan", "officer", "terkirim"),
      (3, 20, "dibatalkan", "community", "terkirim"), (4, 60, "diterima", "ltsa", "terkirim")],
     "diterima", [(2, "status_changed"), (3, "status_changed")]),
    # A partner that saw dirujuk_lanjut acts after the desk rescheduled: flagged.
    ([SENT, (2, 10, "dirujuk_lanjut", "ltsa", "terkirim"),
      (3, 20, "dijadwalkan", "ltsa", "dirujuk_lanjut"),
      (4, 30, "dilayani", "partner", "dirujuk_lanjut")],
     "dijadwalkan", [(4, "status_changed")]),
], ids=["withdrawal-clock-first", "withdrawal-clock-last", "received-only", "saw-received",
        "desk-saw-it", "desk-says-nothing", "two-withdrawals", "partner-stale"])
def test_transitions_are_checked_against_the_status_the_writer_saw(events, status, flagged):
    made = [ev(n, sec, st_, role, seen=seen) for n, sec, st_, role, seen in events]
    expected = (status, [{"id": f"e{n:03d}", "reason": reason} for n, reason in flagged])
    for order in itertools.permutations(made):
        assert rs.derive_status(order) == expected
