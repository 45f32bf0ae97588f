"""Referrals on the direct online path: sending one, acting on it, correcting it.

The status is never written directly: each change is an event, and the referral's
`status` column is the fold of its events by `sync.referral_status`, the same rules the
sync applies to events that arrive late from a phone. Online, a transition the rules do
not allow is refused (409, or 403 for a status the role may never set) instead of being
kept flagged.
"""

from __future__ import annotations

import sqlalchemy as sa

from sync import engine
from sync import hlc
from sync import referral_status
from sync import sequence

from . import audit
from . import scopes
from .api.util import stamp_write
from .errors import ApiError
from .extensions import db
from .models import Consent
from .models import MigrationPlan
from .models import Organisation
from .models import Person
from .models import Referral
from .models import ReferralEvent
from .models import User
from .models import new_uuid
from .schemas.records import is_child

EVENT_FIELDS = ("referral_id", "kind", "status", "note", "organisation_id", "seen_status")
VILLAGE_ROLES = ("officer", "community")
DESK_ROLES = ("ltsa", "partner")
# What each side may correct with PATCH; the village side only before the LTSA acts.
VILLAGE_FIELDS = frozenset({"services", "reason", "urgency", "case_category"})
DESK_FIELDS = frozenset({"outcome", "urgency", "case_category"})
# The consent purpose a referral to the LTSA relies on when the lawful basis is consent.
REFERRAL_PURPOSE = "rujukan_ltsa"

_PROBLEMS = {
    "transition_not_allowed": (
        409, "Status rujukan tidak dapat berubah dari {old} menjadi {new}.",
        "The referral cannot go from {old_en} to {new_en}."),
    "already_served": (
        409, "Rujukan yang sudah dilayani tidak dapat dibatalkan.",
        "A referral that has been served cannot be withdrawn."),
    "not_forwarded": (
        409, "Mitra hanya menindaklanjuti rujukan yang sudah diteruskan kepadanya.",
        "Partners act only on referrals forwarded to them."),
    "role_not_allowed": (
        403, "Peran Anda tidak dapat menetapkan status {new}.",
        "Your role cannot set the status {new_en}."),
}


def _invalid(field: str, id_text: str, en_text: str) -> ApiError:
    return ApiError(422, fields={field: [{"id": id_text, "en": en_text}]})


def _label(status: str | None) -> str:
    return referral_status.STATUS_LABELS.get(status, "-") if status else "-"


def events_of(referral: Referral) -> list[ReferralEvent]:
    """The referral's events in the order every replica agrees on: (hlc, id)."""
    return list(db.session.execute(
        sa.select(ReferralEvent).where(ReferralEvent.referral_id == referral.id)
        .order_by(ReferralEvent.hlc, ReferralEvent.id)
    ).scalars())


def _as_dict(event: ReferralEvent) -> dict:
    return {"id": event.id, "kind": event.kind, "status": event.status, "hlc": event.hlc,
            "author_role": event.author_role, "seen_status": event.seen_status}


def _new_event(user: User, referral: Referral, data: dict, after: list[ReferralEvent]
               ) -> ReferralEvent:
    # The server's clock for the event is after every event already in the history, even
    # one from a phone whose clock runs ahead, so the new event is the last one applied.
    last = max((e.hlc for e in after), default=None)
    event = ReferralEvent(
        id=data.get("id") or new_uuid(), referral_id=referral.id, kind=data["kind"],
        status=data.get("status"), note=data.get("note", ""),
        organisation_id=data.get("organisation_id"), author_role=user.role,
        # Online the desk sees the current status (unless it names an older one it saw).
        seen_status=data.get("seen_status") or (referral.status if after else None),
        hlc=hlc.now(engine.SERVER_NODE, last=last), created_by_id=user.id,
    )
    # An event is insert-only: every field carries the insert's clock.
    stamp_write(event, EVENT_FIELDS, user, stamp=event.hlc)
    return event


def has_consent_for_referral(person: Person) -> bool:
    """An active consent covers a referral to the LTSA."""
    consents = db.session.execute(
        sa.select(Consent.purposes).where(Consent.person_id == person.id,
                                          Consent.withdrawn_at.is_(None),
                                          Consent.deleted_hlc.is_(None))
    ).scalars()
    return any(REFERRAL_PURPOSE in purposes for purposes in consents)


def ltsa_organisation_id() -> int | None:
    return db.session.execute(
        sa.select(Organisation.id).where(Organisation.kind == "ltsa", Organisation.is_active)
        .order_by(Organisation.id).limit(1)
    ).scalar_one_or_none()


def person_records(session, person: Person) -> list:
    """A person with their consents and migration plans: what enters a scope with them."""
    consents = session.execute(sa.select(Consent).where(Consent.person_id == person.id))
    plans = session.execute(sa.select(MigrationPlan).where(MigrationPlan.person_id == person.id))
    return [person, *consents.scalars(), *plans.scalars()]


def check_can_refer(user: User, person: Person) -> None:
    """The sender may change the person, who is not archived and, where the lawful basis
    is consent, has consented to a referral."""
    scopes.check_referral_create(user, person)
    if person.archived_at is not None:
        raise ApiError(409, "Warga ini sudah diarsipkan.", "This person is archived.")
    if person.lawful_basis == "persetujuan" and not has_consent_for_referral(person):
        raise _invalid("person_id",
                       "Warga belum memberi persetujuan untuk dirujuk ke LTSA.",
                       "The person has not consented to a referral to the LTSA.")


def check_village_edit(referral: Referral) -> None:
    """The village side corrects a referral only until the LTSA acts on it."""
    if referral.status != "terkirim":
        raise ApiError(409, "Rujukan sudah ditindaklanjuti LTSA; tambahkan catatan saja.",
                       "The LTSA has acted on this referral; add a note instead.")


def create_referral(user: User, data: dict) -> Referral:
    """Send a person to the LTSA.

    The person must be readable (else 404) and changeable (else 403) by the sender; the
    referral takes its desa, group and child flag from the person and starts with a
    `terkirim` event.
    """
    person = scopes.get_readable(user, Person, data["person_id"])
    check_can_refer(user, person)
    referral = Referral(
        id=data.get("id") or new_uuid(), person_id=person.id, desa_code=person.desa_code,
        community_group_id=person.community_group_id, services=data["services"],
        reason=data["reason"], case_category=data["case_category"], urgency=data["urgency"],
        status="terkirim", assigned_organisation_id=ltsa_organisation_id(),
        is_child=bool(is_child(person.birth_date)), created_by_id=user.id,
    )
    db.session.add(referral)
    stamp_write(referral, data, user)
    # No relationship tells the unit of work that the event's row needs the referral's first.
    db.session.flush()
    first = _new_event(user, referral, {"kind": "status", "status": "terkirim"}, [])
    db.session.add(first)
    # The LTSA now sees the person through this referral: send the person again.
    sequence.touch(person_records(db.session, person))
    audit.record("create", "referral", referral.id, {"person_id": person.id})
    return referral


def add_event(user: User, referral: Referral, data: dict) -> ReferralEvent:
    """Append a note or a status change.

    Anyone who can read the referral may add a note. A status change must be allowed by
    `sync.referral_status` for the user's role from the history so far.
    """
    history = events_of(referral)
    event = _new_event(user, referral, data, history)
    organisation = None
    if data.get("organisation_id") is not None:
        organisation = db.session.get(Organisation, data["organisation_id"])
        if organisation is None or not organisation.is_active:
            raise _invalid("organisation_id", "Organisasi tidak dikenal atau tidak aktif.",
                           "Unknown or inactive organisation.")
    if event.kind == "status":
        events = [_as_dict(e) for e in history] + [_as_dict(event)]
        outcome = referral_status.replay(events)[-1]
        if not outcome["applied"]:
            raise _refusal(outcome["reason"], outcome["from"], event.status)
    db.session.add(event)
    db.session.flush()
    refresh_referral(db.session, referral)
    audit.record("create", "referral_event", event.id,
                 {"referral_id": referral.id, "kind": event.kind, "status": event.status})
    return event


def _refusal(reason: str, old: str | None, new: str) -> ApiError:
    status, id_text, en_text = _PROBLEMS.get(reason, _PROBLEMS["transition_not_allowed"])
    names = {"old": _label(old), "new": _label(new), "old_en": old or "-", "new_en": new}
    return ApiError(status, id_text.format(**names), en_text.format(**names), reason=reason)


def update_referral(user: User, referral: Referral, data: dict) -> Referral:
    """Correct a referral: the village side while it is still terkirim, the desk anytime."""
    if user.role in VILLAGE_ROLES:
        allowed = VILLAGE_FIELDS
    elif user.role in DESK_ROLES:
        allowed = DESK_FIELDS
    else:
        allowed = VILLAGE_FIELDS | DESK_FIELDS
    refused = sorted(set(data) - allowed)
    if refused:
        raise ApiError(403, "Peran Anda tidak dapat mengubah: " + ", ".join(refused) + ".",
                       "Your role cannot change: " + ", ".join(refused) + ".")
    if user.role in VILLAGE_ROLES:
        scopes.check_referral_create(user, referral.person)
    village_only = set(data) & (VILLAGE_FIELDS - DESK_FIELDS)
    if user.role in VILLAGE_ROLES or village_only:
        check_village_edit(referral)
    for name, value in data.items():
        setattr(referral, name, value)
    stamp_write(referral, data, user)
    audit.record("update", "referral", referral.id, {"fields": sorted(data)})
    return referral


def refresh_referral(session, referral: Referral) -> None:
    """Derive the referral's status, assignment and flags from its whole history."""
    events = list(session.execute(
        sa.select(ReferralEvent).where(ReferralEvent.referral_id == referral.id)
    ).scalars())
    history = referral_status.replay([_as_dict(e) for e in events])
    by_id = {e.id: e for e in events}
    status = None
    assigned = ltsa_organisation_id()
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
    if status is not None and referral.status != status:
        referral.status = status
    if referral.assigned_organisation_id != assigned:
        referral.assigned_organisation_id = assigned
        # The partner it was forwarded to is past these rows' sequences: send them again.
        sequence.touch([referral, *person_records(session, referral.person),
                        *events])
