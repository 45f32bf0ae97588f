"""Referrals (rujukan) and their histories of events.

The status is never written directly: each change is an event, and the referral's
`status` column is the fold of its events by `sync.referral_status`, the same rules for an
event made online and for one that arrives late from a phone. Online, a transition the
rules do not allow is refused (`check_transition`) instead of being kept flagged.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from sync import engine
from sync import hlc
from sync import referral_status
from sync import sequence

from .. import scopes
from ..errors import Refused
from ..errors import invalid
from ..extensions import db
from ..models import ID_MAX
from ..models import Organisation
from ..models import Person
from ..models import Referral
from ..models import ReferralEvent
from . import consents
from . import notifications
from . import persons
from .common import changed_fields
from .common import is_child
from .common import per_transaction

FIELDS = ("person_id", "services", "reason", "case_category", "urgency", "outcome")
EVENT_FIELDS = ("referral_id", "kind", "status", "note", "organisation_id", "seen_status",
                "appointment_at", "place", "outcome", "audience")
VILLAGE_ROLES = ("officer", "community")
DESK_ROLES = ("ltsa", "partner")
# Who may change which referral fields: the village side describes the need (only until
# the LTSA acts), the desk records what happened.
VILLAGE_FIELDS = frozenset({"person_id", "services", "reason", "case_category", "urgency"})
DESK_FIELDS = frozenset({"outcome", "urgency", "case_category"})

# Why a transition is refused online: (code, Bahasa Indonesia, English).
_TRANSITION_PROBLEMS = {
    "transition_not_allowed": (
        "transition_not_allowed", "Status rujukan tidak dapat berubah dari {old} menjadi {new}.",
        "The referral cannot go from {old_en} to {new_en}."),
    "already_served": (
        "transition_not_allowed", "Rujukan yang sudah dilayani tidak dapat dibatalkan.",
        "A referral that has been served cannot be withdrawn."),
    "not_forwarded": (
        "transition_not_allowed",
        "Mitra hanya menindaklanjuti rujukan yang sudah diteruskan kepadanya.",
        "Partners act only on referrals forwarded to them."),
    "role_not_allowed": (
        "forbidden", "Peran Anda tidak dapat menetapkan status {new}.",
        "Your role cannot set the status {new_en}."),
}


def _label(status: str | None) -> str:
    return referral_status.STATUS_LABELS.get(status, "-") if status else "-"


def events_of(referral: Referral, reader=None) -> list[ReferralEvent]:
    """The referral's events in the order every replica agrees on: (hlc, id); with a
    reader, only those the reader may read (scopes: notes have an audience)."""
    select = sa.select(ReferralEvent).where(ReferralEvent.referral_id == referral.id)
    if reader is not None:
        select = select.where(scopes.readable(reader, ReferralEvent))
    return list(db.session.execute(
        select.order_by(ReferralEvent.hlc, ReferralEvent.id)).scalars())


def _as_dict(event: ReferralEvent) -> dict:
    return {"id": event.id, "kind": event.kind, "status": event.status, "hlc": event.hlc,
            "author_role": event.author_role, "seen_status": event.seen_status}


def ltsa_organisation_id() -> int | None:
    """The desk every referral goes to first: the (first) active LTSA."""
    return db.session.execute(
        sa.select(Organisation.id).where(Organisation.kind == "ltsa", Organisation.is_active)
        .order_by(Organisation.id).limit(1)
    ).scalar_one_or_none()


def check_can_refer(user, person: Person) -> None:
    """The sender may change the person, who is not archived and, where the lawful basis
    is consent, has consented to a referral."""
    scopes.check_referral_create(user, person)
    persons.check_processing(person)
    if person.archived_at is not None:
        raise persons.archived()
    consents.check_purpose(person, consents.REFERRAL_PURPOSE)


def check_village_edit(referral: Referral) -> None:
    """The village side corrects a referral only until the LTSA acts on it."""
    if referral.status != "terkirim":
        raise Refused("conflict", "Rujukan sudah ditindaklanjuti LTSA; tambahkan catatan saja.",
                      "The LTSA has acted on this referral; add a note instead.")


def check_fields(user, referral: Referral, names) -> None:
    """The fields of a referral the user's role may change, and when."""
    names = set(names)
    if user.role in VILLAGE_ROLES:
        allowed = VILLAGE_FIELDS
    elif user.role in DESK_ROLES:
        allowed = DESK_FIELDS
    else:
        allowed = VILLAGE_FIELDS | DESK_FIELDS
    if names - allowed:
        listed = ", ".join(sorted(names - allowed))
        raise Refused("forbidden", f"Peran Anda tidak dapat mengubah: {listed}.",
                      f"Your role cannot change: {listed}.")
    if user.role in VILLAGE_ROLES:
        scopes.check_referral_create(user, referral.person)
    if user.role in VILLAGE_ROLES or names & (VILLAGE_FIELDS - DESK_FIELDS):
        check_village_edit(referral)


def authorize(user, row: Referral | None, values: dict) -> None:
    person = scopes.get_readable(user, Person, values["person_id"])
    if row is None:
        check_can_refer(user, person)
        return
    persons.check_processing(person)
    if row.person_id != values["person_id"]:
        raise invalid("person_id", "Tidak dapat dipindah ke warga lain.",
                      "Cannot move to another person.")
    changed = changed_fields(row, {name: values.get(name) for name in FIELDS})
    if changed:
        check_fields(user, row, changed)


def prepare(session, user, row: Referral, is_new: bool) -> None:
    """A new referral takes its desa, group and child flag from the person and starts
    terkirim at the LTSA; a referral moved to the person kept by a merge (the only move
    the policies allow, server.domain.duplicates) takes them from that person."""
    moved = not is_new and sa.inspect(row).attrs.person_id.history.has_changes()
    if not (is_new or moved):
        return
    person = engine.get_row(session, Person, row.person_id)
    row.desa_code = person.desa_code
    row.community_group_id = person.community_group_id
    row.is_child = bool(is_child(person.birth_date))
    if moved:
        return
    row.status = "terkirim"
    row.assigned_organisation_id = per_transaction(session, "jangkau_ltsa_id",
                                                    ltsa_organisation_id)


def first_event_id(referral_id: str) -> str:
    """The id of a referral's first event follows from the referral's: a retried create,
    online or from a phone, finds it instead of adding a second one."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"jangkau:referral:{referral_id}:terkirim"))


def after_write(session, user, row: Referral, is_new: bool) -> None:
    """A new referral gets its first event, terkirim, and brings its person (with consents
    and plans) into the LTSA's scope."""
    if not is_new:
        return
    batch = engine.BatchRows.current(session)
    person = engine.get_row(session, Person, row.person_id)
    # Read before anything is added, so that refresh_referral's query flushes the new event
    # and the touched rows together (a flush per referral fewer). In a push batch the
    # persons are sent again at its end, all at once.
    entering = persons.person_records(session, person) if batch is None else None
    event_id = first_event_id(row.id)
    event = _first_event(session, batch, event_id)
    created = event is None
    if created:
        stamp = row.field_clocks.get("person_id") or hlc.now(engine.SERVER_NODE)
        event = ReferralEvent(id=event_id, referral_id=row.id, kind="status", status="terkirim",
                              note="", author_role=user.role, hlc=stamp, created_by_id=user.id)
        engine.stamp_server_write(event, EVENT_FIELDS, str(user.id), stamp=stamp)
        session.add(event)
        engine.BatchRows.note_added(session, "referral_events", event_id, event)
    # The LTSA now sees the person through this referral: send the person again.
    if batch is None:
        sequence.touch(entering)
    else:
        persons.enter_at_end(session, batch, person.id)
    # A referral new in a batch has no history but the event just made: the batch found no
    # row of it, and an event of a referral no one can read is refused.
    refresh_referral(session, row, events=[event] if created and batch is not None else None)
    notifications.referral_sent(session, user, row)


def _first_event(session, batch, event_id: str) -> ReferralEvent | None:
    """The first event, if stored already (a retried create); in a push batch looked up
    once for every new referral of the batch."""
    if batch is None:
        return session.get(ReferralEvent, event_id)
    added = batch.added.get((ReferralEvent, event_id))
    if added is not None and added in session:
        return added
    stored = batch.cache.get("jangkau_first_events")
    if stored is None:
        ids = sorted({first_event_id(m["id"]) for m in batch.mutations
                      if m["entity"] == "referrals"})
        stored = {}
        with session.no_autoflush:
            for start in range(0, len(ids), 500):
                stored.update((event.id, event) for event in session.execute(
                    sa.select(ReferralEvent).where(ReferralEvent.id.in_(ids[start:start + 500]))
                ).scalars())
        batch.cache["jangkau_first_events"] = stored
    return stored.get(event_id)


# Events -----------------------------------------------------------------------------------

def check_organisation(organisation_id: int | None) -> None:
    """An event names a known, active partner organisation, if any (a referral goes back to
    the LTSA by a hand-back, dikembalikan, not by a forward)."""
    if organisation_id is None:
        return
    # An id beyond any id column is no organisation (and PostgreSQL could not look it up).
    in_range = -ID_MAX - 1 <= organisation_id <= ID_MAX
    organisation = db.session.get(Organisation, organisation_id) if in_range else None
    if organisation is None or not organisation.is_active:
        raise invalid("organisation_id", "Organisasi tidak dikenal atau tidak aktif.",
                      "Unknown or inactive organisation.")
    if organisation.kind == "ltsa":
        raise invalid("organisation_id", "Pilih organisasi mitra, bukan LTSA.",
                      "Choose a partner organisation, not the LTSA.")


def authorize_event(user, row, values: dict) -> None:
    """Anyone who may read the referral adds to its history; a status the role may not set
    is kept in the history and flagged, not applied (sync.referral_status). A forward to a
    partner needs the person's consent to it, like the referral itself."""
    referral = scopes.get_readable(user, Referral, values["referral_id"])
    persons.check_processing(referral.person)
    check_organisation(values.get("organisation_id"))
    if values.get("kind") == "status" and values.get("status") == "dirujuk_lanjut":
        consents.check_purpose(referral.person, consents.PARTNER_PURPOSE)


def screen_event(user, row: ReferralEvent | None, sent: dict) -> bool:
    """An event is insert-only: an insert of an id that exists is a retry when it says the
    same (skipped), and refused when it says anything else; the stored event never changes."""
    if row is None:
        return False
    differs = sorted(name for name in EVENT_FIELDS
                     if not _same_value(getattr(row, name), sent.get(name)))
    if not differs:
        return True
    raise Refused("id_taken", fields={name: [{
        "id": "ID ini sudah dipakai riwayat lain; isinya tidak dapat diubah.",
        "en": "This id is used by another event; its content cannot change."}]
        for name in differs})


def online_event(referral: Referral, data: dict) -> dict:
    """An event made online: the writer sees the referral's current status (unless it
    names an older one it saw), which is what lets a desk action made online outrank a
    village withdrawal stamped earlier that the desk had not seen."""
    return data | {"referral_id": referral.id,
                   "seen_status": data.get("seen_status") or referral.status}


def check_transition(user, referral: Referral, values: dict) -> None:
    """Online, a status change the rules do not allow from the history so far is refused
    (the sync keeps such a late event flagged instead)."""
    if values["kind"] != "status":
        return
    history = [_as_dict(e) for e in events_of(referral)]
    stamp = hlc.now(engine.SERVER_NODE, last=max((e["hlc"] for e in history), default=None))
    new = {"id": "", "kind": "status", "status": values.get("status"), "hlc": stamp,
           "author_role": user.role, "seen_status": values.get("seen_status")}
    status = values.get("status")
    outcome = referral_status.replay([*history, new])[-1]
    if outcome["applied"]:
        return
    reason = outcome["reason"]
    code, id_text, en_text = _TRANSITION_PROBLEMS.get(
        reason, _TRANSITION_PROBLEMS["transition_not_allowed"])
    old = outcome["from"]
    names = {"old": _label(old), "new": _label(status), "old_en": old or "-",
             "new_en": status}
    raise Refused(code, id_text.format(**names), en_text.format(**names), reason=reason)


def prepare_event(session, user, row: ReferralEvent, is_new: bool) -> None:
    if is_new:
        row.author_role = user.role
        row.hlc = row.field_clocks.get("kind") or max(row.field_clocks.values())


def after_event(session, user, row: ReferralEvent, is_new: bool) -> None:
    referral = engine.get_row(session, Referral, row.referral_id)
    refresh_referral(session, referral)
    if is_new:
        notifications.event_applied(session, user, referral, row)


def refresh_referral(session, referral: Referral,
                     events: list[ReferralEvent] | None = None) -> None:
    """Derive the referral's status, assignment, latest appointment, first desk action and
    the outcome given on closing from its whole history (`events`, when the caller knows
    it is all of it)."""
    if events is None:
        events = list(session.execute(
            sa.select(ReferralEvent).where(ReferralEvent.referral_id == referral.id)
        ).scalars())
    history = referral_status.replay([_as_dict(e) for e in events])
    by_id = {e.id: e for e in events}
    status = None
    ltsa = assigned = per_transaction(session, "jangkau_ltsa_id", ltsa_organisation_id)
    appointment, closing = None, None
    for entry in history:
        event = by_id[entry["id"]]
        flagged = not entry["applied"]
        if event.flagged != flagged:
            event.flagged = flagged
            event.flag_reason = entry["reason"]
        if entry["applied"]:
            status = entry["status"]
            if status == "dirujuk_lanjut" and event.organisation_id is not None:
                assigned = event.organisation_id
            elif status == "dikembalikan":
                assigned = ltsa
            elif status == "dijadwalkan":
                appointment = event
            elif status == "selesai" and event.outcome:
                closing = event
    if status is not None and referral.status != status:
        referral.status = status
    _set_appointment(referral, appointment)
    _set_first_action(referral, events)
    if closing is not None:
        _take_outcome(referral, closing)
    if referral.assigned_organisation_id != assigned:
        referral.assigned_organisation_id = assigned
        # The partner it was forwarded to is past these rows' sequences: send them again.
        sequence.touch([referral, *persons.person_records(session, referral.person),
                        *events])


def _set_appointment(referral: Referral, event: ReferralEvent | None) -> None:
    """The latest applied appointment stays after a no-show, until the next one."""
    moment = event.appointment_at if event is not None else None
    place = event.place if event is not None else ""
    if not _same_moment(referral.appointment_at, moment):
        referral.appointment_at = moment
    if referral.appointment_place != place:
        referral.appointment_place = place


def _set_first_action(referral: Referral, events) -> None:
    """When the desk (LTSA or partner staff) first acted: its earliest event, a status
    change or a note, at the time of its clock (an action made offline counts when it was
    made); the same first action as the reports' response time (domain.reports)."""
    clocks = [e.hlc for e in events if e.author_role in DESK_ROLES]
    moment = (dt.datetime.fromtimestamp(hlc.wall_of(min(clocks)) / 1000, dt.UTC)
              if clocks else None)
    if not _same_moment(referral.first_action_at, moment):
        referral.first_action_at = moment


def _take_outcome(referral: Referral, event: ReferralEvent) -> None:
    """The outcome given on closing is the referral's `outcome`, as a write at the event's
    clock: a later correction of the field (a higher clock) stays."""
    current = (referral.field_clocks or {}).get("outcome")
    if current is not None and current >= event.hlc:
        return
    referral.outcome = event.outcome
    engine.stamp_server_write(referral, ["outcome"], str(event.created_by_id or ""),
                              stamp=event.hlc)


def _same_value(stored, sent) -> bool:
    if isinstance(stored, dt.datetime) or isinstance(sent, dt.datetime):
        return _same_moment(stored, sent)
    return stored == sent


def _same_moment(a: dt.datetime | None, b: dt.datetime | None) -> bool:
    # SQLite hands back naive datetimes; everything stored is UTC.
    def utc(moment):
        if moment is None or moment.tzinfo:
            return moment
        return moment.replace(tzinfo=dt.UTC)
    return utc(a) == utc(b)
