"""The Alembic migrations build exactly the schema the models describe, on each database."""

import datetime as dt

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from server.extensions import db


def test_migrated_schema_matches_models(app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_every_table_is_created(app):
    names = set(sa.inspect(db.engine).get_table_names())
    assert {t.name for t in db.metadata.sorted_tables} <= names
    assert "alembic_version" in names


def test_notes_recorded_before_audiences_stay_readable_by_the_village(tmp_path):
    """A data migration, on SQLite (the schema tests above run on both databases): the
    notes of a database from before note audiences keep being read by the village."""
    from flask_migrate import upgrade

    from server import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.sqlite'}",
                      "TESTING": True})
    with app.app_context():
        upgrade(revision="c41e7a9d2b60")
        table = sa.Table("referral_events", sa.MetaData(), autoload_with=db.engine)
        row = {}
        for column in table.columns:
            if column.nullable or column.server_default is not None:
                continue
            python = column.type.python_type
            row[column.name] = {str: "x", int: 0, bool: False,
                                dt.datetime: dt.datetime(2026, 1, 5)}.get(python, {})
        row.update(id="e1", kind="note", note="Catatan lama")
        with db.engine.begin() as conn:
            conn.execute(table.insert().values(**row))
        upgrade()
        with db.engine.connect() as conn:
            audience = conn.execute(sa.text("SELECT audience FROM referral_events")).scalar_one()
        db.engine.dispose()
    assert audience == "village"


def test_sync_changes_are_filled_for_the_rows_already_stored(tmp_path):
    """A data migration, on SQLite: down to the revision before sync_changes and up again,
    the entries of the demo data are those the flushes wrote."""
    from flask_migrate import downgrade
    from flask_migrate import upgrade

    from server import create_app
    from server.demo import load_demo
    from server.models import SyncChange
    from server.regions import load_regions
    from server.seed import ensure_organisations

    def entries() -> set[tuple]:
        return set(db.session.execute(sa.select(
            SyncChange.scope, SyncChange.entity, SyncChange.change_seq,
            SyncChange.record_id)).all())

    url = f"sqlite:///{tmp_path / 'walks.sqlite'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        upgrade()
        load_regions(db.session)
        ensure_organisations(db.session)
        load_demo(db.session, today=dt.date(2026, 3, 10))
        db.session.commit()
        written = entries()
        db.session.remove()
        downgrade(revision="3a9c5e1f7b20")
        assert "sync_changes" not in sa.inspect(db.engine).get_table_names()
        upgrade()
        assert entries() == written
        assert written
        db.session.remove()
        db.engine.dispose()
