"""Referral status: derived from the referral's append-only events, the same everywhere.

A referral's status is never written directly.  Each change is an insert-only event
``{id, referral_id, kind: "status" | "note", status, seen_status, hlc, author_role, ...}``;
the status is the fold of the status events sorted by ``(hlc, id)``.  An event whose
transition is not allowed from the status reached so far (say a withdrawal that arrives
after the person was already served) stays in the history, flagged with a reason, and is
not applied.  Sorting first makes the result independent of the order in which events
arrived.

``seen_status`` is the status the writer's copy showed when the event was made (None: not
known, as for events recorded before it existed).  Two rules use it, so that a wrong clock
cannot reorder what happened at the desk:

* an event whose ``seen_status`` is not the status reached so far was made without
  knowing of a change: it is flagged ``status_changed``, not applied;
* a village withdrawal (``dibatalkan`` by a role of ``WITHDRAWING_ROLES``) yields to a
  desk event (any other role) that comes after it in the fold and did not see it (its
  ``seen_status`` is given and is not ``dibatalkan``): the desk acted on the referral
  without knowing of the withdrawal, so the withdrawal is flagged ``status_changed``
  and the fold is run again without it.  The desk's actual order stands, whatever the
  withdrawal's clock.

``author_role`` must be set by the server from the authenticated account, never taken
from the client's word.
"""

from __future__ import annotations

from collections.abc import Iterable

# A referral that is still only on the phone; the server never sees this status.
DRAFT = "draf"
DRAFT_LABEL = "Draf"

STATUSES = (
    "terkirim",
    "diterima",
    "dijadwalkan",
    "dilayani",
    "dirujuk_lanjut",
    "selesai",
    "tidak_hadir",
    "dikembalikan",
    "dibatalkan",
)

STATUS_LABELS = {
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

#: Statuses after which nothing more happens.
TERMINAL = frozenset({"selesai", "dibatalkan"})
#: Closed for lists and reports; a no-show can still be given a new appointment.
CLOSED = frozenset({"selesai", "tidak_hadir", "dibatalkan"})

#: Allowed transitions; ``None`` is "no status yet": the first event must be terkirim.
#: Self-transitions are listed where repeating means something: a new appointment, another
#: service session, a forward to a second partner.  ``dikembalikan`` is a partner handing
#: the referral back to the LTSA desk, which then takes it up as if newly received.
TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"terkirim"}),
    "terkirim": frozenset({"diterima", "dijadwalkan", "dilayani", "dirujuk_lanjut", "dibatalkan"}),
    "diterima": frozenset(
        {"dijadwalkan", "dilayani", "dirujuk_lanjut", "dikembalikan", "dibatalkan"}
    ),
    "dijadwalkan": frozenset(
        {"dijadwalkan", "dilayani", "dirujuk_lanjut", "tidak_hadir", "dikembalikan", "dibatalkan"}
    ),
    "dilayani": frozenset({"dilayani", "dijadwalkan", "dirujuk_lanjut", "selesai", "dikembalikan"}),
    "dirujuk_lanjut": frozenset(
        {"dirujuk_lanjut", "diterima", "dijadwalkan", "dilayani", "selesai", "tidak_hadir",
         "dikembalikan", "dibatalkan"}
    ),
    "tidak_hadir": frozenset({"dijadwalkan", "dikembalikan"}),
    "dikembalikan": frozenset(
        {"diterima", "dijadwalkan", "dilayani", "dirujuk_lanjut", "selesai", "dibatalkan"}
    ),
    "selesai": frozenset(),
    "dibatalkan": frozenset(),
}

#: Which statuses each role may set (the transition must also be in TRANSITIONS).
ROLE_STATUSES: dict[str, frozenset[str]] = {
    # Villages and community groups send referrals and may withdraw one not yet served.
    "officer": frozenset({"terkirim", "dibatalkan"}),
    "community": frozenset({"terkirim", "dibatalkan"}),
    # The LTSA desk runs the referral; withdrawing is the sender's decision, not theirs, and
    # handing back is the partner's (the desk takes a referral back by acting on it).
    "ltsa": frozenset(STATUSES) - {"dibatalkan", "dikembalikan"},
    # Partners (SBMI, WCC) act only on referrals forwarded to them and not handed back; they
    # do what the desk does but forward to another partner, and may hand back to the LTSA.
    "partner": frozenset(
        {"diterima", "dijadwalkan", "dilayani", "selesai", "tidak_hadir", "dikembalikan"}
    ),
    "admin": frozenset(STATUSES),
}

WITHDRAWING_ROLES = frozenset({"officer", "community"})


def can_transition(
    old: str | None,
    new: str,
    role: str,
    *,
    served: bool = False,
    forwarded: bool = False,
) -> bool:
    """True if role may move a referral from old (None: no status yet) to new.

    ``served``: the referral has been in dilayani before (then villages may no longer
    withdraw it).  ``forwarded``: it is with a partner: forwarded (dirujuk_lanjut) and not
    handed back (dikembalikan) since; partners act only then (a current status of
    dirujuk_lanjut counts as forwarded).
    """
    return transition_problem(old, new, role, served=served, forwarded=forwarded) is None


def transition_problem(
    old: str | None,
    new: str,
    role: str,
    *,
    served: bool = False,
    forwarded: bool = False,
) -> str | None:
    """None if the transition is allowed, else the reason code it is not."""
    if new not in STATUS_LABELS:
        return "unknown_status"
    if new not in TRANSITIONS.get(old, frozenset()):
        return "transition_not_allowed"
    if new not in ROLE_STATUSES.get(role, frozenset()):
        return "role_not_allowed"
    if role in WITHDRAWING_ROLES and new == "dibatalkan" and served:
        return "already_served"
    if role == "partner" and not (forwarded or old == "dirujuk_lanjut"):
        return "not_forwarded"
    return None


def event_order(event: dict) -> tuple[str, str]:
    """The sort key of an event: (hlc, id), a total order every replica agrees on."""
    return (event["hlc"], event["id"])


def replay(events: Iterable[dict]) -> list[dict]:
    """The status history: one entry per status event, in order, applied or flagged.

    Each entry is ``{"id", "status", "from", "applied": bool, "reason": str | None}``;
    notes are left out.
    """
    ordered = sorted((e for e in events if e.get("kind") == "status"), key=event_order)
    yielded: set[str] = set()
    while True:
        history, late = _fold(ordered, yielded)
        if late is None:
            return history
        # Each run sets one more withdrawal aside, so this ends.
        yielded.add(late)


def _fold(ordered: list[dict], yielded: set[str]) -> tuple[list[dict], str | None]:
    """One run of the fold; returns (history, None), or (partial, id of a withdrawal that
    yields to a desk event that did not see it)."""
    history = []
    status: str | None = None
    served = forwarded = False
    withdrawal: str | None = None  # the applied village withdrawal that set the status
    for event in ordered:
        new = event.get("status")
        role = event.get("author_role")
        seen = event.get("seen_status")
        if event["id"] in yielded:
            reason = "status_changed"
        else:
            if (withdrawal is not None and role not in WITHDRAWING_ROLES
                    and seen is not None and seen != "dibatalkan"):
                return history, withdrawal
            reason = transition_problem(status, new, role, served=served, forwarded=forwarded)
            if reason is None and seen is not None and seen != status:
                reason = "status_changed"
        history.append(
            {
                "id": event["id"],
                "status": new,
                "from": status,
                "applied": reason is None,
                "reason": reason,
            }
        )
        if reason is None:
            status = new
            served = served or new == "dilayani"
            # With a partner from a forward until a hand-back to the LTSA.
            if new in ("dirujuk_lanjut", "dikembalikan"):
                forwarded = new == "dirujuk_lanjut"
            withdrawing = new == "dibatalkan" and role in WITHDRAWING_ROLES
            withdrawal = event["id"] if withdrawing else None
    return history, None


def derive_status(events: Iterable[dict]) -> tuple[str | None, list[dict]]:
    """Fold a referral's events into (status, flagged).

    ``status`` is None if no terkirim event has arrived yet.  ``flagged`` lists the status
    events that were kept but not applied, in order, as ``{"id", "reason"}``.
    """
    status = None
    flagged = []
    for entry in replay(events):
        if entry["applied"]:
            status = entry["status"]
        else:
            flagged.append({"id": entry["id"], "reason": entry["reason"]})
    return status, flagged
