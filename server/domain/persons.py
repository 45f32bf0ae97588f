"""Persons (warga): who registers and changes them, and what follows them into a scope."""

from __future__ import annotations

import sqlalchemy as sa

from sync import sequence

from .. import scopes
from ..errors import Refused
from ..errors import invalid
from ..extensions import db
from ..models import Consent
from ..models import MigrationPlan
from ..models import Person
from . import duplicates
from .common import changed_fields


def archived() -> Refused:
    return Refused("archived", "Warga ini sudah diarsipkan.", "This person is archived.")


def stopped() -> Refused:
    return Refused("processing_stopped")


def check_processing(person: Person) -> None:
    """Nothing more is done with a person whose processing stopped (consent withdrawn,
    data erased: UU PDP Pasal 40-44): no edit, no new consent, plan or referral."""
    if person.processing_stopped_at is not None:
        raise stopped()


def check_change(user, person: Person) -> None:
    """The village side changes the persons of its scope (scopes.check_person_write); the
    LTSA desk corrects the persons it reads, at the person's request (UU PDP Pasal 34)."""
    if user.role != "ltsa":
        scopes.check_person_write(user, person.desa_code, person)


def active_consents(person: Person) -> list[Consent]:
    return list(db.session.execute(
        sa.select(Consent).where(Consent.person_id == person.id, Consent.withdrawn_at.is_(None),
                                 Consent.deleted_hlc.is_(None))
    ).scalars())


def writable(user, person_id: str) -> Person:
    """A person the user may read (else not_found) and change (else forbidden), not
    archived (else archived)."""
    person = scopes.get_readable(user, Person, person_id)
    check_change(user, person)
    check_processing(person)
    if person.archived_at is not None:
        raise archived()
    return person


def authorize(user, row: Person | None, values: dict) -> None:
    """Officers register and change persons of their desa, community members those they
    registered, always on the basis of consent; the LTSA desk corrects the persons it reads;
    a move to another desa must be allowed in the old one too; an archived person, or one
    whose processing stopped, is no longer changed."""
    if row is not None:
        check_processing(row)
    if row is None or user.role != "ltsa":
        scopes.check_person_write(user, values["desa_code"], row)
    if row is not None and row.desa_code != values["desa_code"] and user.role != "admin":
        # Moving a person to another desa is an admin's correction, not a phone's.
        scopes.check_desa_write(user, row.desa_code)
    scopes.check_lawful_basis(user, values["lawful_basis"])
    if row is None:
        return
    changed = changed_fields(row, values)
    if row.merged_into_id is not None and changed:
        # Its records are with the person kept; back, it would be a duplicate again.
        raise Refused("archived", "Warga ini sudah digabung ke warga lain dan tidak diubah lagi.",
                      "This person was merged into another and changes no more.")
    if row.archived_at is not None and values.get("archived_at") is not None and (
            changed - {"archived_at"}):
        raise archived()


def check_consent_first(person: Person, lawful_basis: str) -> None:
    """Online, a person moves to the basis of consent only once a consent is on record.
    (A phone may send the consent in the same or a later batch: sync does not ask.)"""
    if lawful_basis == "persetujuan" and person.lawful_basis != "persetujuan" and not (
            active_consents(person)):
        raise invalid("lawful_basis",
                      "Catat persetujuan warga dulu, lalu ubah dasar hukumnya.",
                      "Record the person's consent first, then change the lawful basis.")


def prepare(session, user, row: Person, is_new: bool) -> None:
    # A community member registers persons for their own group.
    if is_new and user.role == "community":
        row.community_group_id = user.community_group_id
    if keep_id := duplicates.merged_into(session, row):
        row.merged_into_id = keep_id


def after_write(session, user, row: Person, is_new: bool) -> None:
    """Possible duplicates are found (or no longer hold) as the person is written, on
    either path, in the same transaction."""
    duplicates.flag(session, user, row, is_new)


def check_child_write(user, row, values: dict, *, archived_ok: bool = False,
                      desk_ok: bool = False) -> Person:
    """A consent or a migration plan is written by whoever may change its person (with
    `desk_ok`, also by the LTSA desk), and stays with that person, whose processing has
    not stopped; returns the person."""
    person = scopes.get_readable(user, Person, values["person_id"])
    if row is not None and row.person_id != values["person_id"]:
        raise invalid("person_id", "Tidak dapat dipindah ke warga lain.",
                      "Cannot move to another person.")
    if not (desk_ok and user.role == "ltsa"):
        scopes.check_person_write(user, person.desa_code, person)
    check_processing(person)
    if person.archived_at is not None and not archived_ok:
        raise archived()
    return person


def enter_at_end(session, batch, person_id: str) -> None:
    """In a push batch: send the person again with their records (person_records) at the
    end of the batch, once for all the persons its referrals bring into a scope."""
    ids = batch.cache.setdefault("jangkau_entering", {})
    ids[person_id] = None
    batch.defer("jangkau_entering", lambda: _touch_entering(session, batch, list(ids)))


def _touch_entering(session, batch, person_ids: list[str]) -> None:
    # Rows the batch added take their sequence numbers in this transaction anyway: no phone
    # is past them. The others are read as stored (a flush now would number them twice).
    new = {key[1] for key in batch.added}
    stored = [person_id for person_id in person_ids if person_id not in new]
    rows = []
    with session.no_autoflush:
        for start in range(0, len(stored), 500):
            chunk = stored[start:start + 500]
            rows += session.execute(sa.select(Person).where(Person.id.in_(chunk))).scalars()
            for model in (Consent, MigrationPlan):
                rows += session.execute(
                    sa.select(model).where(model.person_id.in_(chunk))).scalars()
            rows += duplicates.pairs_of_persons(session, chunk)
    sequence.touch([row for row in rows if row.id not in new])


def person_records(session, person: Person) -> list:
    """A person with their consents, migration plans and possible duplicates: what enters
    a scope with them."""
    consents = session.execute(sa.select(Consent).where(Consent.person_id == person.id))
    plans = session.execute(sa.select(MigrationPlan).where(MigrationPlan.person_id == person.id))
    return [person, *consents.scalars(), *plans.scalars(),
            *duplicates.pairs_of(session, person)]
