"""The pull's index walks (server/scopes.py pull_walks, with the entries of sync_changes
written by server/change_scopes.py) find exactly the rows `readable` and `on_phones` give,
for every role, also after records moved (a person to another desa, a referral forwarded
to another organisation or moved to another person) by direct writes that no domain rule
follows up; the migration's backfill writes the same entries as the flush hook; the
compiled row dumper gives what marshmallow gives."""

import datetime as dt
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from server.change_scopes import backfill
from server.demo import load_demo
from server.extensions import db
from server.models import Consent
from server.models import Organisation
from server.models import Person
from server.models import Referral
from server.models import SyncChange
from server.models import User
from server.sync_registry import _SCHEMAS
from server.sync_registry import SYNC_FIELDS
from server.sync_registry import build_registry
from sync import engine
from tests.conftest import DESA_B

TODAY = dt.date(2026, 3, 10)


def _entries() -> set[tuple]:
    return set(db.session.execute(sa.select(SyncChange.scope, SyncChange.entity,
                                            SyncChange.change_seq, SyncChange.record_id)).all())


def _pulled(registry, user) -> dict[str, set[str]]:
    """Every record a pull from cursor 0 sends, page after page (small pages: many walks
    end inside a page)."""
    out: dict[str, set[str]] = {name: set() for name in registry}
    cursor, snapshot = 0, None
    while True:
        page = engine.pull(db.session, registry, user, cursor, 7, snapshot=snapshot)
        for change in page.changes:
            out[change["entity"]].add(change["id"])
        cursor, snapshot = page.cursor, page.snapshot
        if not page.more:
            return out


def _readable(registry, user) -> dict[str, set[str]]:
    return {name: set(db.session.execute(
        sa.select(spec.model.id).where(engine.phone_readable(spec, user))).scalars())
        for name, spec in registry.items()}


@pytest.fixture
def moved(app):
    """The demo data, then records moved by plain writes and a person's processing stopped."""
    load_demo(db.session, today=TODAY)
    db.session.commit()
    organisations = dict(db.session.execute(sa.select(Organisation.code, Organisation.id)).all())
    forwarded = db.session.execute(sa.select(Referral).where(
        Referral.assigned_organisation_id == organisations["sbmi"]).order_by(Referral.id)
    ).scalars().all()
    forwarded[0].assigned_organisation_id = organisations["wcc_mawar_balqis"]
    persons = db.session.execute(sa.select(Person).order_by(Person.id)).scalars().all()
    unreferred = [p for p in persons if not db.session.execute(
        sa.select(Referral.id).where(Referral.person_id == p.id)).first()]
    moving = next(p for p in persons if p.desa_code != DESA_B)
    moving.desa_code = DESA_B
    if len(forwarded) > 1 and unreferred:
        # A referral moved to a person who had none (a merge of duplicates does so).
        forwarded[1].person_id = unreferred[0].id
    stopped = next(p for p in persons if p is not moving and db.session.execute(
        sa.select(Consent.id).where(Consent.person_id == p.id)).first())
    stopped.processing_stopped_at = dt.datetime(2026, 3, 9, tzinfo=dt.UTC)
    db.session.commit()
    return organisations


def test_each_role_pulls_exactly_the_rows_it_reads(moved):
    registry = build_registry()
    users = db.session.execute(sa.select(User).order_by(User.id)).scalars().all()
    assert {u.role for u in users} >= {"officer", "community", "ltsa", "partner", "admin"}
    for user in users:
        assert _pulled(registry, user) == _readable(registry, user), user.username


def test_the_backfill_writes_the_entries_the_flushes_wrote(moved):
    written = _entries()
    assert {scope.split(":")[0] for scope, *_ in written} == {
        "desa", "creator", "role", "organisation"}
    db.session.execute(sa.delete(SyncChange))
    backfill(db.session.connection())
    assert _entries() == written


def test_the_row_dumper_gives_what_marshmallow_gives(moved):
    registry = build_registry()
    for name, spec in registry.items():
        schema = _SCHEMAS[name](only=SYNC_FIELDS[name])
        rows = db.session.execute(sa.select(spec.model)).scalars().all()
        plain = db.session.execute(sa.select(spec.model.__table__)).all()
        assert rows, name
        for row in [*rows, *plain]:
            assert spec.dump(row) == schema.dump(row), name
        # Some fields only (a push's normalised values), None among them.
        some = SimpleNamespace(**{field: None for field in SYNC_FIELDS[name][:3]})
        assert spec.dump(some) == schema.dump(some), name
