"""Who may see and change what: every read and write is filtered here, on the server.

A record outside a user's read scope does not exist for them (404); a record they may read
but not change answers 403.
"""

from __future__ import annotations

import sqlalchemy as sa

from sync import engine
from sync.engine import Walk

from . import change_scopes
from .errors import Refused
from .errors import invalid
from .extensions import db
from .models import CommunityGroup
from .models import Consent
from .models import MigrationPlan
from .models import OutreachVisit
from .models import Person
from .models import Referral
from .models import ReferralEvent
from .models import SyncChange
from .models import User

_FALSE = sa.false()
_TRUE = sa.true()
# Who still reads, on the server only, a person whose processing stopped (consent withdrawn,
# data erased) and their records: the law may require keeping them until the retention
# period ends (UU PDP Pasal 40-44). No one else reads them, and no phone holds them.
KEEPERS = ("admin", "ltsa")


def stopped_persons():
    """The ids of persons whose processing stopped."""
    return sa.select(Person.id).where(Person.processing_stopped_at.is_not(None))


def visits_readable(user: User):
    """Officers see their desa; community members their group's and their own visits.
    The LTSA and partners read no visit (a visit's place and notes are the village's):
    the reports give them visit counts."""
    if user.role == "admin":
        return _TRUE
    if user.role == "officer":
        return OutreachVisit.desa_code == user.desa_code
    if user.role == "community":
        mine = OutreachVisit.created_by_id == user.id
        if user.community_group_id:
            mine = sa.or_(mine, OutreachVisit.community_group_id == user.community_group_id)
        return sa.and_(OutreachVisit.desa_code == user.desa_code, mine)
    return _FALSE


def referrals_readable(user: User):
    """Officers see their desa's referrals, community members their own, LTSA all,
    partners those forwarded to their organisation."""
    if user.role in KEEPERS:
        return _TRUE
    if user.role == "officer":
        clause = Referral.desa_code == user.desa_code
    elif user.role == "community":
        clause = Referral.created_by_id == user.id
    elif user.role == "partner" and user.organisation_id is not None:
        clause = Referral.assigned_organisation_id == user.organisation_id
    else:
        return _FALSE
    return sa.and_(clause, Referral.person_id.not_in(stopped_persons()))


def referral_events_readable(user: User):
    """The events of the referrals one reads; the village side (officers, community) reads
    the status events, its own notes and the desk's notes meant for the village."""
    clause = ReferralEvent.referral_id.in_(sa.select(Referral.id).where(referrals_readable(user)))
    if user.role in ("officer", "community"):
        clause = sa.and_(clause, sa.or_(ReferralEvent.kind == "status",
                                        ReferralEvent.audience == "village",
                                        ReferralEvent.author_role.in_(("officer", "community"))))
    return clause


def persons_readable(user: User):
    """Officers see their desa's persons, community members those they registered;
    LTSA and partners see the persons in the referrals they see. A person whose processing
    stopped only the KEEPERS see."""
    if user.role == "admin":
        return _TRUE
    if user.role == "officer":
        clause = Person.desa_code == user.desa_code
    elif user.role == "community":
        clause = Person.created_by_id == user.id
    elif user.role in ("ltsa", "partner"):
        clause = sa.select(Referral.id).where(
            Referral.person_id == Person.id, referrals_readable(user)
        ).exists()
    else:
        return _FALSE
    if user.role in KEEPERS:
        return clause
    return sa.and_(clause, Person.processing_stopped_at.is_(None))


def community_groups_readable(user: User):
    """Officers and community members see their desa's groups; the others see all of them
    (a group is a name and a desa, no personal data)."""
    if user.role in ("officer", "community"):
        return CommunityGroup.desa_code == user.desa_code
    return _TRUE


def _child_of_person(model, user: User):
    # Through persons_readable: a stopped person's consents and plans go with the person.
    return model.person_id.in_(sa.select(Person.id).where(persons_readable(user)))


def person_stopped(person_id):
    """Whether the person `person_id` (a column of the outer row) stopped processing."""
    # Correlated on the person's key: a probe per row, never a read of every stopped
    # person (which, without statistics, PostgreSQL would do by reading all persons).
    return sa.select(Person.id).where(Person.id == person_id,
                                      Person.processing_stopped_at.is_not(None)).exists()


def on_phones(model):
    """The rows of `model` that phones may hold, whoever the user: none of a person whose
    processing stopped (the KEEPERS read those on the server only)."""
    if model is Person:
        return Person.processing_stopped_at.is_(None)
    if model is ReferralEvent:
        return ~sa.select(Referral.id).where(
            Referral.id == ReferralEvent.referral_id,
            person_stopped(Referral.person_id)).exists()
    if hasattr(model, "person_id"):
        return ~person_stopped(model.person_id)
    return _TRUE


def _held(model, keep=None) -> dict:
    """What a walk leaves out as the page is loaded: a person's own column is tested in
    Python (an index on it could lead PostgreSQL, without statistics, to read every
    person); the probes of `on_phones` by key stay in SQL."""
    if model is Person:
        return {"keep": (lambda row: row.processing_stopped_at is None and keep(row))
                if keep else (lambda row: row.processing_stopped_at is None)}
    held = on_phones(model)
    return {"filter": None if held is _TRUE else held, "keep": keep}


def _own(model, where=None, keep=None) -> Walk:
    return Walk(seq=model.change_seq, id=model.id, where=where, **_held(model, keep))


def _through(model, scope: str, keep=None) -> Walk:
    return Walk(seq=SyncChange.change_seq, id=SyncChange.record_id,
                where=sa.and_(SyncChange.scope == scope,
                              SyncChange.entity == model.__tablename__),
                **_held(model, keep))


def _village_event(row) -> bool:
    # What the village side reads of a referral's history (referral_events_readable).
    return (row.kind == "status" or row.audience == "village"
            or row.author_role in ("officer", "community"))


def pull_walks(user: User, model) -> list[Walk]:
    """How a pull finds, in change order, the rows of `model` that `user` reads: the same
    rows as `readable` (above), each scope walked on the index of sync_changes
    (server/change_scopes.py); an admin's, who reads everything, on change_seq. What
    `on_phones` keeps off phones, and a row filter of a scope (the village's part of a
    referral's history), are left out as the page's rows are loaded (`_held`).
    Each rule here mirrors one above; tests/test_pull_walks.py checks that both give the
    same rows for every role."""
    role = user.role
    if role == "admin":
        return [_own(model)]
    desa = change_scopes.desa_scope(user.desa_code)
    mine = change_scopes.creator_scope(user.id)
    organisation = (change_scopes.organisation_scope(user.organisation_id)
                    if user.organisation_id is not None else None)
    if model is OutreachVisit:
        if role == "officer":
            return [_through(model, desa)]
        if role == "community":
            # Their own and their group's (visits_readable), of the desa's.
            def own_or_group(row) -> bool:
                return row.created_by_id == user.id or bool(
                    user.community_group_id
                    and row.community_group_id == user.community_group_id)
            return [_through(model, desa, own_or_group)]
        return []
    village = _village_event if model is ReferralEvent else None
    if role == "officer":
        return [_through(model, desa, village)]
    if role == "community":
        return [_through(model, mine, village)]
    if role == "ltsa":
        return [_through(model, change_scopes.LTSA)]
    if role == "partner" and organisation is not None:
        return [_through(model, organisation)]
    return []


READABLE = {
    OutreachVisit: visits_readable,
    Person: persons_readable,
    Referral: referrals_readable,
    ReferralEvent: lambda user: referral_events_readable(user),
    Consent: lambda user: _child_of_person(Consent, user),
    MigrationPlan: lambda user: _child_of_person(MigrationPlan, user),
    CommunityGroup: community_groups_readable,
}


def readable(user: User, model):
    """The WHERE clause that limits `model` to what `user` may read."""
    return READABLE[model](user)


def get_readable(user: User, model, record_id: str):
    """The record if the user may read it; 404 otherwise, as if it did not exist."""
    if engine.BatchRows.current(db.session) is not None:
        # In a push batch: the batch's own rows too, without a flush per record.
        record = engine.get_row(db.session, model, str(record_id))
        clause = engine.batch_clause(db.session, (model, user.id),
                                     lambda: readable(user, model))
        if record is None or not engine.readable_here(db.session, model, record, clause):
            raise Refused("not_found", "Data tidak ditemukan.", "Record not found.")
        return record
    record = db.session.execute(
        sa.select(model).where(model.id == str(record_id), readable(user, model))
    ).scalar_one_or_none()
    if record is None:
        raise Refused("not_found", "Data tidak ditemukan.", "Record not found.")
    return record


def _deny(what_id: str, what_en: str):
    raise Refused("forbidden", what_id, what_en)


def check_desa_write(user: User, desa_code: str) -> None:
    """Officers and community members write only in their own desa."""
    if user.role == "admin":
        return
    if user.role not in ("officer", "community"):
        _deny("Peran Anda tidak dapat mengubah data ini.", "Your role cannot change this record.")
    if desa_code != user.desa_code:
        _deny("Anda hanya dapat mencatat data untuk desa Anda sendiri.",
              "You can only record data for your own desa.")


def check_visit_write(user: User, desa_code: str, group_id: str | None,
                      record: OutreachVisit | None = None) -> None:
    """Visits: officers in their desa; community members for their own group."""
    check_desa_write(user, desa_code)
    if user.role == "community":
        if group_id not in (None, user.community_group_id):
            _deny("Anda hanya dapat mencatat kunjungan untuk kelompok Anda.",
                  "You can only record visits for your own group.")
        if record is not None and record.created_by_id != user.id and (
            record.community_group_id != user.community_group_id
        ):
            _deny("Kunjungan ini bukan milik kelompok Anda.", "This visit is not your group's.")


def check_person_write(user: User, desa_code: str, record: Person | None = None) -> None:
    """Persons: officers in their desa; community members those they registered."""
    check_desa_write(user, desa_code)
    if user.role == "community" and record is not None and record.created_by_id != user.id:
        _deny("Anda hanya dapat mengubah warga yang Anda daftarkan.",
              "You can only change persons you registered.")


def check_referral_create(user: User, person: Person) -> None:
    """A referral is made by the village side for a person it may change."""
    check_person_write(user, person.desa_code, person)


def check_lawful_basis(user: User, lawful_basis: str) -> None:
    """Community groups record persons on the basis of consent, never of public task."""
    # UU PDP Pasal 20: community groups rely on explicit consent; public task is the state's.
    if user.role == "community" and lawful_basis != "persetujuan":
        raise invalid("lawful_basis", "Kelompok masyarakat memakai dasar persetujuan.",
                      "Community groups use the persetujuan (consent) basis.")
