"""Possible duplicates: two persons who may be the same, and their merge.

Phones register persons offline, so two phones can each register the same person. Every
write of a person, through sync or the API, looks for another active person with the same
NIK, or the same name (case and spaces folded), birth date and desa, and records the pair
once, in the same transaction (`flag`, the person policy's after-write hook). The pair is
shown to whoever may read both persons among the officers, the LTSA and admins
(`readable`), and pulled by their phones.

A merge keeps one person: the other's referrals, consents and migration plans move to the
kept person, and the other is archived with `merged_into_id` pointing to it. Each of those
changes is a mutation of the server's node, applied through the sync engine like any
write, so phones pull them. A record never moves to another person otherwise: the policies
refuse it, and only the moves of an authorised merge in progress pass (`merge_move`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import uuid
from collections.abc import Callable
from contextlib import contextmanager

import sqlalchemy as sa

from sync import engine
from sync import sequence

from .. import scopes
from ..crypto import nik_hash
from ..errors import Refused
from ..errors import invalid
from ..models import Consent
from ..models import MigrationPlan
from ..models import Person
from ..models import PossibleDuplicate
from ..models import Referral
from ..models import ReferralEvent
from ..models import utcnow
from .common import changed_fields

# Who is told of possible duplicates and may merge or dismiss them (when they may read
# both persons): the village officers and the LTSA desk, and admins.
ROLES = ("officer", "ltsa", "admin")
# What a merge moves to the kept person, by synced entity. Referrals last: the LTSA reads
# the other person (and so their consents and plans) through them.
MOVED = (("consents", Consent), ("migration_plans", MigrationPlan), ("referrals", Referral))
_MERGING = "jangkau_merging"


# How alike two names must be (difflib's ratio) to be taken for the same person: a letter
# typed differently ("Siti Nurhasanah" / "Siti Nurhasana") still matches.
NAME_SIMILARITY = 0.8


def folded(name: str | None) -> str:
    """A name as compared for a match: case and runs of spaces do not count."""
    return " ".join((name or "").casefold().split())


def similar_names(name: str | None, other: str | None) -> bool:
    """The one rule of when two names may be one person's: one holds the other (a name
    written in full and shortened), or they differ by a few letters."""
    a, b = folded(name), folded(other)
    if not a or not b:
        return False
    return a in b or b in a or difflib.SequenceMatcher(None, a, b).ratio() >= NAME_SIMILARITY


def match_of(person: Person, other: Person) -> str | None:
    """Why two persons may be the same: `nik`, `name_birth_date`, or None."""
    if person.nik_hash and person.nik_hash == other.nik_hash:
        return "nik"
    if (person.birth_date is not None and person.birth_date == other.birth_date
            and person.desa_code == other.desa_code
            and similar_names(person.name, other.name)):
        return "name_birth_date"
    return None


def same_nik(nik: str):
    """The persons holding `nik`. NIKs are stored encrypted, each time differently: they
    are compared only through their keyed hash."""
    return Person.nik_hash == nik_hash(nik)


def _active(person: Person | None) -> bool:
    # A person whose processing stopped is compared with no one any more.
    return (person is not None and person.archived_at is None and person.deleted_hlc is None
            and person.processing_stopped_at is None)


def pair_id(person_id: str, other_id: str) -> str:
    """One id per pair whichever person was written last."""
    first, second = sorted((person_id, other_id))
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"jangkau:possible-duplicate:{first}:{second}"))


def pairs_of(session, person: Person) -> list[PossibleDuplicate]:
    return list(session.execute(sa.select(PossibleDuplicate).where(sa.or_(
        PossibleDuplicate.person_id == person.id,
        PossibleDuplicate.other_person_id == person.id))).scalars())


def pairs_of_persons(session, person_ids: list[str]) -> list[PossibleDuplicate]:
    """The pairs of any of `person_ids` (as stored: read without a flush)."""
    with session.no_autoflush:
        return list(session.execute(sa.select(PossibleDuplicate).where(sa.or_(
            PossibleDuplicate.person_id.in_(person_ids),
            PossibleDuplicate.other_person_id.in_(person_ids)))).scalars())


def other_of(pair: PossibleDuplicate, person_id: str) -> str:
    return pair.other_person_id if pair.person_id == person_id else pair.person_id


def _resolve(pair: PossibleDuplicate, status: str, user) -> None:
    pair.status = status
    pair.resolved_at = utcnow()
    pair.resolved_by_id = user.id if user is not None else None


def flag(session, user, person: Person, is_new: bool = False) -> None:
    """After a write of `person`: record each new possible duplicate, and close the open
    pairs whose match no longer holds (a person archived, or a NIK or name corrected).
    A dismissed pair stays dismissed; a closed one opens again if the match returns."""
    # A new person is in no pair yet: one query fewer for each person of a batch.
    known = {} if is_new else {other_of(pair, person.id): pair
                               for pair in pairs_of(session, person)}
    active = _active(person)
    for other_id, pair in known.items():
        if pair.status not in ("open", "closed"):
            continue
        other = session.get(Person, other_id)
        match = match_of(person, other) if active and _active(other) else None
        if match is None and pair.status == "open":
            _resolve(pair, "closed", user)
        elif match is not None:
            if pair.status == "closed":
                pair.status, pair.resolved_at, pair.resolved_by_id = "open", None, None
            if pair.match != match:
                pair.match = match
    batch = engine.BatchRows.current(session)
    if batch is not None:
        alike_here = _batch_alike(session, batch)
        alike_here.add(person)
    if not active:
        return
    if batch is not None:
        candidates = alike_here.of(person)
    else:
        alike = sa.and_(Person.birth_date == person.birth_date,
                        Person.desa_code == person.desa_code)
        if person.birth_date is None:
            alike = sa.false()
        if person.nik_hash:
            alike = sa.or_(alike, Person.nik_hash == person.nik_hash)
        # Only the match in SQL, so that its indexes are used (the others are tested here).
        candidates = [other for other in session.execute(
            sa.select(Person).where(Person.id != person.id, alike)).scalars()
            if _active(other)]
    for other in candidates:
        match = match_of(person, other)
        if other.id in known or match is None:
            continue
        first, second = sorted((person.id, other.id))
        session.add(PossibleDuplicate(id=pair_id(first, second), person_id=first,
                                      other_person_id=second, match=match, status="open"))


class _Alike:
    """The persons a push batch may match, by birth date and desa, and by NIK hash: those
    stored that share one with a person of the batch (read once), and the batch's own as
    it writes them. `of` checks each candidate's values as they are now, as the query of
    `flag` would after a flush."""

    def __init__(self) -> None:
        self.index: dict[tuple, dict[str, Person]] = {}

    def add(self, person: Person) -> None:
        for key in _keys(person.birth_date, person.desa_code, person.nik_hash):
            self.index.setdefault(key, {})[person.id] = person

    def of(self, person: Person) -> list[Person]:
        found: dict[str, Person] = {}
        for key in _keys(person.birth_date, person.desa_code, person.nik_hash):
            found.update(self.index.get(key, {}))
        return [other for other in found.values()
                if other.id != person.id and _active(other) and other in _session_of(person)
                and ((person.birth_date is not None and other.birth_date == person.birth_date
                      and other.desa_code == person.desa_code)
                     or (person.nik_hash and other.nik_hash == person.nik_hash))]


def _session_of(person: Person):
    return sa.orm.object_session(person) or ()


def _keys(birth_date, desa_code, hashed) -> list[tuple]:
    keys = []
    if birth_date is not None:
        keys.append(("born", birth_date, desa_code))
    if hashed:
        keys.append(("nik", hashed))
    return keys


def _batch_alike(session, batch) -> _Alike:
    """The stored persons that may match a person a push batch writes, read once per batch:
    those of a birth date and desa, or a NIK, that the batch's persons have or had."""
    alike = batch.cache.get("jangkau_alike")
    if alike is not None:
        return alike
    alike = batch.cache["jangkau_alike"] = _Alike()
    dates, desas, hashes = set(), set(), set()
    for m in batch.mutations:
        if m["entity"] != "persons":
            continue
        fields = m.get("fields") or {}
        stored = batch.added.get((Person, m["id"])) or session.identity_map.get(
            sa.inspect(Person).identity_key_from_primary_key((m["id"],)))
        if stored is not None:
            dates.add(stored.birth_date)
            desas.add(stored.desa_code)
            hashes.add(stored.nik_hash)
        if isinstance(fields.get("birth_date"), str):
            try:
                dates.add(dt.date.fromisoformat(fields["birth_date"]))
            except ValueError:
                pass
        if isinstance(fields.get("desa_code"), str):
            desas.add(fields["desa_code"])
        if isinstance(fields.get("nik"), str):
            hashes.add(nik_hash(fields["nik"]))
    dates.discard(None)
    desas.discard(None)
    hashes.discard(None)
    if not (dates and desas) and not hashes:
        return alike
    clauses = []
    if dates and desas:
        clauses.append(sa.and_(Person.birth_date.in_(sorted(dates)),
                               Person.desa_code.in_(sorted(desas))))
    if hashes:
        clauses.append(Person.nik_hash.in_(sorted(hashes)))
    # Only the match in SQL: SQLite, without statistics, walked the index of
    # processing_stopped_at (NULL for nearly every person) past the whole table for
    # "IS NULL" rather than those of desa and NIK. `of` tests the rest (_active).
    with session.no_autoflush:
        for person in session.execute(sa.select(Person).where(sa.or_(*clauses))).scalars():
            alike.add(person)
    return alike


def readable(user):
    """Whoever of ROLES may read both persons; a merged pair also by whoever may read the
    person kept (the other may have left their scope with its referrals)."""
    if user.role not in ROLES:
        return sa.false()
    if user.role == "admin":
        return sa.true()
    # Each person probed by its key (EXISTS), not listed (IN): SQLite, without statistics,
    # crossed two lists of a desa's persons on the pairs' unique index, millions of probes.
    def reads(column):
        return sa.exists().where(Person.id == column, scopes.persons_readable(user))

    return sa.or_(
        sa.and_(reads(PossibleDuplicate.person_id), reads(PossibleDuplicate.other_person_id)),
        sa.and_(PossibleDuplicate.status == "merged", reads(PossibleDuplicate.kept_person_id)))


def get_readable(session, user, pair_id_: str) -> PossibleDuplicate:
    pair = session.execute(sa.select(PossibleDuplicate).where(
        PossibleDuplicate.id == pair_id_, readable(user))).scalar_one_or_none()
    if pair is None:
        raise Refused("not_found", "Data tidak ditemukan.", "Record not found.")
    return pair


def check_open(pair: PossibleDuplicate) -> None:
    if pair.status != "open":
        raise Refused("conflict", "Kemungkinan data ganda ini sudah diselesaikan.",
                      "This possible duplicate has already been resolved.")


def check_may_resolve(user, pair: PossibleDuplicate, persons: list[Person]) -> None:
    """An open pair is merged or dismissed by officers of the desa of both persons, and by
    the LTSA and admins who may read it; not with an archived person."""
    check_open(pair)
    if user.role not in ROLES:
        raise Refused("forbidden")
    for person in persons:
        if user.role == "officer":
            scopes.check_desa_write(user, person.desa_code)
        if person.archived_at is not None:
            raise Refused("archived")
        if person.processing_stopped_at is not None:
            raise Refused("processing_stopped")


@contextmanager
def merging(session, other: Person, keep: Person):
    """While a merge writes: the moves from `other` to `keep` are allowed (merge_move)."""
    session.info[_MERGING] = (other.id, keep.id)
    try:
        yield
    finally:
        session.info.pop(_MERGING, None)


def merge_move(session, entity: str, row, values: dict) -> bool:
    """True for exactly the writes of a merge in progress: a record of the person merged
    away that moves to the kept person and changes nothing else, and the archiving of
    that person. The merge was authorised as a whole (check_may_resolve): these writes
    skip the policies' own checks, which would refuse the move (and the LTSA's write)."""
    moving = session.info.get(_MERGING)
    if moving is None or row is None:
        return False
    other_id, keep_id = moving
    if entity == "persons":
        return row.id == other_id and changed_fields(row, values) <= {"archived_at"}
    return (entity in dict(MOVED) and row.person_id == other_id
            and values.get("person_id") == keep_id
            and changed_fields(row, values) <= {"person_id"})


def merged_into(session, person: Person) -> str | None:
    """The person kept, while a merge archives `person` into them."""
    moving = session.info.get(_MERGING)
    return moving[1] if moving is not None and moving[0] == person.id else None


def merge(session, user, pair: PossibleDuplicate, keep_id: str,
          write: Callable[..., object]) -> dict:
    """Keep one person of the pair; `write(user, entity, id, values)` is the server's one
    write path (server.sync_registry.write). Returns the moved record ids by entity."""
    if keep_id not in (pair.person_id, pair.other_person_id):
        raise invalid("keep", "Pilih salah satu dari kedua warga ini.",
                      "Choose one of the two persons.")
    keep = session.get(Person, keep_id)
    other = session.get(Person, other_of(pair, keep_id))
    check_may_resolve(user, pair, [keep, other])
    _resolve(pair, "merged", user)
    pair.kept_person_id = keep.id
    moved: dict[str, list[str]] = {}
    with merging(session, other, keep):
        write(user, "persons", other.id, {"archived_at": utcnow()})
        for entity, model in MOVED:
            rows = session.execute(sa.select(model).where(
                model.person_id == other.id, model.deleted_hlc.is_(None))
                .order_by(model.id)).scalars().all()
            moved[entity] = [row.id for row in rows]
            for row in rows:
                write(user, entity, row.id, {"person_id": keep.id})
    if moved["referrals"]:
        # A referral's history follows it to the kept person's desa: send it again.
        sequence.touch(session.execute(sa.select(ReferralEvent).where(
            ReferralEvent.referral_id.in_(moved["referrals"]))).scalars().all())
    return moved


def dismiss(session, user, pair: PossibleDuplicate) -> None:
    """Not the same person: the pair is not shown again."""
    check_may_resolve(user, pair, [session.get(Person, pair.person_id),
                                   session.get(Person, pair.other_person_id)])
    _resolve(pair, "dismissed", user)
