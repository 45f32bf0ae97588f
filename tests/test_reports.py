"""Reports: every figure of a small, deliberately built data set, computed by hand here.

The data: 3 desa in 2 kecamatan (Waled Desa and Waled Kota in Waled, Leuweunggajah in
Ciledug), visits in January and February 2026, persons of both sexes and children, and
referrals whose events carry known times. The numbers in the expectations are worked out
by hand from the data below, never by the code under test.
"""

import csv
import datetime as dt
import io

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from server.domain import reports
from server.domain.common import WIB
from server.domain.common import today
from server.extensions import db
from server.models import AuditEntry
from server.models import CommunityGroup
from server.models import OutreachVisit
from server.models import Person
from server.models import Referral
from server.models import ReferralEvent
from sync import hlc

pytestmark = pytest.mark.usefixtures("fast_passwords")

WALED = "32.09.01"
CILEDUG = "32.09.02"
A = "32.09.01.2008"  # Waled Desa
A2 = "32.09.01.2009"  # Waled Kota
B = "32.09.02.2008"  # Leuweunggajah (Ciledug)
GROUP_FORMULA = '=HYPERLINK("http://contoh.invalid","klik")'
GROUP_PLUS = "+1"
PERIOD = "from=2026-01&to=2026-02"


def stamp(wib: str, node: str = "hp-1") -> str:
    """The HLC of a moment given in WIB, e.g. "2026-01-12 08:00"."""
    moment = dt.datetime.fromisoformat(wib).replace(tzinfo=WIB)
    return hlc.encode(int(moment.timestamp() * 1000), 0, node)


def hours_after(wib: str, hours: float) -> str:
    moment = dt.datetime.fromisoformat(wib) + dt.timedelta(hours=hours)
    return stamp(moment.isoformat(sep=" "), "server")


def add_visit(desa, day, male=0, female=0, children=0, group=None, deleted=False):
    db.session.add(OutreachVisit(
        visit_type="sosialisasi", visit_date=day, desa_code=desa, community_group_id=group,
        participants_male=male, participants_female=female, participants_children=children,
        deleted_hlc=stamp("2026-03-01 10:00") if deleted else None))


def add_person(key, desa, sex, registered_wib=None, registered_utc=None, birth=None, **extra):
    if registered_utc is not None:
        moment = dt.datetime.fromisoformat(registered_utc).replace(tzinfo=dt.UTC)
        clock = hlc.encode(int(moment.timestamp() * 1000), 0, "hp-1")
    else:
        clock = stamp(registered_wib)
    person = Person(id=key, name=f"Warga {key}", sex=sex, desa_code=desa, birth_date=birth,
                    migration_status="calon_potensial", lawful_basis="tugas_publik",
                    field_clocks={"name": clock, "sex": clock, "desa_code": clock}, **extra)
    db.session.add(person)
    db.session.flush()
    return person


def add_referral(key, person, services, status, sent_wib, events=(), is_child=False):
    """events: (hours after sending, author role, kind)."""
    db.session.add(Referral(id=key, person_id=person.id, desa_code=person.desa_code,
                            services=services, status=status, is_child=is_child))
    db.session.flush()
    db.session.add(ReferralEvent(referral_id=key, kind="status", status="terkirim",
                                 author_role="officer", hlc=stamp(sent_wib)))
    for hours, role, kind in events:
        db.session.add(ReferralEvent(referral_id=key, kind=kind, author_role=role,
                                     status="diterima" if kind == "status" else None,
                                     hlc=hours_after(sent_wib, hours)))


@pytest.fixture
def data(app):
    g1 = CommunityGroup(name=GROUP_FORMULA, desa_code=A)
    g2 = CommunityGroup(name=GROUP_PLUS, desa_code=A2)
    db.session.add_all([g1, g2])
    db.session.flush()
    # Visits in the period.
    add_visit(A, dt.date(2026, 1, 5), 4, 11, 2, group=g1.id)
    add_visit(A, dt.date(2026, 1, 20), 1, 2, 0)
    add_visit(A2, dt.date(2026, 2, 3), 0, 5, 1, group=g2.id)
    add_visit(B, dt.date(2026, 2, 10), 2, 1, 0)
    add_visit(B, dt.date(2026, 2, 11), 10, 10, 10, deleted=True)  # a tombstone
    add_visit(B, dt.date(2025, 12, 31), 7, 0, 0)  # before the period
    add_visit(A2, dt.date(2026, 3, 1), 0, 3, 0)  # after it
    # Recent visits, for the 60 days without outreach (today in WIB).
    day = today()
    add_visit(A, day - dt.timedelta(days=59), 1, 1, 0)
    add_visit(A2, day - dt.timedelta(days=60), 1, 1, 0)
    add_visit(B, day - dt.timedelta(days=10), 1, 1, 0, deleted=True)
    add_visit(B, day - dt.timedelta(days=100), 1, 1, 0)
    # Persons.
    p1 = add_person("p1", A, "L", "2026-01-10 09:00", birth=dt.date(1990, 1, 1))
    p2 = add_person("p2", A, "P", "2026-01-15 09:00", birth=dt.date(2010, 6, 1))  # 15
    # 18:00 UTC on 31 January is 01:00 WIB on 1 February.
    p3 = add_person("p3", A, "P", registered_utc="2026-01-31 18:00", birth=dt.date(1995, 5, 5))
    p4 = add_person("p4", A2, "P", "2026-02-02 09:00", birth=dt.date(1999, 2, 2),
                    archived_at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
    add_person("p5", A2, "P", "2026-02-03 09:00", birth=dt.date(1999, 2, 2),
               archived_at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC), merged_into_id="p4")
    p6 = add_person("p6", B, "L", "2026-02-20 09:00", birth=dt.date(2008, 3, 1))  # 17
    p7 = add_person("p7", B, "P", "2025-12-15 09:00", birth=dt.date(1980, 1, 1))
    p8 = add_person("p8", B, "P", "2026-02-21 09:00")  # no birth date: not a child
    # Referrals, with the desk's (ltsa/partner) events at known hours after sending.
    add_referral("r1", p1, ["informasi_migrasi_aman", "pengaduan_kasus"], "selesai",
                 "2026-01-12 08:00", [(2, "ltsa", "status"), (50, "ltsa", "note")])
    add_referral("r2", p2, ["layanan_responsif_gender"], "dilayani", "2026-01-20 09:00",
                 [(1, "officer", "note"), (30, "ltsa", "note"), (40, "partner", "note")],
                 is_child=True)
    add_referral("r7", p3, ["dukcapil"], "dijadwalkan", "2026-01-31 20:00",
                 [(12, "partner", "note")])
    add_referral("r3", p4, ["bantuan_hukum"], "terkirim", "2026-02-03 10:00",
                 [(3, "officer", "note")])
    add_referral("r4", p6, ["informasi_migrasi_aman"], "diterima", "2026-02-21 10:00",
                 [(5, "ltsa", "status")], is_child=True)
    add_referral("r5", p8, ["informasi_migrasi_aman", "bpjs_tk"], "dibatalkan",
                 "2026-02-22 10:00", [(1, "officer", "status"), (100, "ltsa", "note")])
    add_referral("r6", p7, ["informasi_migrasi_aman"], "selesai", "2025-12-20 10:00",
                 [(1000, "ltsa", "status")])  # before the period
    db.session.commit()


def get(client, account, query, status=200):
    response = client.get(f"/api/reports?{query}", headers=account.headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def table(report, key):
    return next(t for t in report["tables"] if t["key"] == key)


def project(rows, keys):
    return [tuple(row[k] for k in keys) for row in rows]


VISIT_KEYS = ("visits", "male", "female", "children", "total")


def test_visits_by_desa_and_kecamatan(client, make_account, data):
    ltsa = make_account("ltsa")
    visits = table(get(client, ltsa, f"{PERIOD}&by=desa"), "visits")
    assert project(visits["rows"], ("month", "desa_code", "desa", "kecamatan", *VISIT_KEYS)) == [
        ("2026-01", A, "Waled Desa", "Waled", 2, 5, 13, 2, 20),
        ("2026-02", A2, "Waled Kota", "Waled", 1, 0, 5, 1, 6),
        ("2026-02", B, "Leuweunggajah", "Ciledug", 1, 2, 1, 0, 3),
    ]
    assert visits["totals"] == {"visits": 4, "male": 7, "female": 19, "children": 3,
                                "total": 29}
    assert visits["chart"]["categories"] == ["2026-01", "2026-02"]
    assert visits["chart"]["category_labels"][1] == {"id": "Feb 2026", "en": "Feb 2026"}
    assert {s["key"]: s["values"] for s in visits["chart"]["series"]} == {
        "female": [13, 6], "male": [5, 2], "children": [2, 1]}
    labels = {c["key"]: c["label"] for c in visits["columns"]}
    assert labels["female"]["id"].startswith("Peserta perempuan")
    assert labels["female"]["en"] == "Adult women reached (P)"

    by_kecamatan = table(get(client, ltsa, f"{PERIOD}&by=kecamatan"), "visits")
    assert project(by_kecamatan["rows"], ("month", "kecamatan_code", "kecamatan",
                                          *VISIT_KEYS)) == [
        ("2026-01", WALED, "Waled", 2, 5, 13, 2, 20),
        ("2026-02", WALED, "Waled", 1, 0, 5, 1, 6),
        ("2026-02", CILEDUG, "Ciledug", 1, 2, 1, 0, 3),
    ]
    assert "desa" not in by_kecamatan["rows"][0]


def test_visits_by_group(client, make_account, data):
    groups = table(get(client, make_account("admin"), PERIOD), "visits_by_group")
    assert project(groups["rows"], ("month", "desa_code", "group", "visits", "male", "female",
                                    "children")) == [
        ("2026-01", A, GROUP_FORMULA, 1, 4, 11, 2),
        ("2026-02", A2, GROUP_PLUS, 1, 0, 5, 1),
    ]
    assert groups["totals"] == {"visits": 2, "male": 4, "female": 16, "children": 3}


def test_persons_registered(client, make_account, data):
    ltsa = make_account("ltsa")
    persons = table(get(client, ltsa, f"{PERIOD}&by=desa"), "persons")
    keys = ("month", "desa_code", "male", "female", "children", "total")
    assert project(persons["rows"], keys) == [
        ("2026-01", A, 1, 1, 1, 2),  # p1, p2 (a child)
        ("2026-02", A, 0, 1, 0, 1),  # p3: 31 January in UTC, 1 February in WIB
        ("2026-02", A2, 0, 1, 0, 1),  # p4 (archived, counts); p5 merged into p4 does not
        ("2026-02", B, 1, 1, 1, 2),  # p6 (17), p8 (no birth date)
    ]
    assert persons["totals"] == {"male": 2, "female": 4, "children": 2, "total": 6}
    by_kecamatan = table(get(client, ltsa, f"{PERIOD}&by=kecamatan"), "persons")
    assert project(by_kecamatan["rows"], ("month", "kecamatan_code", "male", "female",
                                          "children", "total")) == [
        ("2026-01", WALED, 1, 1, 1, 2), ("2026-02", WALED, 0, 2, 0, 2),
        ("2026-02", CILEDUG, 1, 1, 1, 2)]
    assert {s["key"]: s["values"] for s in persons["chart"]["series"]} == {
        "female": [1, 3], "male": [1, 1], "children": [1, 1]}


REFERRAL_KEYS = ("referrals", "male", "female", "children")


def test_referrals_by_service_and_status(client, make_account, data):
    report = get(client, make_account("ltsa"), f"{PERIOD}&by=desa")
    service = table(report, "referrals_by_service")
    assert project(service["rows"], ("month", "desa_code", "service", *REFERRAL_KEYS)) == [
        ("2026-01", A, "informasi_migrasi_aman", 1, 1, 0, 0),
        ("2026-01", A, "pengaduan_kasus", 1, 1, 0, 0),
        ("2026-01", A, "layanan_responsif_gender", 1, 0, 1, 1),
        ("2026-01", A, "dukcapil", 1, 0, 1, 0),
        ("2026-02", A2, "bantuan_hukum", 1, 0, 1, 0),
        ("2026-02", B, "informasi_migrasi_aman", 2, 1, 1, 1),
        ("2026-02", B, "bpjs_tk", 1, 0, 1, 0),
    ]
    assert service["rows"][0]["service_label"] == "Informasi migrasi aman"
    assert service["totals"] == {"referrals": 8, "male": 3, "female": 5, "children": 2}
    assert service["chart"]["categories"] == [
        "informasi_migrasi_aman", "pengaduan_kasus", "bantuan_hukum",
        "layanan_responsif_gender", "dukcapil", "bpjs_tk"]
    assert service["chart"]["series"][0]["values"] == [3, 1, 1, 1, 1, 1]
    assert service["chart"]["category_labels"][5] == {"id": "BPJS Ketenagakerjaan",
                                                      "en": "Social security"}

    status = table(report, "referrals_by_status")
    assert project(status["rows"], ("month", "desa_code", "status", *REFERRAL_KEYS)) == [
        ("2026-01", A, "dijadwalkan", 1, 0, 1, 0),
        ("2026-01", A, "dilayani", 1, 0, 1, 1),
        ("2026-01", A, "selesai", 1, 1, 0, 0),
        ("2026-02", A2, "terkirim", 1, 0, 1, 0),
        ("2026-02", B, "diterima", 1, 1, 0, 1),
        ("2026-02", B, "dibatalkan", 1, 0, 1, 0),
    ]
    assert status["totals"] == {"referrals": 6, "male": 2, "female": 4, "children": 2}
    assert status["chart"]["categories"] == [
        "terkirim", "diterima", "dijadwalkan", "dilayani", "selesai", "dibatalkan"]


def test_response_time(client, make_account, data):
    response = table(get(client, make_account("ltsa"), f"{PERIOD}&by=desa"), "response_time")
    keys = ("month", "desa_code", "referrals", "acted", "waiting", "median_hours", "p90_hours")
    # Hours to the first ltsa/partner event: r1 2, r2 30, r7 12 (January); r4 5, r5 100
    # (February, Leuweunggajah); r3 has only an official's note: waiting.
    assert project(response["rows"], keys) == [
        ("2026-01", A, 3, 3, 0, 12.0, 26.4),  # [2, 12, 30]: p90 at rank 1.8 = 12 + 0.8 * 18
        ("2026-02", A2, 1, 0, 1, None, None),
        ("2026-02", B, 2, 2, 0, 52.5, 90.5),  # [5, 100]: p90 = 5 + 0.9 * 95
    ]
    # All five: [2, 5, 12, 30, 100]; p90 at rank 3.6 = 30 + 0.6 * 70.
    assert response["totals"] == {"referrals": 6, "acted": 5, "waiting": 1,
                                  "median_hours": 12.0, "p90_hours": 72.0}
    assert {s["key"]: s["values"] for s in response["chart"]["series"]} == {
        "median_hours": [12.0, 52.5], "p90_hours": [26.4, 90.5]}


@pytest.mark.parametrize("values, median, p90", [
    ([2, 5, 12, 30, 100], 12, 72),
    ([100, 5], 52.5, 90.5),
    ([7], 7, 7),
    ([4, 1, 3, 2], 2.5, 3.7),
    ([], None, None),
])
def test_median_and_p90_of_known_lists(values, median, p90):
    assert reports.quantile(values, 0.5) == pytest.approx(median)
    assert reports.quantile(values, 0.9) == pytest.approx(p90)


def test_desa_without_outreach_in_60_days(client, make_account, data):
    day = today()
    no_outreach = table(get(client, make_account("ltsa"), PERIOD), "no_outreach")
    listed = {row["desa_code"]: row for row in no_outreach["rows"]}
    # Waled Desa had a visit 59 days ago; the other 423 of the 424 desa/kelurahan are listed.
    assert A not in listed
    assert len(no_outreach["rows"]) == 423 and no_outreach["totals"] == {"desa": 423}
    assert (listed[A2]["last_visit"], listed[A2]["days_since"]) == (
        (day - dt.timedelta(days=60)).isoformat(), 60)
    # The deleted visit 10 days ago does not count; the one 100 days ago is the last.
    assert (listed[B]["last_visit"], listed[B]["days_since"]) == (
        (day - dt.timedelta(days=100)).isoformat(), 100)
    never = listed["32.09.40.2001"]
    assert (never["kecamatan"], never["last_visit"], never["days_since"]) == (
        "Jamblang", None, None)


def test_an_official_sees_their_own_desa(client, make_account, data):
    officer = make_account("officer", desa_code=B)
    report = get(client, officer, f"{PERIOD}&by=desa")
    assert report["scope"] == {"level": "desa", "code": B}
    assert project(table(report, "visits")["rows"], ("month", "desa_code", *VISIT_KEYS)) == [
        ("2026-02", B, 1, 2, 1, 0, 3)]
    assert project(table(report, "persons")["rows"], ("desa_code", "total")) == [(B, 2)]
    assert table(report, "response_time")["totals"] == {
        "referrals": 2, "acted": 2, "waiting": 0, "median_hours": 52.5, "p90_hours": 90.5}
    assert table(report, "visits_by_group")["rows"] == []
    assert project(table(report, "no_outreach")["rows"], ("desa_code",)) == [(B,)]
    # Rows name the desa even when asked per kecamatan: the figures are the desa's only.
    per_kecamatan = get(client, officer, f"{PERIOD}&by=kecamatan")
    assert per_kecamatan["by"] == "desa"
    assert per_kecamatan["tables"] == report["tables"]
    # Their own kecamatan narrows to their desa all the same; another desa does not exist.
    assert get(client, officer, f"{PERIOD}&by=desa&area={CILEDUG}")["tables"] == report[
        "tables"]
    body = get(client, officer, f"{PERIOD}&area={A}", status=404)
    assert body["error"]["code"] == "not_found"
    response = client.get(f"/api/reports/export?format=csv&table=visits&area={A}",
                          headers=officer.headers)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_the_desk_narrows_to_an_area(client, make_account, data):
    report = get(client, make_account("ltsa"), f"{PERIOD}&by=desa&area={WALED}")
    assert report["scope"] == {"level": "kecamatan", "code": WALED}
    assert project(table(report, "visits")["rows"], ("desa_code",)) == [(A,), (A2,)]
    assert table(report, "response_time")["totals"]["referrals"] == 4


@pytest.mark.parametrize("role", ["community", "partner"])
def test_community_members_and_partners_get_no_reports(client, make_account, data, role):
    account = make_account(role)
    body = get(client, account, PERIOD, status=403)
    assert body["error"]["code"] == "forbidden"
    assert body["error"]["message"]["id"] and body["error"]["message"]["en"]
    response = client.get("/api/reports/export?format=xlsx", headers=account.headers)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    assert db.session.execute(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "export")).scalar_one() == 0


def test_reports_need_a_login(client, data):
    assert client.get("/api/reports").status_code == 401
    assert client.get("/api/reports/export?format=csv&table=visits").status_code == 401


@pytest.mark.parametrize("query, field", [
    ("from=2026-13", "from"),
    ("to=26-01", "to"),
    ("from=2026-03&to=2026-01", "to"),
    ("from=2020-01&to=2026-01", "to"),
    ("by=rt", "by"),
    ("area=99.99", "area"),
    ("area=32.74.01", "area"),
    ("sort=name", "sort"),
])
def test_bad_parameters_name_the_field(client, make_account, data, query, field):
    body = get(client, make_account("ltsa"), query, status=422)
    assert body["error"]["code"] == "invalid"
    messages = body["error"]["fields"][field]
    assert messages[0]["id"] and messages[0]["en"] and messages[0]["id"] != messages[0]["en"]


@pytest.mark.parametrize("query, field", [
    ("format=pdf&table=visits", "format"),
    ("table=visits", "format"),
    ("format=csv", "table"),
    ("format=xlsx&table=semua", "table"),
])
def test_bad_export_parameters_name_the_field(client, make_account, data, query, field):
    response = client.get(f"/api/reports/export?{query}", headers=make_account("ltsa").headers)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


def test_default_period_is_the_last_twelve_months(client, make_account, data):
    report = get(client, make_account("ltsa"), "to=2026-02")
    assert report["period"]["from"] == "2025-03" and len(report["period"]["months"]) == 12
    assert report["by"] == "kecamatan"


# Exports -----------------------------------------------------------------------------------

def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


def export(client, account, query):
    return client.get(f"/api/reports/export?{PERIOD}&{query}", headers=account.headers)


def test_csv_has_the_json_numbers_with_small_cells_suppressed(client, make_account, data):
    ltsa = make_account("ltsa")
    rows = csv_rows(export(client, ltsa, "format=csv&table=visits&by=desa"))
    assert rows[0][0] == "Bulan / Month"
    assert rows[0][-1] == "Jumlah peserta / People reached"
    # month, kecamatan code, kecamatan, desa code, desa, visits, L, P, children, total
    assert [r[5:] for r in rows[1:]] == [
        ["2", "5", "13", "<3", "20"],
        ["1", "0", "5", "<3", "6"],
        ["1", "<3", "<3", "0", "3"],
        ["4", "7", "19", "3", "29"],
    ]
    assert rows[1][:5] == ["2026-01", WALED, "Waled", A, "Waled Desa"]
    assert rows[-1][0] == "Jumlah / Total"

    response_rows = csv_rows(export(client, ltsa, "format=csv&table=response_time&by=desa"))
    assert [r[5:] for r in response_rows[1:]] == [
        ["3", "3", "0", "12.0", "26.4"],
        ["<3", "0", "<3", "", ""],
        ["<3", "<3", "0", "<3", "<3"],
        ["6", "5", "<3", "12.0", "72.0"],
    ]


def test_xlsx_has_the_same_numbers_as_csv_and_json(client, make_account, data):
    ltsa = make_account("ltsa")
    response = export(client, ltsa, "format=xlsx&by=desa")
    assert response.status_code == 200
    assert response.mimetype == reports_xlsx_type()
    assert "attachment" in response.headers["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(response.data))
    assert workbook.sheetnames == list(reports.TABLE_KEYS)
    visits = [list(r) for r in workbook["visits"].iter_rows(values_only=True)]
    assert [r[5:] for r in visits[1:]] == [
        [2, 5, 13, "<3", 20], [1, 0, 5, "<3", 6], [1, "<3", "<3", 0, 3], [4, 7, 19, 3, 29]]
    service = [list(r) for r in workbook["referrals_by_service"].iter_rows(values_only=True)]
    # month, kec code, kec, desa code, desa, service, label, referrals, L, P, children
    assert [r[5:] for r in service[1:]] == [
        ["informasi_migrasi_aman", "Informasi migrasi aman", "<3", "<3", 0, 0],
        ["pengaduan_kasus", "Pengaduan dan penanganan kasus", "<3", "<3", 0, 0],
        ["layanan_responsif_gender", "Layanan kekerasan berbasis gender", "<3", 0, "<3", "<3"],
        ["dukcapil", "Dukcapil (adminduk)", "<3", 0, "<3", 0],
        ["bantuan_hukum", "Bantuan hukum", "<3", 0, "<3", 0],
        ["informasi_migrasi_aman", "Informasi migrasi aman", "<3", "<3", "<3", "<3"],
        ["bpjs_tk", "BPJS Ketenagakerjaan", "<3", 0, "<3", 0],
        [None, None, 8, 3, 5, "<3"],
    ]
    persons = [list(r) for r in workbook["persons"].iter_rows(values_only=True)]
    assert [r[5:] for r in persons[1:]] == [
        ["<3", "<3", "<3", "<3"], [0, "<3", 0, "<3"], [0, "<3", 0, "<3"],
        ["<3", "<3", "<3", "<3"], ["<3", 4, "<3", 6]]
    no_outreach = list(workbook["no_outreach"].iter_rows(values_only=True))
    assert len(no_outreach) == 1 + 423 + 1
    # The same sheet as the CSV of the same table, cell for cell.
    csv_visits = csv_rows(export(client, ltsa, "format=csv&table=visits&by=desa"))
    assert [["" if v is None else str(v) for v in r] for r in visits] == csv_visits
    one = load_workbook(io.BytesIO(export(client, ltsa, "format=xlsx&table=persons").data))
    assert one.sheetnames == ["persons"]


def reports_xlsx_type():
    from server.api.reports import XLSX_TYPE

    return XLSX_TYPE


def test_exports_never_start_a_formula_from_user_text(client, make_account, data):
    ltsa = make_account("ltsa")
    rows = csv_rows(export(client, ltsa, "format=csv&table=visits_by_group"))
    assert [r[5] for r in rows[1:3]] == ["'" + GROUP_FORMULA, "'" + GROUP_PLUS]
    workbook = load_workbook(io.BytesIO(export(
        client, ltsa, "format=xlsx&table=visits_by_group").data))
    cells = [row[5] for row in workbook["visits_by_group"].iter_rows(min_row=2, max_row=3)]
    assert [c.value for c in cells] == [GROUP_FORMULA, GROUP_PLUS]
    assert [c.data_type for c in cells] == ["s", "s"]
    assert all(c.quotePrefix for c in cells)
    # Nothing in the workbook is a formula.
    assert not any(c.data_type == "f" for sheet in workbook for row in sheet.iter_rows()
                   for c in row)


def test_every_export_is_in_the_audit_log(client, make_account, data):
    ltsa = make_account("ltsa")
    officer = make_account("officer", desa_code=A)
    assert export(client, ltsa, "format=csv&table=persons&by=desa").status_code == 200
    assert export(client, ltsa, "format=xlsx").status_code == 200
    assert export(client, officer, "format=xlsx&table=visits").status_code == 200
    get(client, ltsa, PERIOD)  # the screen's JSON is not an export
    entries = db.session.execute(sa.select(AuditEntry).where(
        AuditEntry.action == "export").order_by(AuditEntry.id)).scalars().all()
    assert [(e.user_id, e.entity, e.detail["format"], e.detail["tables"]) for e in entries] == [
        (ltsa.user_id, "report", "csv", ["persons"]),
        (ltsa.user_id, "report", "xlsx", list(reports.TABLE_KEYS)),
        (officer.user_id, "report", "xlsx", ["visits"]),
    ]
    assert {k: entries[0].detail[k] for k in ("from", "to", "by")} == {
        "from": "2026-01", "to": "2026-02", "by": "desa"}
    assert entries[2].detail["scope"] == {"level": "desa", "code": A}


def test_the_endpoints_are_in_the_openapi_document(client):
    spec = client.get("/api/openapi.json").get_json()
    report = spec["paths"]["/api/reports"]["get"]
    assert {p["name"] for p in report["parameters"]} >= {"from", "to", "by", "area"}
    assert {"200", "401", "403", "404", "422"} <= set(report["responses"])
    exported = spec["paths"]["/api/reports/export"]["get"]
    assert {p["name"] for p in exported["parameters"]} >= {"format", "table"}
