"""The rights of the person (UU PDP Pasal 32, 40-44): what is held about a person, the stop
of processing after consent is withdrawn, the erasure, and the retention period after
which closed records are erased.

A withdrawal or an erasure stops processing for good (`Person.processing_stopped_at`): the
policies refuse every later write about the person (`processing_stopped`), only the LTSA
desk and admins read the records on the server (server/scopes.py KEEPERS), and the person
with their records leaves every phone that could hold them at its next sync: an exit is
recorded for every scope that reads them (docs/sync-protocol.md §12).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field

import sqlalchemy as sa

from sync import sequence

from ..models import AuditEntry
from ..models import ConflictEntry
from ..models import Consent
from ..models import MigrationPlan
from ..models import Person
from ..models import PossibleDuplicate
from ..models import Referral
from ..models import ReferralEvent
from ..models import age_on
from ..models import utcnow
from . import duplicates
from .reports import registration_day

# What an erased person is called from then on.
ERASED_NAME = "(dihapus)"
# Referrals in these statuses are closed: retention runs once all of a person's are.
CLOSED = ("selesai", "dibatalkan")
# Why phones drop the records (the `reason` of `removed` in a pull).
CONSENT_WITHDRAWN = "consent_withdrawn"
ERASED = "erased"
# The free text of each record about the person that an erasure empties, and the value
# it takes ("" where the column holds text, None where it may be empty).
ERASED_FIELDS = {
    Person: {"name": ERASED_NAME, "nik": None, "phone": None, "address": "",
             "birth_date": None},
    Consent: {"guardian_name": None, "guardian_relation": None},
    MigrationPlan: {"agency_name": ""},
    Referral: {"reason": "", "outcome": ""},
    ReferralEvent: {"note": "", "outcome": ""},
}


@dataclass
class Held:
    """Every record held about one person, across organisations."""

    person: Person
    consents: list[Consent] = field(default_factory=list)
    plans: list[MigrationPlan] = field(default_factory=list)
    referrals: list[Referral] = field(default_factory=list)
    events: dict[str, list[ReferralEvent]] = field(default_factory=dict)
    pairs: list[PossibleDuplicate] = field(default_factory=list)

    def synced(self) -> list:
        """The person's synced rows: the person, consents, plans, referrals, events."""
        events = [e for r in self.referrals for e in self.events.get(r.id, [])]
        return [self.person, *self.consents, *self.plans, *self.referrals, *events]

    def ids(self) -> list[str]:
        return [row.id for row in self.synced()]


def held(session, person: Person) -> Held:
    """What is held about `person`, whoever recorded it; deleted records too (phones keep
    their tombstones with the values, and an erasure must reach them)."""
    def rows(model, column, value):
        return list(session.execute(
            sa.select(model).where(column == value)
            .order_by(model.created_at, model.id)).scalars())

    out = Held(person=person, consents=rows(Consent, Consent.person_id, person.id),
               plans=rows(MigrationPlan, MigrationPlan.person_id, person.id),
               referrals=rows(Referral, Referral.person_id, person.id),
               pairs=duplicates.pairs_of(session, person))
    for referral in out.referrals:
        out.events[referral.id] = sorted(
            rows(ReferralEvent, ReferralEvent.referral_id, referral.id), key=lambda e: e.hlc)
    return out


def conflicts_about(session, record_ids: list[str]) -> list[ConflictEntry]:
    """The conflict log's entries about these records."""
    return list(session.execute(
        sa.select(ConflictEntry).where(ConflictEntry.record_id.in_(record_ids))
        .order_by(ConflictEntry.created_at, ConflictEntry.id)).scalars())


def audit_about(session, person: Person, record_ids: list[str]) -> list[AuditEntry]:
    """Who read, changed or exported the person's data: the entries naming one of the
    records, and those of list reads (no record named) whose detail names the person."""
    named = AuditEntry.entity_id.in_(record_ids)
    listed = sa.and_(AuditEntry.entity_id.is_(None),
                     sa.cast(AuditEntry.detail, sa.Text).contains(person.id, autoescape=True))
    return list(session.execute(
        sa.select(AuditEntry).where(sa.or_(named, listed))
        .order_by(AuditEntry.at, AuditEntry.id)).scalars())


def phone_scopes(held_: Held) -> set[str]:
    """Every scope whose phones could hold the person's records: the desa and community
    group of the person and of each referral, the partner each referral is with, and the
    roles that read every referral (sync.engine.exit_scopes)."""
    person = held_.person
    scopes = {f"desa:{person.desa_code}", "role:admin"}
    if person.community_group_id:
        scopes.add(f"group:{person.community_group_id}")
    for referral in held_.referrals:
        scopes.update({f"desa:{referral.desa_code}", "role:ltsa"})
        if referral.community_group_id:
            scopes.add(f"group:{referral.community_group_id}")
        if referral.assigned_organisation_id is not None:
            scopes.add(f"organisation:{referral.assigned_organisation_id}")
    return scopes


def stop_processing(session, held_: Held, reason: str, user_id: int | None,
                    now: dt.datetime | None = None) -> bool:
    """Stop processing the person for good, close their open possible-duplicate pairs (no
    merge may carry their records on) and send their records off every phone; True if it
    stopped now, False if it had stopped before (the phones were told then)."""
    person = held_.person
    if person.processing_stopped_at is not None:
        return False
    now = now or utcnow()
    person.processing_stopped_at = now
    for pair in held_.pairs:
        if pair.status == "open":
            pair.status, pair.resolved_at, pair.resolved_by_id = "closed", now, user_id
    sequence.leave(session, [*held_.synced(), *held_.pairs], phone_scopes(held_), reason)
    return True


def erase(session, held_: Held, user_id: int | None, now: dt.datetime | None = None) -> None:
    """Remove the person's personal fields and the free text of their records and the
    conflict log's entries about them, and stop processing them; keep what the reports
    count (sex, desa, migration status, the child flag of referrals, and the age on the
    day of registration in place of the birth date).

    Written directly, not as mutations: the policies refuse every write about a person
    whose processing stopped, events are insert-only and withdrawn consents final, and no
    phone holds or may write these records any more. The field clocks stay, so the reports
    find the day of registration in them as before.
    """
    now = now or utcnow()
    person = held_.person
    if person.erased_at is not None:
        return
    if person.birth_date is not None:
        day = registration_day(person.field_clocks, person.created_at)
        person.registration_age = age_on(person.birth_date, day)
    for consent in held_.consents:
        if consent.withdrawn_at is None:
            consent.withdrawn_at = now
    for row in held_.synced():
        for name, value in ERASED_FIELDS[type(row)].items():
            setattr(row, name, value)
    for entry in conflicts_about(session, held_.ids()):
        session.delete(entry)
    stop_processing(session, held_, ERASED, user_id, now)
    person.erased_at = now


def with_merged(session, person: Person) -> list[Person]:
    """The person and the persons merged into them (archived records of the same human)."""
    return [person, *session.execute(
        sa.select(Person).where(Person.merged_into_id == person.id)
        .order_by(Person.id)).scalars()]


def erase_person(session, person: Person, user_id: int | None) -> list[str]:
    """Erase the person and the persons merged into them; returns the ids of every record
    erased (for the audit log, which holds ids only)."""
    ids = []
    for one in with_merged(session, person):
        held_ = held(session, one)
        erase(session, held_, user_id)
        ids += held_.ids()
    return ids


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day and time `months` calendar months earlier (the month's last day where
    it is shorter)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last))


def due_for_erasure(session, now: dt.datetime, months: int) -> list[Person]:
    """The persons whose retention period has run out: archived, or their processing
    stopped, at least `months` ago; or with every referral closed (or none) and no change
    of them or their records for that long."""
    cutoff = months_before(now, months)
    stopped = sa.or_(Person.archived_at < cutoff, Person.processing_stopped_at < cutoff)
    referrals = sa.select(Referral.id).where(Referral.person_id == Person.id)
    recent = [
        referrals.where(sa.or_(Referral.status.not_in(CLOSED), Referral.updated_at >= cutoff)),
        sa.select(Consent.id).where(Consent.person_id == Person.id,
                                    Consent.updated_at >= cutoff),
        sa.select(MigrationPlan.id).where(MigrationPlan.person_id == Person.id,
                                          MigrationPlan.updated_at >= cutoff),
        sa.select(ReferralEvent.id).where(ReferralEvent.referral_id.in_(referrals),
                                          ReferralEvent.created_at >= cutoff),
    ]
    closed = sa.and_(Person.updated_at < cutoff, *(sa.not_(q.exists()) for q in recent))
    return list(session.execute(
        sa.select(Person).where(Person.erased_at.is_(None), Person.deleted_hlc.is_(None),
                                sa.or_(stopped, closed))
        .order_by(Person.created_at, Person.id)).scalars())
