"""flask purge: erase the persons whose retention period ran out (RETENTION_MONTHS).

Schedulable (a daily cron line is in docs/deployment.md). Each person is erased in a
transaction of its own, audited as `erase` by no account, with the ids of the records.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from sync import sequence

from . import audit
from .domain import rights
from .extensions import db
from .models import Person
from .models import utcnow


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be erased; change nothing.")
@with_appcontext
def purge_command(dry_run: bool) -> None:
    """Erase persons whose retention period ran out: archived or withdrawn that long ago,
    or with every referral closed and no change for that long."""
    months = current_app.config["RETENTION_MONTHS"]
    due = rights.due_for_erasure(db.session, utcnow(), months)
    ids = [person.id for person in due]
    db.session.rollback()
    erased = records = 0
    if not dry_run:
        for person_id in ids:
            # The change-sequence lock first, as every writer takes it (sync/sequence.py).
            sequence.lock_writes(db.session)
            person = db.session.get(Person, person_id)
            if person is None or person.erased_at is not None:
                db.session.rollback()
                continue
            erased_ids = rights.erase_person(db.session, person, None)
            audit.record("erase", "person", person.id, {"ids": erased_ids, "by": "retention"})
            db.session.commit()
            erased += 1
            records += len(erased_ids)
    if dry_run:
        click.echo(f"retention {months} months: {len(ids)} persons would be erased (dry run)")
    else:
        click.echo(f"retention {months} months: {erased} persons erased, "
                   f"{records} records")
