"""Who reads each synced row, kept in `sync_changes` with each change sequence: the pull
walks that index, (scope, entity, change_seq), in change order for every scope.

A scope key per reader: "desa:<code>" (officers), "creator:<user id>" (a community member
reads what they registered and what is read through it), "role:ltsa" (the desk reads every
referral with its history, and the persons, consents and plans read through referrals),
"organisation:<id>" (a partner reads the referrals forwarded to it and what is read
through them). A consent is read in its person's desa, by its person's registrar, and by
the desk and the organisations that read the person through a referral; a referral event
in its referral's desa, by its referrer, by the desk and by the organisation the referral
is forwarded to. Those scopes are derived here, in one place, at every flush: for each row
that gets a change sequence, and for the rows read through a referral or a person whose
scope columns changed (their entries follow without a new sequence: a phone past them is
sent them again by `sequence.touch`, where the domain does that).

One index for every scope, not an index (scope column, change_seq) per table: PostgreSQL
without statistics estimates an equality on one column to match a few rows and sorts
them all (a big desa, a big organisation), where on (scope, entity) it walks in order.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm.attributes import get_history

from .models import Consent
from .models import MigrationPlan
from .models import OutreachVisit
from .models import Person
from .models import Referral
from .models import ReferralEvent
from .models import SyncChange

LTSA = "role:ltsa"
# Rows read through their person; rows read through their referral.
THROUGH_PERSON = (Consent, MigrationPlan)
# The columns of a person and of a referral that decide who reads the rows through them.
PERSON_SCOPE = ("desa_code", "created_by_id")
REFERRAL_SCOPE = ("person_id", "desa_code", "created_by_id", "assigned_organisation_id")


def desa_scope(code) -> str:
    return f"desa:{code}"


def creator_scope(user_id) -> str:
    return f"creator:{user_id}"


def organisation_scope(organisation_id) -> str:
    return f"organisation:{organisation_id}"


# get_history, not inspect(obj).attrs: that builds a state for every attribute at each call.
def _changed(inserted, obj, names) -> bool:
    return obj in inserted or any(get_history(obj, name).has_changes() for name in names)


def _stamped(obj) -> bool:
    return bool(get_history(obj, "change_seq").added)


class _Lookup:
    """Persons and referrals as this flush will write them: the session's objects first
    (their values as set, not yet flushed), the database for the rest, in one query each."""

    def __init__(self, session) -> None:
        self.session = session
        self.in_session = {}
        for obj in [*session.identity_map.values(), *session.new]:
            if isinstance(obj, (Person, Referral)):
                self.in_session[(type(obj), obj.id)] = obj

    def persons(self, ids) -> dict:
        out = {pid: self.in_session[(Person, pid)] for pid in ids
               if (Person, pid) in self.in_session}
        missing = [pid for pid in set(ids) if pid not in out]
        for start in range(0, len(missing), 500):
            for row in self.session.execute(
                sa.select(Person.id, Person.desa_code, Person.created_by_id)
                .where(Person.id.in_(missing[start:start + 500]))
            ):
                out[row.id] = row
        return out

    def referrals(self, ids) -> dict:
        out = {rid: self.in_session[(Referral, rid)] for rid in ids
               if (Referral, rid) in self.in_session}
        missing = [rid for rid in set(ids) if rid not in out]
        for start in range(0, len(missing), 500):
            for row in self.session.execute(
                sa.select(Referral.id, Referral.person_id, Referral.desa_code,
                          Referral.created_by_id, Referral.assigned_organisation_id)
                .where(Referral.id.in_(missing[start:start + 500]))
            ):
                out[row.id] = row
        return out

    def referrals_of(self, person_ids) -> dict[str, list]:
        """Each person's referrals, as they will be after this flush."""
        wanted = set(person_ids)
        found = {}
        ordered = sorted(wanted)
        for start in range(0, len(ordered), 500):
            for row in self.session.execute(
                sa.select(Referral.id, Referral.person_id, Referral.assigned_organisation_id)
                .where(Referral.person_id.in_(ordered[start:start + 500]))
            ):
                found[row.id] = row
        for (kind, rid), obj in self.in_session.items():
            if kind is Referral:
                found[rid] = obj  # as set in this session, moved to another person or not
        out: dict[str, list] = {pid: [] for pid in wanted}
        for row in found.values():
            if row.person_id in wanted:
                out[row.person_id].append(row)
        return out


def _through_referrals(referrals: list) -> set[str]:
    scopes = {LTSA} if referrals else set()
    scopes.update(organisation_scope(r.assigned_organisation_id) for r in referrals
                  if r.assigned_organisation_id is not None)
    return scopes


def _owner_scopes(owner) -> set[str]:
    """The desa and the registrar of a person or a referral (a record made by the server
    alone has no registrar)."""
    scopes = {desa_scope(owner.desa_code)} if owner.desa_code is not None else set()
    if owner.created_by_id is not None:
        scopes.add(creator_scope(owner.created_by_id))
    return scopes


def _write_entries(session, flush_context=None) -> None:
    """After the flush wrote the rows (their ids and sequences set; their history, and the
    session's lists of new and changed rows, still as before it)."""
    stamped = [obj for obj in [*session.new, *session.dirty]
               if isinstance(obj, (OutreachVisit, Person, *THROUGH_PERSON, ReferralEvent, Referral))
               and _stamped(obj)]
    if not stamped:
        return
    with session.no_autoflush:
        _write(session, stamped)


def _write(session, stamped: list) -> None:
    lookup = _Lookup(session)
    rows = {(type(obj), obj.id): obj for obj in stamped}
    # Rows read through a person or referral whose scope changed keep their sequence;
    # their entries are written again.
    # session.new builds a new set at each access: read once (per row it made a flush
    # quadratic).
    inserted = session.new
    moved_persons = [obj.id for obj in stamped
                     if isinstance(obj, Person) and obj not in inserted
                     and _changed(inserted, obj, PERSON_SCOPE)]
    moved_referrals = [obj for obj in stamped
                       if isinstance(obj, Referral) and _changed(inserted, obj, REFERRAL_SCOPE)]
    person_ids = set(moved_persons)
    for referral in moved_referrals:
        person_ids.add(referral.person_id)
        history = get_history(referral, "person_id")
        person_ids.update(p for p in history.deleted if p is not None)
    if person_ids:
        ordered = sorted(person_ids)
        for model in (Person, *THROUGH_PERSON):
            key = model.id if model is Person else model.person_id
            for start in range(0, len(ordered), 500):
                for obj in session.execute(
                        sa.select(model).where(key.in_(ordered[start:start + 500]))).scalars():
                    rows.setdefault((model, obj.id), obj)
    if moved_referrals:
        ids = [r.id for r in moved_referrals]
        for obj in session.execute(
                sa.select(ReferralEvent).where(ReferralEvent.referral_id.in_(ids))).scalars():
            rows.setdefault((ReferralEvent, obj.id), obj)
    if not rows:
        return
    through_person = [obj for (model, _), obj in rows.items()
                      if model in (Person, *THROUGH_PERSON)]
    owners = {obj.id if isinstance(obj, Person) else obj.person_id for obj in through_person}
    persons = lookup.persons(owners)
    referrals_of = lookup.referrals_of(owners)
    events = [obj for (model, _), obj in rows.items() if model is ReferralEvent]
    referrals = lookup.referrals({e.referral_id for e in events})
    entries = []
    for (model, record_id), obj in rows.items():
        if obj.change_seq is None:
            continue
        scopes: set[str] = set()
        if model is OutreachVisit:
            scopes = {desa_scope(obj.desa_code)}
        elif model is Referral:
            # The desk reads every referral and its whole history.
            scopes = _owner_scopes(obj) | {LTSA}
            if obj.assigned_organisation_id is not None:
                scopes.add(organisation_scope(obj.assigned_organisation_id))
        elif model is ReferralEvent:
            referral = referrals.get(obj.referral_id)
            if referral is not None:
                scopes = _owner_scopes(referral) | {LTSA}
                if referral.assigned_organisation_id is not None:
                    scopes.add(organisation_scope(referral.assigned_organisation_id))
        else:
            owner = obj.id if model is Person else obj.person_id
            scopes = _through_referrals(referrals_of.get(owner, []))
            person = persons.get(owner)
            if person is not None:
                scopes |= _owner_scopes(person)
        entries.extend({"scope": scope, "entity": model.__tablename__,
                        "change_seq": obj.change_seq, "record_id": record_id}
                       for scope in sorted(scopes))
    table = SyncChange.__table__
    # A row inserted by this flush has no older entries: only the others' are removed.
    by_table: dict[str, list[str]] = {}
    for (model, record_id), obj in rows.items():
        if obj not in inserted:
            by_table.setdefault(model.__tablename__, []).append(record_id)
    for name, ids in by_table.items():
        for start in range(0, len(ids), 500):
            session.execute(table.delete().where(table.c.entity == name,
                                                 table.c.record_id.in_(ids[start:start + 500])))
    if entries:
        session.execute(table.insert(), entries)


def install(session_class: type) -> None:
    """Write the entries at every flush, once the stamped rows are written."""
    if not event.contains(session_class, "after_flush", _write_entries):
        event.listen(session_class, "after_flush", _write_entries)


def backfill(connection) -> None:
    """The entries of every row as stored (the migration that adds the table, a bulk
    load): in set-based SQL, one statement per kind of scope."""
    changes = SyncChange.__table__

    def own(table, scope) -> None:
        connection.execute(changes.insert().from_select(
            ["scope", "entity", "change_seq", "record_id"],
            sa.select(scope, sa.literal(table.name), table.c.change_seq, table.c.id)
            .where(scope.is_not(None))))

    visits = OutreachVisit.__table__
    own(visits, sa.literal("desa:") + visits.c.desa_code)
    for table in (Person.__table__, Referral.__table__):
        own(table, sa.literal("desa:") + table.c.desa_code)
        own(table, sa.literal("creator:") + sa.cast(table.c.created_by_id, sa.String))
    own(Referral.__table__, sa.literal("organisation:")
        + sa.cast(Referral.__table__.c.assigned_organisation_id, sa.String))
    for model in THROUGH_PERSON:
        table = model.__table__
        persons = Person.__table__
        for scope in (sa.literal("desa:") + persons.c.desa_code,
                      sa.literal("creator:") + sa.cast(persons.c.created_by_id, sa.String)):
            connection.execute(changes.insert().from_select(
                ["scope", "entity", "change_seq", "record_id"],
                sa.select(scope, sa.literal(table.name), table.c.change_seq, table.c.id)
                .select_from(table.join(persons, persons.c.id == table.c.person_id))
                .where(scope.is_not(None))))
    referrals = Referral.__table__
    for model in (Person, *THROUGH_PERSON):
        table = model.__table__
        owner = table.c.id if model is Person else table.c.person_id
        connection.execute(changes.insert().from_select(
            ["scope", "entity", "change_seq", "record_id"],
            sa.select(sa.literal(LTSA), sa.literal(table.name), table.c.change_seq, table.c.id)
            .where(sa.select(referrals.c.id).where(referrals.c.person_id == owner).exists())))
        organisation = (sa.literal("organisation:")
                        + sa.cast(referrals.c.assigned_organisation_id, sa.String))
        connection.execute(changes.insert().from_select(
            ["scope", "entity", "change_seq", "record_id"],
            sa.select(organisation, sa.literal(table.name), table.c.change_seq, table.c.id)
            .select_from(table.join(referrals, referrals.c.person_id == owner))
            .where(referrals.c.assigned_organisation_id.is_not(None))
            .distinct()))
    events = ReferralEvent.__table__
    for table in (referrals, events):
        connection.execute(changes.insert().from_select(
            ["scope", "entity", "change_seq", "record_id"],
            sa.select(sa.literal(LTSA), sa.literal(table.name), table.c.change_seq,
                      table.c.id)))
    for scope in (sa.literal("desa:") + referrals.c.desa_code,
                  sa.literal("creator:") + sa.cast(referrals.c.created_by_id, sa.String),
                  sa.literal("organisation:")
                  + sa.cast(referrals.c.assigned_organisation_id, sa.String)):
        connection.execute(changes.insert().from_select(
            ["scope", "entity", "change_seq", "record_id"],
            sa.select(scope, sa.literal(events.name), events.c.change_seq, events.c.id)
            .select_from(events.join(referrals, referrals.c.id == events.c.referral_id))
            .where(scope.is_not(None))))
