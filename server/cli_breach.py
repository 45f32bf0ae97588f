"""`flask breach-report`: the persons whose data an account or a device could read in a
window, from the audit log, for the notification within 3 × 24 hours (UU PDP Pasal 46).

Every audit entry names what it touched: a record (`entity`, `entity_id`), the ids a list
returned (`detail["ids"]`), the person records hang off (`detail["person_id"]`,
`detail["person_ids"]`), the records behind conflict entries (`detail["records"]`) or what a
sync pulled and pushed per entity (`detail["pulled"]`, `detail["pushed"]`). Each id is mapped
to its person: consents, plans and referrals by their person, a referral's events by the
referral, conflicts by their record, possible duplicates to both persons. Whatever an
account wrote it also held, so changes count as well as reads, pulls and exports.

The report holds person ids, desa and what was touched, never a name or a NIK: it may
travel by e-mail; the persons are looked up in the app by whoever notifies them.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from .extensions import db
from .models import AuditEntry
from .models import ConflictEntry
from .models import Consent
from .models import DeviceToken
from .models import MigrationPlan
from .models import OutreachVisit
from .models import Person
from .models import PossibleDuplicate
from .models import Referral
from .models import ReferralEvent
from .models import Region
from .models import User

# The entity names of the audit log (the API's singular, the sync's plural) and their models.
MODELS = {
    "person": Person, "consent": Consent, "migration_plan": MigrationPlan,
    "referral": Referral, "referral_event": ReferralEvent, "conflict": ConflictEntry,
    "possible_duplicate": PossibleDuplicate, "visit": OutreachVisit,
}
PLURALS = {f"{name}s": name for name in MODELS}
# Rows of an IN list per query: well below every database's parameter limit.
CHUNK = 500
# How an entry's ids were reached, for the report's "how" column.
PULLED, PUSHED = "pulled", "pushed"


def entity_name(name: str | None) -> str | None:
    """The audit log's entity name in its singular form, or None for what holds no person
    (users, organisations, reports, the sync entry itself)."""
    if not name:
        return None
    name = PLURALS.get(name, name)
    return name if name in MODELS else None


def _ids(value) -> list[str]:
    # Entries written before ids were kept say counts here; those reach no one by id.
    return [str(v) for v in value] if isinstance(value, list) else []


def touched(entry: AuditEntry) -> Iterable[tuple[str, str, str]]:
    """(entity, id, how) for every record an audit entry names."""
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    own = entity_name(entry.entity)
    if own is not None:
        if entry.entity_id:
            yield own, entry.entity_id, entry.action
        for record_id in _ids(detail.get("ids")):
            yield own, record_id, entry.action
    for record_id in [detail.get("person_id")] + _ids(detail.get("person_ids")):
        if record_id:
            yield "person", str(record_id), entry.action
    for key, how in (("records", entry.action), ("pulled", PULLED), ("pushed", PUSHED)):
        by_entity = detail.get(key)
        if not isinstance(by_entity, dict):
            continue
        for name, ids in by_entity.items():
            if (name := entity_name(name)) is not None:
                for record_id in _ids(ids):
                    yield name, record_id, how


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    ids = sorted(set(ids))
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def persons_of(entity: str, ids: set[str], depth: int = 0) -> dict[str, set[str]]:
    """Map record ids of an entity to the ids of the persons they belong to."""
    found: dict[str, set[str]] = {}
    if entity == "person":
        return {i: {i} for i in ids}
    if entity == "visit" or depth > 2:
        return found
    for chunk in _chunks(ids):
        if entity in ("consent", "migration_plan", "referral"):
            model = MODELS[entity]
            rows = db.session.execute(sa.select(model.id, model.person_id)
                                      .where(model.id.in_(chunk)))
            for record_id, person_id in rows:
                found.setdefault(record_id, set()).add(person_id)
        elif entity == "referral_event":
            rows = db.session.execute(
                sa.select(ReferralEvent.id, Referral.person_id)
                .join(Referral, Referral.id == ReferralEvent.referral_id)
                .where(ReferralEvent.id.in_(chunk)))
            for record_id, person_id in rows:
                found.setdefault(record_id, set()).add(person_id)
        elif entity == "possible_duplicate":
            rows = db.session.execute(
                sa.select(PossibleDuplicate.id, PossibleDuplicate.person_id,
                          PossibleDuplicate.other_person_id)
                .where(PossibleDuplicate.id.in_(chunk)))
            for record_id, one, other in rows:
                found.setdefault(record_id, set()).update((one, other))
        elif entity == "conflict":
            rows = db.session.execute(
                sa.select(ConflictEntry.id, ConflictEntry.entity, ConflictEntry.record_id)
                .where(ConflictEntry.id.in_(chunk))).all()
            by_entity: dict[str, set[str]] = {}
            for _, name, record_id in rows:
                if (name := entity_name(name)) is not None:
                    by_entity.setdefault(name, set()).add(record_id)
            behind = {name: persons_of(name, record_ids, depth + 1)
                      for name, record_ids in by_entity.items()}
            for conflict_id, name, record_id in rows:
                persons = behind.get(entity_name(name), {}).get(record_id, set())
                found.setdefault(conflict_id, set()).update(persons)
    return found


@dataclass
class Reached:
    """One person in the report."""

    person_id: str
    entities: set[str] = field(default_factory=set)
    how: set[str] = field(default_factory=set)
    first_at: dt.datetime | None = None
    last_at: dt.datetime | None = None

    def saw(self, entity: str, how: str, at: dt.datetime) -> None:
        self.entities.add(entity)
        self.how.add(how)
        self.first_at = at if self.first_at is None else min(self.first_at, at)
        self.last_at = at if self.last_at is None else max(self.last_at, at)


def audit_entries(since: dt.datetime, until: dt.datetime, user_id: int | None,
                  device_id: int | None) -> list[AuditEntry]:
    """The audit entries of the window (since inclusive, until exclusive) of the account
    and/or device, oldest first."""
    select = sa.select(AuditEntry).where(AuditEntry.at >= since, AuditEntry.at < until)
    if user_id is not None:
        select = select.where(AuditEntry.user_id == user_id)
    if device_id is not None:
        select = select.where(AuditEntry.device_id == device_id)
    return list(db.session.execute(select.order_by(AuditEntry.at, AuditEntry.id)).scalars())


def breach_report(since: dt.datetime, until: dt.datetime, user_id: int | None = None,
                  device_id: int | None = None) -> dict:
    """The persons reached in the window, with their desa and what was touched, and a
    summary of the entries read."""
    entries = audit_entries(since, until, user_id, device_id)
    wanted: dict[str, set[str]] = {}
    for entry in entries:
        for entity, record_id, _ in touched(entry):
            wanted.setdefault(entity, set()).add(record_id)
    to_persons = {entity: persons_of(entity, ids) for entity, ids in wanted.items()}
    reached: dict[str, Reached] = {}
    actions: dict[str, int] = {}
    for entry in entries:
        actions[entry.action] = actions.get(entry.action, 0) + 1
        for entity, record_id, how in touched(entry):
            for person_id in to_persons.get(entity, {}).get(record_id, ()):
                reached.setdefault(person_id, Reached(person_id)).saw(entity, how, entry.at)
    desa = _desa_of(reached)
    persons = [{
        "person_id": r.person_id, "desa_code": desa.get(r.person_id, (None, None))[0],
        "desa_name": desa.get(r.person_id, (None, None))[1],
        "entities": sorted(r.entities), "how": sorted(r.how),
        "first_at": _iso(r.first_at), "last_at": _iso(r.last_at),
    } for r in sorted(reached.values(), key=lambda r: (desa.get(r.person_id, ("",))[0] or "",
                                                        r.person_id))]
    return {
        "since": _iso(since), "until": _iso(until), "user_id": user_id, "device_id": device_id,
        "persons": persons,
        "summary": {
            "persons": len(persons),
            "desa": len({p["desa_code"] for p in persons if p["desa_code"]}),
            "entries": len(entries), "actions": dict(sorted(actions.items())),
            "visits": len(wanted.get("visit", ())),
        },
    }


def _desa_of(reached: dict[str, Reached]) -> dict[str, tuple[str, str | None]]:
    desa = {}
    for chunk in _chunks(reached):
        rows = db.session.execute(
            sa.select(Person.id, Person.desa_code, Region.name)
            .outerjoin(Region, Region.code == Person.desa_code)
            .where(Person.id.in_(chunk)))
        desa.update({person_id: (code, name) for person_id, code, name in rows})
    return desa


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else _aware(moment).isoformat()


def parse_moment(value: str, option: str) -> dt.datetime:
    """An ISO date or date-time; without an offset it is UTC."""
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            "not an ISO date or time, e.g. 2026-05-01T08:00+07:00 / bukan tanggal atau waktu "
            "ISO", param_hint=option) from None
    # In UTC: the database compares stored UTC times without their offset.
    return _aware(moment).astimezone(dt.UTC)


CSV_COLUMNS = ("person_id", "desa_code", "desa_name", "entities", "how", "first_at",
               "last_at")


def _write(report: dict, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for person in report["persons"]:
        out.writerow([" ".join(v) if isinstance(v, list) else v
                      for v in (person[c] for c in CSV_COLUMNS)])


def _summary(report: dict) -> str:
    s = report["summary"]
    actions = ", ".join(f"{k} {v}" for k, v in s["actions"].items()) or "-"
    return (f"{s['persons']} persons in {s['desa']} desa / {s['persons']} warga di {s['desa']} "
            f"desa; {s['entries']} audit entries ({actions}); {s['visits']} visits; "
            f"window {report['since']} .. {report['until']}")


@click.command("breach-report")
@click.option("--since", "since_text", help="Start of the window, ISO (UTC unless an offset "
              "is given). With --device, the token's first use when omitted.")
@click.option("--until", "until_text", help="End of the window (exclusive), ISO; now when "
              "omitted.")
@click.option("--user", "username", help="The account whose reads and writes count.")
@click.option("--device", "device_id", type=int, help="The device token id (admin's device "
              "list) whose reads and writes count: a lost phone holds all it pulled.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
@with_appcontext
def breach_report_command(since_text, until_text, username, device_id, fmt):
    """List the persons whose data an account or device could read in a window (from the
    audit log), with desa and what was read; the summary goes to standard error.

    Without --user and --device every account counts (a breach of the server itself).
    """
    user_id = None
    if username:
        user = db.session.execute(
            sa.select(User).where(User.username == username.strip().lower())
        ).scalar_one_or_none()
        if user is None:
            raise click.BadParameter("no such account / akun tidak ada", param_hint="--user")
        user_id = user.id
    device = None
    if device_id is not None:
        device = db.session.get(DeviceToken, device_id)
        if device is None:
            raise click.BadParameter("no such device / perangkat tidak ada",
                                     param_hint="--device")
    if since_text:
        since = parse_moment(since_text, "--since")
    elif device is not None:
        since = _aware(device.created_at)
    else:
        raise click.BadParameter("give the start of the window / isi awal rentang waktu",
                                 param_hint="--since")
    until = parse_moment(until_text, "--until") if until_text else dt.datetime.now(dt.UTC)
    if until <= since:
        raise click.BadParameter("must be after --since / harus setelah --since",
                                 param_hint="--until")
    report = breach_report(since, until, user_id, device_id)
    _write(report, fmt)
    click.echo(_summary(report), err=True)

