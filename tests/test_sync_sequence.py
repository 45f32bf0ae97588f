"""Every write of a synced row takes the next change sequence, by whatever path."""

import datetime as dt

import sqlalchemy as sa

from server.extensions import db
from server.models import OutreachVisit
from sync import sequence
from tests.conftest import DESA_A


def _visit(**kw):
    return OutreachVisit(visit_type="sosialisasi", visit_date=dt.date(2026, 11, 1),
                         desa_code=DESA_A, **kw)


def test_new_and_changed_rows_get_increasing_sequences(app):
    a, b = _visit(), _visit()
    db.session.add_all([a, b])
    db.session.commit()
    assert sorted([a.change_seq, b.change_seq]) == [1, 2]
    assert sequence.high_water(db.session) == 2
    a.notes = "diubah"
    db.session.commit()
    assert a.change_seq == 3 and b.change_seq in (1, 2)


def test_unchanged_row_keeps_its_sequence(app):
    a = _visit()
    db.session.add(a)
    db.session.commit()
    a.notes = a.notes  # no real change
    db.session.commit()
    assert a.change_seq == 1 and sequence.high_water(db.session) == 1


def test_rolled_back_allocation_is_not_committed(app):
    db.session.add(_visit())
    db.session.flush()
    db.session.rollback()
    assert sequence.high_water(db.session) == 0
    assert db.session.execute(sa.select(sa.func.count()).select_from(OutreachVisit)).scalar() == 0
