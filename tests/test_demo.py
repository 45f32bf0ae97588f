"""The demo dataset and the `flask demo` command."""

import datetime as dt
import functools
import re

import pytest
import sqlalchemy as sa

from server import enums
from server.demo import DEMO_PASSWORD
from server.demo import demo_usernames
from server.demo import load_demo
from server.extensions import db
from server.identity import nik_warnings
from server.identity import normalise_phone
from server.identity import parse_nik
from server.models import CommunityGroup
from server.models import Consent
from server.models import MigrationPlan
from server.models import OutreachVisit
from server.models import Person
from server.models import Referral
from server.models import ReferralEvent
from server.models import User
from server.passwords import hash_password
from sync import hlc
from sync.referral_status import derive_status

TODAY = dt.date(2026, 3, 10)
SYNCED = (OutreachVisit, Person, Consent, MigrationPlan, Referral, ReferralEvent)


def _all(model):
    return db.session.execute(sa.select(model)).scalars().all()


def _count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def _date(value: dt.datetime) -> dt.date:
    # SQLite gives naive UTC back; Cirebon is UTC+7.
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return (aware + dt.timedelta(hours=7)).date()


@functools.cache
def _hash_once(password: str) -> str:
    return hash_password(password)


@pytest.fixture(autouse=True)
def _one_slow_hash(monkeypatch):
    """Hash the demo password once for the module: Argon2 takes a quarter second."""
    monkeypatch.setattr("server.demo.hash_password", _hash_once)


@pytest.fixture
def demo(app):
    """The demo dataset for a fixed day, committed; returns what load_demo returned."""
    result = load_demo(db.session, today=TODAY)
    db.session.commit()
    return result


def test_demo_command_prints_accounts_and_runs_once(app, runner, client):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "Demo data loaded" in first.output
    assert DEMO_PASSWORD in first.output
    for username in demo_usernames():
        assert re.search(rf"^  {re.escape(username)} ", first.output, re.M), username
    assert "Desa Waled Desa, Kec. Waled" in first.output
    assert "WCC Mawar Balqis" in first.output
    counts = {m: _count(m) for m in (User, CommunityGroup, *SYNCED)}

    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    assert "already loaded; nothing added" in second.output
    assert "perangkat.waled" in second.output
    assert {m: _count(m) for m in (User, CommunityGroup, *SYNCED)} == counts

    login = client.post("/api/auth/login",
                        json={"username": "perangkat.waled", "password": DEMO_PASSWORD})
    assert login.status_code == 201
    assert login.get_json()["user"]["role"] == "officer"


def test_accounts_cover_every_role_and_scope(demo):
    users = {u.username: u for u in _all(User)}
    assert set(users) == set(demo_usernames())
    assert sorted({u.role for u in users.values()}) == sorted(enums.ROLES)
    officers = [u for u in users.values() if u.role == "officer"]
    assert len({u.desa_code[:8] for u in officers}) == 3  # three kecamatan
    group = db.session.execute(sa.select(CommunityGroup)).scalar_one()
    members = [u for u in users.values() if u.role == "community"]
    assert len(members) == 2
    assert all(u.community_group_id == group.id and u.desa_code == group.desa_code
               for u in members)
    assert group.desa_code in {u.desa_code for u in officers}
    assert {u.organisation.code for u in users.values() if u.role in ("ltsa", "partner")} == {
        "ltsa", "sbmi", "wcc_mawar_balqis"}
    assert demo["counts"]["users"] == 9


def test_visits_are_varied_and_reach_more_women(demo):
    visits = _all(OutreachVisit)
    assert 35 <= len(visits) <= 45
    assert len({v.visit_type for v in visits}) >= 8
    assert {v.visit_type for v in visits} <= set(enums.VISIT_TYPES)
    assert all(set(v.topics) <= set(enums.TOPICS) for v in visits)
    assert any(len(v.topics) >= 3 for v in visits)
    women = sum(v.participants_female for v in visits)
    men = sum(v.participants_male for v in visits)
    assert women > men > 0
    assert sum(v.participants_children for v in visits) > 0
    assert all(TODAY - dt.timedelta(days=183) <= v.visit_date < TODAY for v in visits)
    assert len({(v.visit_date.year, v.visit_date.month) for v in visits}) >= 6
    users = {u.id: u for u in _all(User)}
    for v in visits:
        author = users[v.created_by_id]
        assert v.desa_code == author.desa_code
        assert v.community_group_id == author.community_group_id
    assert any(v.community_group_id for v in visits)


def test_persons_are_realistic_and_consented(demo):
    persons = _all(Person)
    assert 25 <= len(persons) <= 35
    sexes = [p.sex for p in persons]
    assert sexes.count("P") > 2 * sexes.count("L") > 0
    children = [p for p in persons if p.age_on(TODAY) < 18]
    assert 1 <= len(children) <= 5
    assert {p.migration_status for p in persons} == set(enums.MIGRATION_STATUSES)
    users = {u.id: u for u in _all(User)}
    consents = {c.person_id: c for c in _all(Consent)}
    assert len(consents) == len(persons)
    niks = [p.nik for p in persons if p.nik]
    assert len(niks) >= 10 and len(set(niks)) == len(niks)
    for p in persons:
        author = users[p.created_by_id]
        assert p.desa_code == author.desa_code
        community = author.role == "community"
        assert p.lawful_basis == ("persetujuan" if community else "tugas_publik")
        assert p.community_group_id == (author.community_group_id if community else None)
        if p.nik:
            nik = parse_nik(p.nik, today=TODAY)
            assert nik.region == p.desa_code[:8]  # the kecamatan of the desa
            assert nik_warnings(nik, p.sex, p.birth_date) == []
        if p.phone:
            assert normalise_phone(p.phone) == p.phone
        consent = consents[p.id]
        assert consent.notice_version == "2024-10"
        assert consent.method in enums.CONSENT_METHODS
        assert set(consent.purposes) <= set(enums.CONSENT_PURPOSES)
        assert _date(consent.given_at) < TODAY
        assert bool(consent.guardian_name) == (p.age_on(TODAY) < 18)


def test_migration_plans(demo):
    plans = _all(MigrationPlan)
    assert len(plans) >= 10
    countries = {p.destination_country for p in plans}
    assert {"TW", "HK", "MY", "KR", "SG", "JP", "SA"} <= countries
    assert all(p.sector in enums.SECTORS and p.scheme in enums.SCHEMES for p in plans)
    assert all(set(p.documents) <= set(enums.DOCUMENTS) for p in plans)
    with_recruiter = [p for p in plans if p.informal_recruiter]
    assert with_recruiter and all(p.fee_asked and p.fee_asked > 0 for p in with_recruiter)


def test_referrals_follow_their_event_histories(demo):
    referrals = _all(Referral)
    assert 15 <= len(referrals) <= 25
    persons = {p.id: p for p in _all(Person)}
    users = {u.id: u for u in _all(User)}
    events = {}
    for e in _all(ReferralEvent):
        events.setdefault(e.referral_id, []).append(e)
    orgs = {u.organisation_id: u.organisation.code for u in users.values() if u.organisation}
    for r in referrals:
        person = persons[r.person_id]
        assert r.desa_code == person.desa_code
        assert r.community_group_id == person.community_group_id
        assert r.is_child == (person.age_on(_date(r.created_at)) < 18)
        assert set(r.services) <= set(enums.SERVICES)
        assert r.urgency in enums.URGENCIES
        assert r.case_category is None or r.case_category in enums.CASE_CATEGORIES
        history = sorted(events[r.id], key=lambda e: (e.hlc, e.id))
        statuses = [e for e in history if e.kind == "status"]
        assert statuses[0].status == "terkirim"
        assert r.status == statuses[-1].status
        derived, flagged = derive_status(
            {"id": e.id, "kind": e.kind, "status": e.status, "hlc": e.hlc,
             "author_role": e.author_role} for e in history)
        assert (derived, flagged) == (r.status, [])
        for e in history:
            assert hlc.is_valid(e.hlc)
            assert e.author_role == users[e.created_by_id].role
            assert e.field_clocks["status"] == e.hlc
        forwards = [e for e in statuses if e.status == "dirujuk_lanjut"]
        if forwards:
            assert orgs[r.assigned_organisation_id] in ("sbmi", "wcc_mawar_balqis")
            assert r.assigned_organisation_id == forwards[-1].organisation_id
    all_statuses = {r.status for r in referrals}
    assert {"selesai", "dilayani", "dirujuk_lanjut", "tidak_hadir", "terkirim"} <= all_statuses
    assert [r.status for r in referrals].count("dibatalkan") == 1
    assert {orgs[r.assigned_organisation_id] for r in referrals} == {
        "ltsa", "sbmi", "wcc_mawar_balqis"}
    assert {persons[r.person_id].sex for r in referrals} == {"L", "P"}
    assert any(r.is_child for r in referrals)
    assert len({_date(r.created_at).month for r in referrals}) >= 5


def test_every_record_has_a_creator_and_a_sequence(demo):
    for model in SYNCED:
        rows = _all(model)
        assert rows, model
        assert all(r.created_by_id is not None for r in rows), model
        assert all(r.change_seq > 0 for r in rows), model
        assert all(r.field_clocks for r in rows), model


def test_same_seed_same_data(app):
    def snapshot():
        load_demo(db.session, today=TODAY, seed=7)
        db.session.flush()
        rows = db.session.execute(
            sa.select(Person.name, Person.nik, Person.birth_date, Person.phone)
            .order_by(Person.name)).all()
        visits = db.session.execute(
            sa.select(OutreachVisit.visit_date, OutreachVisit.visit_type,
                      OutreachVisit.participants_female)
            .order_by(OutreachVisit.visit_date, OutreachVisit.visit_type)).all()
        hlcs = db.session.execute(sa.select(ReferralEvent.hlc).order_by(ReferralEvent.hlc)
                                  ).scalars().all()
        db.session.rollback()
        return rows, visits, hlcs

    assert snapshot() == snapshot()
