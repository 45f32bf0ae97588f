"""Typed SQLAlchemy 2.0 models of Jangkau."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
import sqlalchemy.orm as so

from .crypto import EncryptedJSON
from .crypto import EncryptedText
from .crypto import nik_hash
from .extensions import db


def utcnow() -> dt.datetime:
    """The current time in UTC, timezone-aware."""
    return dt.datetime.now(dt.UTC)


def age_on(birth_date: dt.date | None, day: dt.date) -> int | None:
    """Age in whole years on `day`, or None without a birth date."""
    if birth_date is None:
        return None
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def new_uuid() -> str:
    return str(uuid.uuid4())


# Stored as naive UTC on SQLite and aware on PostgreSQL; always written in UTC.
UTCDateTime = sa.DateTime(timezone=True)
# The largest id an INTEGER id column holds (users, organisations, ...): 32 bits on
# PostgreSQL, which refuses even to compare a larger number with them.
ID_MAX = 2**31 - 1


class Region(db.Model):
    """A kabupaten, kecamatan, desa or kelurahan, keyed by its Kemendagri code."""

    __tablename__ = "regions"

    code: so.Mapped[str] = so.mapped_column(sa.String(13), primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    # kabupaten, kecamatan, desa or kelurahan
    level: so.Mapped[str] = so.mapped_column(sa.String(10), index=True)
    parent_code: so.Mapped[str | None] = so.mapped_column(
        sa.ForeignKey("regions.code"), index=True
    )


class Organisation(db.Model):
    """The LTSA desk, a partner NGO, or another service an admin adds."""

    __tablename__ = "organisations"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(40), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    kind: so.Mapped[str] = so.mapped_column(sa.String(20))
    # Service codes from enums.SERVICES that this organisation provides.
    services: so.Mapped[list] = so.mapped_column(sa.JSON, default=list)
    is_active: so.Mapped[bool] = so.mapped_column(default=True)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class CommunityGroup(db.Model):
    """A Kelompok Masyarakat (pokmas) working in one desa."""

    __tablename__ = "community_groups"

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True, default=new_uuid)
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    desa_code: so.Mapped[str] = so.mapped_column(sa.ForeignKey("regions.code"), index=True)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    members: so.WriteOnlyMapped[User] = so.relationship(back_populates="community_group")


class User(db.Model):
    """An account; its role and scope decide what it may read and write."""

    __tablename__ = "users"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    username: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    full_name: so.Mapped[str] = so.mapped_column(sa.String(120))
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(255))
    role: so.Mapped[str] = so.mapped_column(sa.String(20), index=True)
    # Scope: a desa for officer and community, an organisation for partner and ltsa.
    desa_code: so.Mapped[str | None] = so.mapped_column(sa.ForeignKey("regions.code"), index=True)
    organisation_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    community_group_id: so.Mapped[str | None] = so.mapped_column(
        sa.ForeignKey("community_groups.id"), index=True
    )
    is_active: so.Mapped[bool] = so.mapped_column(default=True)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    organisation: so.Mapped[Organisation | None] = so.relationship()
    community_group: so.Mapped[CommunityGroup | None] = so.relationship(back_populates="members")
    desa: so.Mapped[Region | None] = so.relationship()


class DeviceToken(db.Model):
    """A bearer token for one device; only its hash is stored."""

    __tablename__ = "device_tokens"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    device_name: so.Mapped[str] = so.mapped_column(sa.String(120), default="")
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_used_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_address: so.Mapped[str | None] = so.mapped_column(sa.String(45))
    revoked_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    # Why the token ended: "logout" (the phone keeps nothing to erase), "admin" or
    # "deactivated" (the phone erases its data at its next contact). None while live.
    revoked_reason: so.Mapped[str | None] = so.mapped_column(sa.String(16))

    user: so.Mapped[User] = so.relationship()


class LoginFailure(db.Model):
    """One failed login, kept in the database so every server process sees it."""

    __tablename__ = "login_failures"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    username: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    address: so.Mapped[str] = so.mapped_column(sa.String(45), index=True)
    at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)


class SyncedRecord:
    """Columns every record that phones edit carries for sync.

    `change_seq` is the server change sequence of the last change (pulls read above a
    cursor); `field_clocks` maps each field to the HLC of the write that set it;
    `deleted_hlc` marks a tombstone; `sync_meta` keeps the rest of the merge bookkeeping
    (who wrote each field, what the writer had seen, who deleted), see sync/merge.py.
    """

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True, default=new_uuid)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[dt.datetime] = so.mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )
    change_seq: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0, index=True)
    field_clocks: so.Mapped[dict] = so.mapped_column(sa.JSON, default=dict)
    deleted_hlc: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    sync_meta: so.Mapped[dict] = so.mapped_column(sa.JSON, default=dict)


class OutreachVisit(SyncedRecord, db.Model):
    """A kunjungan penjangkauan: a session, home visit or other outreach work."""

    __tablename__ = "outreach_visits"

    visit_type: so.Mapped[str] = so.mapped_column(sa.String(30))
    visit_date: so.Mapped[dt.date] = so.mapped_column(sa.Date, index=True)
    desa_code: so.Mapped[str] = so.mapped_column(sa.ForeignKey("regions.code"), index=True,
                                                 info={"scope": "desa"}, active_history=True)
    dusun: so.Mapped[str] = so.mapped_column(sa.String(100), default="")
    rt: so.Mapped[str] = so.mapped_column(sa.String(3), default="")
    rw: so.Mapped[str] = so.mapped_column(sa.String(3), default="")
    # A group's members read its visits: a move to another group is an exit too.
    community_group_id: so.Mapped[str | None] = so.mapped_column(
        sa.ForeignKey("community_groups.id"), index=True, info={"scope": "group"},
        active_history=True,
    )
    topics: so.Mapped[list] = so.mapped_column(sa.JSON, default=list)
    participants_male: so.Mapped[int] = so.mapped_column(default=0)
    participants_female: so.Mapped[int] = so.mapped_column(default=0)
    participants_children: so.Mapped[int] = so.mapped_column(default=0)
    notes: so.Mapped[str] = so.mapped_column(EncryptedText("outreach_visits.notes"), default="")


class Person(SyncedRecord, db.Model):
    """A warga: a prospective migrant worker, returnee or family member."""

    __tablename__ = "persons"
    # The possible duplicates of a person are found by desa and birth date (and NIK hash):
    # in a big desa, the desa alone would leave thousands of rows to read.
    # The persons whose processing stopped, indexed alone: a full index of a column NULL for
    # nearly every person is taken by SQLite, without statistics, for a selective one, and
    # walked past the whole table for "IS NULL" (the phones' holdings, the duplicates).
    __table_args__ = (
        sa.Index("ix_persons_desa_birth", "desa_code", "birth_date"),
        sa.Index("ix_persons_processing_stopped_at", "processing_stopped_at",
                 sqlite_where=sa.text("processing_stopped_at IS NOT NULL"),
                 postgresql_where=sa.text("processing_stopped_at IS NOT NULL")),
    )

    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    # NIK and phone are stored encrypted (server/crypto.py); a NIK is found through its
    # keyed hash, kept by `_hash_nik` on every write of `nik`.
    nik: so.Mapped[str | None] = so.mapped_column(EncryptedText("persons.nik"))
    nik_hash: so.Mapped[str | None] = so.mapped_column(sa.String(64), index=True)
    sex: so.Mapped[str] = so.mapped_column(sa.String(1))
    birth_date: so.Mapped[dt.date | None] = so.mapped_column(sa.Date)
    phone: so.Mapped[str | None] = so.mapped_column(EncryptedText("persons.phone"))
    # A column marked as a scope: a change records the exit from the former scope
    # (sync/sequence.py), so phones there drop the record at their next sync; the old
    # value is loaded on a change (active_history) for that.
    desa_code: so.Mapped[str] = so.mapped_column(sa.ForeignKey("regions.code"), index=True,
                                                 info={"scope": "desa"}, active_history=True)
    address: so.Mapped[str] = so.mapped_column(sa.String(255), default="")
    marital_status: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    education: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    disability: so.Mapped[bool] = so.mapped_column(default=False)
    migration_status: so.Mapped[str] = so.mapped_column(sa.String(20))
    lawful_basis: so.Mapped[str] = so.mapped_column(sa.String(20))
    # The group whose member registered the person, for community scope.
    community_group_id: so.Mapped[str | None] = so.mapped_column(
        sa.ForeignKey("community_groups.id"), index=True
    )
    # Persons are archived, never deleted through sync.
    archived_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    # Set by a merge of possible duplicates: the person kept, who now holds this one's
    # referrals, consents and plans (this one is archived). Derived: never from a client.
    merged_into_id: so.Mapped[str | None] = so.mapped_column(sa.ForeignKey("persons.id"))
    # The person withdrew consent or was erased (UU PDP Pasal 40-44): processing stops, and
    # the person with their records leaves every phone; only the LTSA desk and admins read
    # them on the server. Derived: never from a client (server/domain/rights.py).
    processing_stopped_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    # Personal fields removed; what the reports count is kept.
    erased_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    # The age on the day of registration, kept when an erasure removes the birth date, so
    # the reports count a child as before.
    registration_age: so.Mapped[int | None] = so.mapped_column()

    def age_on(self, day: dt.date) -> int | None:
        """Age in whole years on the given day, or None without a birth date."""
        return age_on(self.birth_date, day)


@sa.event.listens_for(Person.nik, "set")
def _hash_nik(person: Person, value: str | None, old, initiator) -> None:
    """Every write of a NIK, by any path (sync, API, demo, commands), keeps its hash."""
    person.nik_hash = nik_hash(value)


class MigrationPlan(SyncedRecord, db.Model):
    """Where and how a person plans to work abroad."""

    __tablename__ = "migration_plans"

    person_id: so.Mapped[str] = so.mapped_column(sa.ForeignKey("persons.id"), index=True)
    destination_country: so.Mapped[str | None] = so.mapped_column(sa.String(2))
    sector: so.Mapped[str | None] = so.mapped_column(sa.String(30))
    scheme: so.Mapped[str] = so.mapped_column(sa.String(20), default="tidak_diketahui")
    agency_name: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    informal_recruiter: so.Mapped[bool] = so.mapped_column(default=False)
    fee_asked: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    # Codes from enums.DOCUMENTS that the person already holds.
    documents: so.Mapped[list] = so.mapped_column(sa.JSON, default=list)

    # Unused in code: it orders a flush, so that a batch that adds the person and this row
    # together inserts the person first (the unit of work orders rows by relationships).
    person: so.Mapped[Person] = so.relationship()


class Consent(SyncedRecord, db.Model):
    """A person's consent (or a guardian's for a child) to named purposes."""

    __tablename__ = "consents"

    person_id: so.Mapped[str] = so.mapped_column(sa.ForeignKey("persons.id"), index=True)
    purposes: so.Mapped[list] = so.mapped_column(sa.JSON, default=list)
    notice_version: so.Mapped[str] = so.mapped_column(sa.String(20))
    method: so.Mapped[str] = so.mapped_column(sa.String(20))
    guardian_name: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    guardian_relation: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    given_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime)
    withdrawn_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    keep_until: so.Mapped[dt.date | None] = so.mapped_column(sa.Date)

    # Unused in code: it orders a flush, so that a batch that adds the person and this row
    # together inserts the person first (the unit of work orders rows by relationships).
    person: so.Mapped[Person] = so.relationship()


class Referral(SyncedRecord, db.Model):
    """A rujukan of a person to the LTSA; its status is derived from its events."""

    __tablename__ = "referrals"

    person_id: so.Mapped[str] = so.mapped_column(sa.ForeignKey("persons.id"), index=True)
    # Copied from the person at creation: scope checks need no join.
    desa_code: so.Mapped[str] = so.mapped_column(sa.ForeignKey("regions.code"), index=True)
    community_group_id: so.Mapped[str | None] = so.mapped_column(
        sa.ForeignKey("community_groups.id"), index=True
    )
    services: so.Mapped[list] = so.mapped_column(sa.JSON, default=list)
    reason: so.Mapped[str] = so.mapped_column(EncryptedText("referrals.reason"), default="")
    case_category: so.Mapped[str | None] = so.mapped_column(sa.String(30))
    urgency: so.Mapped[str] = so.mapped_column(sa.String(10), default="biasa")
    # Derived from referral_events; kept here for lists and filters.
    status: so.Mapped[str] = so.mapped_column(sa.String(20), default="terkirim", index=True)
    assigned_organisation_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("organisations.id"), index=True, info={"scope": "organisation"},
        active_history=True,
    )
    outcome: so.Mapped[str] = so.mapped_column(EncryptedText("referrals.outcome"), default="")
    is_child: so.Mapped[bool] = so.mapped_column(default=False)
    # Derived from referral_events for the desk's day list and the follow-up: the latest
    # applied appointment, and when the desk side first acted (None: not yet).
    appointment_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime, index=True)
    appointment_place: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    first_action_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime, index=True)

    person: so.Mapped[Person] = so.relationship()
    assigned_organisation: so.Mapped[Organisation | None] = so.relationship()


class ReferralEvent(SyncedRecord, db.Model):
    """One append-only entry in a referral's history: a status change or a note."""

    __tablename__ = "referral_events"

    referral_id: so.Mapped[str] = so.mapped_column(sa.ForeignKey("referrals.id"), index=True)
    # "status" or "note"
    kind: so.Mapped[str] = so.mapped_column(sa.String(10))
    status: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    note: so.Mapped[str] = so.mapped_column(EncryptedText("referral_events.note"), default="")
    organisation_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("organisations.id"))
    # The referral's status as the writer saw it when adding the event (None: not known);
    # a change it had not seen makes the event late (sync.referral_status).
    seen_status: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    # With status dijadwalkan: when and where the person is expected.
    appointment_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    place: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    # With status selesai: what came of the referral (copied to the referral's outcome).
    outcome: so.Mapped[str] = so.mapped_column(EncryptedText("referral_events.outcome"),
                                               default="")
    # Who reads a note: "desk" (LTSA, partners, admin) or "village" (also the referring side).
    audience: so.Mapped[str] = so.mapped_column(sa.String(10), default="desk")
    author_role: so.Mapped[str] = so.mapped_column(sa.String(20))
    hlc: so.Mapped[str] = so.mapped_column(sa.String(64))
    # A late transition that is no longer allowed stays in the history, flagged.
    flagged: so.Mapped[bool] = so.mapped_column(default=False)
    flag_reason: so.Mapped[str | None] = so.mapped_column(sa.String(200))

    # Unused in code: it orders a flush, so that a batch that adds a referral and its event
    # together inserts the referral first (the unit of work orders rows by relationships).
    referral: so.Mapped[Referral] = so.relationship()


class AuditEntry(db.Model):
    """Who read, changed or exported personal data, and when (UU PDP Pasal 31)."""

    __tablename__ = "audit_log"

    id: so.Mapped[int] = so.mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                          primary_key=True)
    at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    # The device token of the request (None: a command, or a request without one), so a
    # breach report can name what one lost phone read. No foreign key: the audit log
    # outlives the tokens it names.
    device_id: so.Mapped[int | None] = so.mapped_column(index=True)
    # read, create, update, export, archive, sync, login, logout, revoke, reveal_nik,
    # access_export, erase, withdraw
    action: so.Mapped[str] = so.mapped_column(sa.String(20))
    entity: so.Mapped[str] = so.mapped_column(sa.String(40))
    entity_id: so.Mapped[str | None] = so.mapped_column(sa.String(36), index=True)
    detail: so.Mapped[dict] = so.mapped_column(sa.JSON, default=dict)
    address: so.Mapped[str | None] = so.mapped_column(sa.String(45))


class SyncCounter(db.Model):
    """Named counters of the sync: `change_seq` (the last change sequence handed out) and
    `purged_below` (cursors under it are older than the kept tombstones).

    Writers take the `change_seq` row lock for the rest of their transaction, so change
    sequences commit in order and a pull cursor never skips one.
    """

    __tablename__ = "sync_counters"

    name: so.Mapped[str] = so.mapped_column(sa.String(20), primary_key=True)
    value: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)


class SyncClient(db.Model):
    """One installed app on one device: the last mutation it had applied, and its scope."""

    __tablename__ = "sync_clients"

    client_id: so.Mapped[str] = so.mapped_column(sa.String(64), primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    last_mutation_id: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    # A digest of the user's scope at the last sync; a change means the client must reset.
    scope_key: so.Mapped[str] = so.mapped_column(sa.String(64), default="")
    # The HLC node the device stamps with; another node on this client is refused, so no
    # device can pass for the server or for another phone.
    node: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    # The refusals of the last batch, answered again when that batch is retried.
    last_refused: so.Mapped[list] = so.mapped_column(sa.JSON, default=list)
    # The clocks the server stored instead of the client's ({mutation_id, hlc}), answered
    # again when the batch is retried.
    last_clamped: so.Mapped[list] = so.mapped_column(sa.JSON, default=list)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class ConflictEntry(db.Model):
    """A value that lost a merge, kept with the value that won, so no edit is lost silently."""

    __tablename__ = "conflicts"

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True, default=new_uuid)
    entity: so.Mapped[str] = so.mapped_column(sa.String(30))
    record_id: so.Mapped[str] = so.mapped_column(sa.String(36), index=True)
    field: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    reason: so.Mapped[str] = so.mapped_column(sa.String(40))
    # Encrypted: the values of any field, a NIK or a note among them.
    winning_value: so.Mapped[object | None] = so.mapped_column(
        EncryptedJSON("conflicts.winning_value"))
    winning_hlc: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    winning_author_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    losing_value: so.Mapped[object | None] = so.mapped_column(
        EncryptedJSON("conflicts.losing_value"))
    losing_hlc: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    losing_author_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    resolved_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    resolved_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    # Conflicts sync to phones too, for the conflict review screen.
    change_seq: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0, index=True)


class PossibleDuplicate(db.Model):
    """Two persons who may be the same (equal NIK, or the same name, birth date and desa),
    found when one of them is written; each pair once, `person_id` < `other_person_id`.

    Open until someone who may read both merges them (one is archived into the other),
    says they are not the same (dismissed), or the match no longer holds (closed: a person
    was archived or corrected).
    """

    __tablename__ = "possible_duplicates"
    __table_args__ = (sa.UniqueConstraint("person_id", "other_person_id"),)

    id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True, default=new_uuid)
    person_id: so.Mapped[str] = so.mapped_column(sa.ForeignKey("persons.id"), index=True)
    other_person_id: so.Mapped[str] = so.mapped_column(sa.ForeignKey("persons.id"), index=True)
    # nik or name_birth_date
    match: so.Mapped[str] = so.mapped_column(sa.String(20))
    # open, merged, dismissed or closed
    status: so.Mapped[str] = so.mapped_column(sa.String(10), default="open", index=True)
    # After a merge: the person kept.
    kept_person_id: so.Mapped[str | None] = so.mapped_column(sa.ForeignKey("persons.id"))
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    resolved_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    resolved_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    # Pulled by phones (read only), like conflicts.
    change_seq: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0, index=True)

    # Unused in code: it orders a flush, so that a batch that adds both persons and their pair
    # together inserts the persons first (the unit of work orders rows by relationships).
    person: so.Mapped[Person] = so.relationship(foreign_keys=[person_id])
    other_person: so.Mapped[Person] = so.relationship(foreign_keys=[other_person_id])


class PushSubscription(db.Model):
    """A device's web push subscription (the browser's endpoint and keys), one per device
    token: logging out or revoking the device removes it."""

    __tablename__ = "push_subscriptions"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    device_token_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("device_tokens.id"),
                                                       unique=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    # The push service's URL for this browser; unique: a browser has one per origin.
    endpoint: so.Mapped[str] = so.mapped_column(sa.String(1024), unique=True)
    p256dh: so.Mapped[str] = so.mapped_column(sa.String(128))
    auth: so.Mapped[str] = so.mapped_column(sa.String(64))
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class Notification(db.Model):
    """One event told to one user: the in-app list, and what push messages carry.

    `payload` holds no personal data (what happened, how many, which desa, the referral
    to open). `dedupe_key` makes a notice that must come once (an overdue spell) unique.
    """

    __tablename__ = "notifications"
    __table_args__ = (sa.UniqueConstraint("user_id", "dedupe_key"),)

    id: so.Mapped[int] = so.mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                          primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    # new_referral, forwarded, status_changed or overdue
    kind: so.Mapped[str] = so.mapped_column(sa.String(20))
    referral_id: so.Mapped[str | None] = so.mapped_column(sa.ForeignKey("referrals.id"),
                                                          index=True)
    payload: so.Mapped[dict] = so.mapped_column(sa.JSON, default=dict)
    dedupe_key: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    read_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)


class PushOutboxEntry(db.Model):
    """One push message to send: a notification to one subscription. Written in the
    transaction of the change; sent by the push worker (server/push_worker.py).

    A worker claims a row by setting `claim` and `claimed_until` (a lease) and counting the
    attempt; a row whose lease ran out (its worker stopped) is claimed again.
    """

    __tablename__ = "push_outbox"
    # The worker's query: pending rows that are due.
    __table_args__ = (sa.Index("ix_push_outbox_due", "status", "next_attempt_at"),)

    id: so.Mapped[int] = so.mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                          primary_key=True)
    notification_id: so.Mapped[int] = so.mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), sa.ForeignKey("notifications.id"),
        index=True)
    subscription_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("push_subscriptions.id"),
                                                       index=True)
    # pending, sent or failed
    status: so.Mapped[str] = so.mapped_column(sa.String(10), default="pending")
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    next_attempt_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    claim: so.Mapped[str | None] = so.mapped_column(sa.String(36))
    claimed_until: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    last_error: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    sent_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)


class SyncExit(db.Model):
    """A record that left a scope (a desa, an organisation) by a change of the record or of
    the record it is read through, or that leaves every phone (a withdrawal of consent, an
    erasure): the pull tells the phones of that scope to drop it, unless the user can still
    read it (docs/sync-protocol.md §12)."""

    __tablename__ = "sync_exits"

    id: so.Mapped[int] = so.mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                          primary_key=True)
    # The table of the record (the pull names it by its entity).
    entity: so.Mapped[str] = so.mapped_column(sa.String(40))
    record_id: so.Mapped[str] = so.mapped_column(sa.String(36))
    # The former scope: "desa:<code>", "group:<id>", "organisation:<id>", or "role:<role>"
    # (the LTSA desk and admins, who read every referral).
    scope: so.Mapped[str] = so.mapped_column(sa.String(60))
    # Why the phones drop it: scope_left, consent_withdrawn or erased.
    reason: so.Mapped[str] = so.mapped_column(sa.String(20), default="scope_left",
                                              server_default="scope_left")
    change_seq: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0, index=True)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class SyncChange(db.Model):
    """A synced row's latest change, once per scope that reads the row through another
    record: a desa's consents, plans and referral events (through their person or referral),
    a registrar's ("creator:<user id>"), the persons with their consents and plans that the
    LTSA desk ("role:ltsa") and an organisation ("organisation:<id>") read through referrals,
    and the events of an organisation's referrals; and the rows with a scope column of
    their own (a person's desa, a referral's organisation): one index for every scope
    (see server/change_scopes.py).

    Written with each change sequence (server/change_scopes.py); a row's older entries are
    removed then. The pull walks (scope, entity, change_seq) in change order: its cost per
    page does not grow with the distance of the cursor or the size of the database."""

    __tablename__ = "sync_changes"

    scope: so.Mapped[str] = so.mapped_column(sa.String(60), primary_key=True)
    # The table of the record.
    entity: so.Mapped[str] = so.mapped_column(sa.String(40), primary_key=True)
    change_seq: so.Mapped[int] = so.mapped_column(sa.BigInteger, primary_key=True)
    record_id: so.Mapped[str] = so.mapped_column(sa.String(36), primary_key=True)

    __table_args__ = (sa.Index("ix_sync_changes_record", "entity", "record_id"),)
