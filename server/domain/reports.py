"""Reports: the figures of the outreach and referral work, per month and per kecamatan or desa.

Every table is built here from the records, the same for the desk's screen (JSON) and for
the exports (server/api/reports.py), so a CSV, an XLSX and the screen show one set of
numbers. What counts, once:

- Outreach visits count by their visit date; a deleted visit (a tombstone) was recorded by
  mistake and counts nowhere. People reached are the participants the visit recorded: men
  (L) and women (P) are adults, children are counted on their own (not inside L or P).
- A person counts as registered in the month the record was first written (the earliest
  field clock: on the phone, even when it synced later), in the desa it belongs to now.
  An archived person still counts (the registration happened); a person merged into
  another (`merged_into_id`) does not, since the kept record is the same human. A child is
  under 18 on the day of registration; children are also in L or P.
- A referral counts in the month it was sent (its `terkirim` event's clock). Each service
  it asks for counts once (a referral for two services is in two rows); its status is the
  status today. Referrals of merged persons have moved to the person kept.
- The desk's response time runs from the `terkirim` event to the first later event by an
  LTSA or partner account (any event: a status change or a note), in hours from the events'
  clocks. Referrals with no such event yet are counted as waiting and left out of the
  median and the 90th percentile (linear interpolation between the closest ranks).
- "No outreach" lists the desa/kelurahan without a visit in the 60 days ending today (WIB).

Who sees what: the LTSA desk and admins the whole kabupaten; a village official their own
desa; community members and partners no reports (least data: their figures would be a
handful of their neighbours or clients, and their own lists already show them their work).

Exports leave the desk, so there a cell counting fewer than 3 persons (1 or 2) shows "<3",
and a median or percentile computed from fewer than 3 referrals too; zero stays 0. Totals
follow the same rule on their own value; there is no secondary suppression (a total minus
the shown cells of its column can give a hidden cell's exact value). The JSON for the screen
keeps exact numbers: it is shown only inside the scope that may read them.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import math
from collections import defaultdict

import sqlalchemy as sa

from sync import hlc

from ..enums import REFERRAL_STATUSES
from ..enums import SERVICES
from ..errors import Refused
from ..errors import invalid
from ..extensions import db
from ..models import CommunityGroup
from ..models import OutreachVisit
from ..models import Person
from ..models import Referral
from ..models import ReferralEvent
from ..models import Region
from ..models import age_on
from .common import ADULT_AGE
from .common import WIB
from .common import today as wib_today
from .referrals import DESK_ROLES

REPORT_ROLES = ("admin", "ltsa", "officer")
WHOLE_KABUPATEN_ROLES = ("admin", "ltsa")
BY = ("kecamatan", "desa")
NO_OUTREACH_DAYS = 60
# A cell counting 1 or 2 persons is shown as this in exports.
SMALL_CELL = 3
SUPPRESSED = "<3"
MAX_MONTHS = 60
# A record's first clock is never later than its arrival at the server plus the allowed
# clock skew (sync.hlc clamps it): a bound that lets the query skip older rows.
_ARRIVAL_SLACK = dt.timedelta(milliseconds=hlc.MAX_SKEW_MS) + dt.timedelta(minutes=5)

MONTHS_ID = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# Columns ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Column:
    """A column of a report table.

    kind: month, code, text (names typed by users or from the regions: data, never a
    formula), label (a fixed label of the app), count (not persons, never suppressed),
    persons (suppressed under 3 in exports), hours (suppressed when the `basis` column of
    the same row counts under 3), date, days.
    """

    key: str
    id: str
    en: str
    kind: str
    basis: str | None = None

    def as_dict(self) -> dict:
        data = {"key": self.key, "label": {"id": self.id, "en": self.en}, "kind": self.kind}
        if self.basis:
            data["basis"] = self.basis
        return data


MONTH = Column("month", "Bulan", "Month", "month")
KECAMATAN_CODE = Column("kecamatan_code", "Kode kecamatan", "Kecamatan code", "code")
KECAMATAN = Column("kecamatan", "Kecamatan", "Kecamatan (subdistrict)", "text")
DESA_CODE = Column("desa_code", "Kode desa", "Desa code", "code")
DESA = Column("desa", "Desa/kelurahan", "Desa/kelurahan (village)", "text")
# The record's sex (enums.SEXES: L or P, validated on every write) -> the column; anything
# else would show as L + P short of the total, never in the wrong column.
SEX_KEYS = {"L": "male", "P": "female"}
MALE = ("male", "Laki-laki (L)", "Men (L)")
FEMALE = ("female", "Perempuan (P)", "Women (P)")


def _area_columns(by: str) -> list[Column]:
    columns = [KECAMATAN_CODE, KECAMATAN]
    if by == "desa":
        columns += [DESA_CODE, DESA]
    return columns


# The period and the scope ------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Period:
    """Whole months, from the first day of `first` to the last day of `last` (WIB)."""

    first: str  # YYYY-MM
    last: str

    @property
    def months(self) -> list[str]:
        year, month = map(int, self.first.split("-"))
        out = []
        while f"{year:04d}-{month:02d}" <= self.last:
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    @property
    def start(self) -> dt.date:
        year, month = map(int, self.first.split("-"))
        return dt.date(year, month, 1)

    @property
    def end(self) -> dt.date:
        year, month = map(int, self.last.split("-"))
        return dt.date(year, month, calendar.monthrange(year, month)[1])

    @property
    def start_utc(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(), WIB).astimezone(dt.UTC)


def months_between(first: str, last: str) -> int:
    y1, m1 = map(int, first.split("-"))
    y2, m2 = map(int, last.split("-"))
    return (y2 - y1) * 12 + (m2 - m1) + 1


def period_of(first: str | None, last: str | None) -> Period:
    """The months asked for; by default the twelve months ending with `last`, and `last`
    by default the current month (WIB)."""
    if last is None:
        day = wib_today()
        last = f"{day.year:04d}-{day.month:02d}"
    if first is None:
        year, month = map(int, last.split("-"))
        year, month = (year - 1, month + 1) if month < 12 else (year, 1)
        first = f"{year:04d}-{month:02d}"
    return Period(first, last)


@dataclasses.dataclass
class Regions:
    """Kabupaten Cirebon's kecamatan and desa/kelurahan, by code."""

    kecamatan: dict[str, str]  # code -> name
    desa: dict[str, tuple[str, str]]  # code -> (kecamatan code, name)

    @classmethod
    def load(cls) -> Regions:
        rows = db.session.execute(
            sa.select(Region.code, Region.name, Region.level, Region.parent_code)
            .where(Region.level.in_(("kecamatan", "desa", "kelurahan")))
        ).all()
        return cls({r.code: r.name for r in rows if r.level == "kecamatan"},
                   {r.code: (r.parent_code, r.name) for r in rows if r.level != "kecamatan"})

    def area(self, desa_code: str, by: str) -> dict:
        kecamatan_code, name = self.desa.get(desa_code, ("", desa_code))
        area = {"kecamatan_code": kecamatan_code,
                "kecamatan": self.kecamatan.get(kecamatan_code, kecamatan_code)}
        if by == "desa":
            area |= {"desa_code": desa_code, "desa": name}
        return area

    def area_key(self, desa_code: str, by: str) -> str:
        return desa_code if by == "desa" else self.desa.get(desa_code, ("", ""))[0]

    def area_of_key(self, key: str, by: str) -> dict:
        """The area columns of a row keyed by `area_key`."""
        if by == "desa":
            return self.area(key, by)
        return {"kecamatan_code": key, "kecamatan": self.kecamatan.get(key, key)}


def report_desa(user, area: str | None, regions: Regions) -> set[str] | None:
    """The desa codes the user's report covers (None: the whole kabupaten).

    The desk and admins see the kabupaten, narrowed to `area` (a kecamatan or a desa) if
    given; a village official sees their own desa, and an area that does not hold it does
    not exist for them (404). Other roles get no reports.
    """
    if user.role not in REPORT_ROLES:
        raise Refused("forbidden", "Laporan hanya untuk petugas LTSA, admin dan perangkat desa.",
                      "Reports are for LTSA staff, admins and village officials only.")
    if area is not None and area not in regions.kecamatan and area not in regions.desa:
        raise invalid("area", "Bukan kode kecamatan atau desa di Kabupaten Cirebon.",
                      "Not the code of a kecamatan or desa in Kabupaten Cirebon.")
    if user.role in WHOLE_KABUPATEN_ROLES:
        if area is None:
            return None
        if area in regions.desa:
            return {area}
        return {code for code, (parent, _) in regions.desa.items() if parent == area}
    own = user.desa_code
    if own is None:
        raise Refused("forbidden", "Akun ini tidak terikat pada desa.",
                      "This account has no desa.")
    if area is not None and area not in (own, regions.desa.get(own, ("",))[0]):
        raise Refused("not_found", "Wilayah ini di luar cakupan Anda.",
                      "This area is outside your scope.")
    return {own}


def _in_scope(column, desa: set[str] | None):
    return sa.true() if desa is None else column.in_(sorted(desa))


# Figures -----------------------------------------------------------------------------------

def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile by linear interpolation between the closest ranks (the median is
    q = 0.5); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _wib_date(wall_ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(wall_ms / 1000, dt.UTC).astimezone(WIB).date()


def _month(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def month_labels(months: list[str]) -> list[dict]:
    labels = []
    for month in months:
        year, number = month.split("-")
        labels.append({"id": f"{MONTHS_ID[int(number) - 1]} {year}",
                       "en": f"{MONTHS_EN[int(number) - 1]} {year}"})
    return labels


def _table(key: str, id_title: str, en_title: str, columns: list[Column], rows: list[dict],
           totals: dict | None, chart: dict | None, note: tuple[str, str] | None = None) -> dict:
    table = {"key": key, "title": {"id": id_title, "en": en_title},
             "columns": [c.as_dict() for c in columns], "rows": rows, "totals": totals,
             "chart": chart}
    if note:
        table["note"] = {"id": note[0], "en": note[1]}
    return table


def _sum_totals(columns: list[Column], rows: list[dict]) -> dict:
    return {c.key: sum(r[c.key] for r in rows) for c in columns
            if c.kind in ("count", "persons")}


def _series(key: str, id_label: str, en_label: str, values: list) -> dict:
    return {"key": key, "label": {"id": id_label, "en": en_label}, "values": values}


def _monthly_chart(kind: str, months: list[str], rows: list[dict],
                   series: list[tuple[str, str, str]]) -> dict:
    by_month: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        for key, _, _ in series:
            by_month[row["month"]][key] += row[key]
    return {"type": kind, "categories": months, "category_labels": month_labels(months),
            "series": [_series(key, id_label, en_label,
                               [by_month[m][key] for m in months])
                       for key, id_label, en_label in series]}


def _area_rows(counts: dict, regions: Regions, by: str, keys: list[str]) -> list[dict]:
    """Rows of (month, area) -> {key: count}, in month and code order, areas with data only."""
    rows = []
    for (month, area_code) in sorted(counts):
        row = {"month": month} | regions.area_of_key(area_code, by)
        row |= {key: counts[(month, area_code)].get(key, 0) for key in keys}
        rows.append(row)
    return rows


def visits_table(period: Period, by: str, desa: set[str] | None, regions: Regions) -> dict:
    rows_db = db.session.execute(
        sa.select(OutreachVisit.desa_code, OutreachVisit.visit_date,
                  OutreachVisit.participants_male, OutreachVisit.participants_female,
                  OutreachVisit.participants_children)
        .where(OutreachVisit.deleted_hlc.is_(None),
               OutreachVisit.visit_date.between(period.start, period.end),
               _in_scope(OutreachVisit.desa_code, desa))
    ).all()
    counts: dict = defaultdict(lambda: defaultdict(int))
    for r in rows_db:
        cell = counts[(_month(r.visit_date), regions.area_key(r.desa_code, by))]
        cell["visits"] += 1
        cell["male"] += r.participants_male
        cell["female"] += r.participants_female
        cell["children"] += r.participants_children
        cell["total"] += r.participants_male + r.participants_female + r.participants_children
    columns = [MONTH, *_area_columns(by),
               Column("visits", "Kunjungan", "Visits", "count"),
               Column("male", "Peserta laki-laki dewasa (L)", "Adult men reached (L)",
                      "persons"),
               Column("female", "Peserta perempuan dewasa (P)", "Adult women reached (P)",
                      "persons"),
               Column("children", "Peserta anak", "Children reached", "persons"),
               Column("total", "Jumlah peserta", "People reached", "persons")]
    keys = ["visits", "male", "female", "children", "total"]
    rows = _area_rows(counts, regions, by, keys)
    chart = _monthly_chart("stacked_bar", period.months, rows, [
        ("female", "Perempuan (P)", "Women (P)"), ("male", "Laki-laki (L)", "Men (L)"),
        ("children", "Anak", "Children")])
    return _table("visits", "Kunjungan penjangkauan dan peserta",
                  "Outreach visits and people reached", columns, rows,
                  _sum_totals(columns, rows), chart,
                  ("Anak dihitung terpisah, tidak termasuk L atau P. Kunjungan yang dihapus "
                   "tidak dihitung.",
                   "Children are counted on their own, not inside L or P. Deleted visits do "
                   "not count."))


def visits_by_group_table(period: Period, desa: set[str] | None, regions: Regions) -> dict:
    rows_db = db.session.execute(
        sa.select(OutreachVisit.desa_code, OutreachVisit.visit_date,
                  OutreachVisit.participants_male, OutreachVisit.participants_female,
                  OutreachVisit.participants_children, CommunityGroup.id, CommunityGroup.name)
        .join(CommunityGroup, CommunityGroup.id == OutreachVisit.community_group_id)
        .where(OutreachVisit.deleted_hlc.is_(None),
               OutreachVisit.visit_date.between(period.start, period.end),
               _in_scope(OutreachVisit.desa_code, desa))
    ).all()
    counts: dict = {}
    for r in rows_db:
        key = (_month(r.visit_date), r.desa_code, r.name, r.id)
        cell = counts.setdefault(key, defaultdict(int))
        cell["visits"] += 1
        cell["male"] += r.participants_male
        cell["female"] += r.participants_female
        cell["children"] += r.participants_children
    columns = [MONTH, *_area_columns("desa"),
               Column("group", "Kelompok masyarakat", "Community group", "text"),
               Column("visits", "Kunjungan", "Visits", "count"),
               Column("male", "Peserta laki-laki dewasa (L)", "Adult men reached (L)",
                      "persons"),
               Column("female", "Peserta perempuan dewasa (P)", "Adult women reached (P)",
                      "persons"),
               Column("children", "Peserta anak", "Children reached", "persons")]
    rows = [{"month": month} | regions.area(desa_code, "desa") | {"group": name}
            | {k: counts[(month, desa_code, name, gid)][k]
               for k in ("visits", "male", "female", "children")}
            for (month, desa_code, name, gid) in sorted(counts)]
    return _table("visits_by_group", "Kunjungan per kelompok masyarakat",
                  "Outreach visits per community group", columns, rows,
                  _sum_totals(columns, rows), None,
                  ("Hanya kunjungan yang mencatat kelompok.",
                   "Only visits that name a group."))


def _first_clock(clocks: dict | None, fallback: dt.datetime) -> dt.date:
    """The WIB day a record was first written: its earliest field clock."""
    stamps = [c for c in (clocks or {}).values() if hlc.is_valid(c)]
    if stamps:
        return _wib_date(hlc.parse(min(stamps)).wall_ms)
    return _aware(fallback).astimezone(WIB).date()


def registration_day(clocks: dict | None, created_at: dt.datetime) -> dt.date:
    """The WIB day a person was registered, as the reports count it."""
    return _first_clock(clocks, created_at)


def persons_table(period: Period, by: str, desa: set[str] | None, regions: Regions) -> dict:
    rows_db = db.session.execute(
        sa.select(Person.desa_code, Person.sex, Person.birth_date, Person.field_clocks,
                  Person.created_at, Person.registration_age)
        .where(Person.merged_into_id.is_(None), Person.deleted_hlc.is_(None),
               Person.created_at >= period.start_utc - _ARRIVAL_SLACK,
               _in_scope(Person.desa_code, desa))
    ).all()
    counts: dict = defaultdict(lambda: defaultdict(int))
    for r in rows_db:
        day = _first_clock(r.field_clocks, r.created_at)
        if not period.start <= day <= period.end:
            continue
        cell = counts[(_month(day), regions.area_key(r.desa_code, by))]
        if r.sex in SEX_KEYS:
            cell[SEX_KEYS[r.sex]] += 1
        # An erased person's birth date is gone; their age at registration was kept.
        age = age_on(r.birth_date, day) if r.birth_date is not None else r.registration_age
        if age is not None and age < ADULT_AGE:
            cell["children"] += 1
        cell["total"] += 1
    columns = [MONTH, *_area_columns(by),
               Column("male", *MALE[1:], "persons"), Column("female", *FEMALE[1:], "persons"),
               Column("children", "Anak (di bawah 18, termasuk dalam L/P)",
                      "Children (under 18, also in L/P)", "persons"),
               Column("total", "Jumlah warga terdaftar", "Persons registered", "persons")]
    rows = _area_rows(counts, regions, by, ["male", "female", "children", "total"])
    chart = _monthly_chart("grouped_bar", period.months, rows, [
        ("female", "Perempuan (P)", "Women (P)"), ("male", "Laki-laki (L)", "Men (L)"),
        ("children", "Anak", "Children")])
    return _table("persons", "Warga terdaftar", "Persons registered", columns, rows,
                  _sum_totals(columns, rows), chart,
                  ("Warga yang digabung ke data lain tidak dihitung; warga yang diarsipkan "
                   "tetap dihitung pada bulan pendaftarannya.",
                   "Persons merged into another record do not count; archived persons still "
                   "count in the month they were registered."))


@dataclasses.dataclass
class _SentReferral:
    desa_code: str
    month: str
    services: list
    status: str
    sex: str
    is_child: bool
    hours: float | None


def _sent_referrals(period: Period, desa: set[str] | None) -> list[_SentReferral]:
    referrals = db.session.execute(
        sa.select(Referral.id, Referral.desa_code, Referral.services, Referral.status,
                  Referral.is_child, Person.sex)
        .join(Person, Person.id == Referral.person_id)
        .where(Referral.deleted_hlc.is_(None),
               Referral.created_at >= period.start_utc - _ARRIVAL_SLACK,
               _in_scope(Referral.desa_code, desa))
    ).all()
    if not referrals:
        return []
    events: dict[str, list] = defaultdict(list)
    ids = [r.id for r in referrals]
    for chunk in range(0, len(ids), 500):
        for e in db.session.execute(
            sa.select(ReferralEvent.referral_id, ReferralEvent.kind, ReferralEvent.status,
                      ReferralEvent.author_role, ReferralEvent.hlc)
            .where(ReferralEvent.referral_id.in_(ids[chunk:chunk + 500]),
                   ReferralEvent.deleted_hlc.is_(None))
        ):
            events[e.referral_id].append(e)
    out = []
    for r in referrals:
        history = sorted(events[r.id], key=lambda e: e.hlc)
        sent = next((e for e in history if e.kind == "status" and e.status == "terkirim"), None)
        if sent is None:
            continue
        sent_ms = hlc.parse(sent.hlc).wall_ms
        day = _wib_date(sent_ms)
        if not period.start <= day <= period.end:
            continue
        desk = next((e for e in history if e.hlc > sent.hlc and e.author_role in DESK_ROLES),
                    None)
        hours = None if desk is None else (hlc.parse(desk.hlc).wall_ms - sent_ms) / 3_600_000
        out.append(_SentReferral(r.desa_code, _month(day), list(r.services or []), r.status,
                                 r.sex, bool(r.is_child), hours))
    return out


def _referral_counts(cell: dict, referral: _SentReferral) -> None:
    cell["referrals"] += 1
    if referral.sex in SEX_KEYS:
        cell[SEX_KEYS[referral.sex]] += 1
    if referral.is_child:
        cell["children"] += 1


_REFERRAL_COUNT_COLUMNS = [
    Column("referrals", "Rujukan", "Referrals", "persons"),
    Column("male", *MALE[1:], "persons"), Column("female", *FEMALE[1:], "persons"),
    Column("children", "Anak (termasuk dalam L/P)", "Children (also in L/P)", "persons")]
_REFERRAL_KEYS = ["referrals", "male", "female", "children"]


def _by_label_table(key: str, titles: tuple[str, str], label_column: Column, labels: dict,
                    referrals: list[_SentReferral], codes_of, period: Period, by: str,
                    regions: Regions, note: tuple[str, str]) -> dict:
    counts: dict = defaultdict(lambda: defaultdict(int))
    overall: dict = defaultdict(int)
    for referral in referrals:
        for code in codes_of(referral):
            area = regions.area_key(referral.desa_code, by)
            _referral_counts(counts[(referral.month, area, code)], referral)
            overall[code] += 1
    order = list(labels)
    rows = []
    for (month, area, code) in sorted(counts, key=lambda k: (
            k[0], k[1], order.index(k[2]) if k[2] in order else len(order), k[2])):
        rows.append({"month": month} | regions.area_of_key(area, by)
                    | {label_column.key: code,
                       label_column.key + "_label": labels.get(code, (code, code))[0]}
                    | {k: counts[(month, area, code)][k] for k in _REFERRAL_KEYS})
    columns = [MONTH, *_area_columns(by), label_column,
               Column(label_column.key + "_label", label_column.id, label_column.en, "label"),
               *_REFERRAL_COUNT_COLUMNS]
    shown = [code for code in order if overall.get(code)] + sorted(
        code for code in overall if code not in labels)
    chart = {"type": "bar", "categories": shown,
             "category_labels": [{"id": labels.get(c, (c, c))[0], "en": labels.get(c, (c, c))[1]}
                                 for c in shown],
             "series": [_series("referrals", "Rujukan", "Referrals",
                                [overall[c] for c in shown])]}
    totals = _sum_totals(columns, rows)
    return _table(key, *titles, columns, rows, totals, chart, note)


def referrals_by_service_table(referrals, period, by, regions) -> dict:
    return _by_label_table(
        "referrals_by_service", ("Rujukan per layanan", "Referrals by service"),
        Column("service", "Kode layanan", "Service code", "code"), SERVICES, referrals,
        lambda r: sorted(set(r.services)), period, by, regions,
        ("Rujukan yang meminta beberapa layanan dihitung pada setiap layanannya, jadi "
         "jumlahnya bisa melebihi jumlah rujukan.",
         "A referral asking for several services counts under each, so the total can exceed "
         "the number of referrals."))


def referrals_by_status_table(referrals, period, by, regions) -> dict:
    return _by_label_table(
        "referrals_by_status", ("Rujukan per status", "Referrals by status"),
        Column("status", "Kode status", "Status code", "code"), REFERRAL_STATUSES, referrals,
        lambda r: [r.status], period, by, regions,
        ("Status hari ini dari rujukan yang dikirim pada bulan itu.",
         "Today's status of the referrals sent in that month."))


_RESPONSE_COLUMNS = [
    Column("referrals", "Rujukan", "Referrals", "persons"),
    Column("acted", "Sudah ditindaklanjuti", "Acted on by the desk", "persons"),
    Column("waiting", "Belum ditindaklanjuti", "Not yet acted on", "persons"),
    Column("median_hours", "Median waktu tanggap (jam)", "Median response time (hours)",
           "hours", basis="acted"),
    Column("p90_hours", "Persentil ke-90 waktu tanggap (jam)",
           "90th percentile response time (hours)", "hours", basis="acted"),
]


def _response_figures(group: list[_SentReferral]) -> dict:
    hours = [r.hours for r in group if r.hours is not None]
    return {"referrals": len(group), "acted": len(hours), "waiting": len(group) - len(hours),
            "median_hours": _hours(quantile(hours, 0.5)),
            "p90_hours": _hours(quantile(hours, 0.9))}


def response_time_table(referrals, period: Period, by: str, regions: Regions) -> dict:
    groups: dict = defaultdict(list)
    by_month: dict = defaultdict(list)
    for referral in referrals:
        groups[(referral.month, regions.area_key(referral.desa_code, by))].append(referral)
        by_month[referral.month].append(referral)
    rows = []
    for (month, area) in sorted(groups):
        rows.append({"month": month} | regions.area_of_key(area, by)
                    | _response_figures(groups[(month, area)]))
    monthly = [_response_figures(by_month.get(m, [])) for m in period.months]
    chart = {"type": "line", "categories": period.months,
             "category_labels": month_labels(period.months),
             "series": [_series("median_hours", "Median (jam)", "Median (hours)",
                                [m["median_hours"] for m in monthly]),
                        _series("p90_hours", "Persentil ke-90 (jam)", "90th percentile (hours)",
                                [m["p90_hours"] for m in monthly])]}
    return _table(
        "response_time", "Waktu dari rujukan sampai tindakan pertama LTSA/mitra",
        "Time from referral to the desk's first action",
        [MONTH, *_area_columns(by), *_RESPONSE_COLUMNS], rows, _response_figures(referrals),
        chart,
        ("Dalam jam, dari status Terkirim sampai catatan atau perubahan status pertama oleh "
         "petugas LTSA atau mitra. Rujukan yang belum ditindaklanjuti tidak masuk median.",
         "In hours, from Sent to the first note or status change by LTSA or partner staff. "
         "Referrals not yet acted on are left out of the median."))


def no_outreach_table(desa: set[str] | None, regions: Regions, today: dt.date) -> dict:
    since = today - dt.timedelta(days=NO_OUTREACH_DAYS - 1)
    last_visits = dict(db.session.execute(
        sa.select(OutreachVisit.desa_code, sa.func.max(OutreachVisit.visit_date))
        .where(OutreachVisit.deleted_hlc.is_(None), OutreachVisit.visit_date <= today,
               _in_scope(OutreachVisit.desa_code, desa))
        .group_by(OutreachVisit.desa_code)
    ).all())
    rows = []
    for code in sorted(regions.desa if desa is None else desa & set(regions.desa)):
        last = last_visits.get(code)
        if last is not None and last >= since:
            continue
        rows.append(regions.area(code, "desa") | {
            "last_visit": last.isoformat() if last else None,
            "days_since": (today - last).days if last else None})
    columns = [*_area_columns("desa"),
               Column("last_visit", "Kunjungan terakhir", "Last visit", "date"),
               Column("days_since", "Hari sejak kunjungan terakhir", "Days since the last visit",
                      "days")]
    return _table(
        "no_outreach", f"Desa tanpa kunjungan penjangkauan dalam {NO_OUTREACH_DAYS} hari terakhir",
        f"Desa with no outreach visit in the last {NO_OUTREACH_DAYS} days", columns, rows,
        {"desa": len(rows)}, None,
        (f"Sampai hari ini ({today.isoformat()}), tidak tergantung periode laporan.",
         f"Up to today ({today.isoformat()}), whatever the report's period."))


TABLE_KEYS = ("visits", "visits_by_group", "persons", "referrals_by_service",
              "referrals_by_status", "response_time", "no_outreach")


def build_report(user, period: Period, by: str = "kecamatan", area: str | None = None,
                 today: dt.date | None = None) -> dict:
    """Every table of the report for the user's scope; raises Refused outside it."""
    if by not in BY:
        raise invalid("by", "Harus kecamatan atau desa.", "Must be kecamatan or desa.")
    regions = Regions.load()
    desa = report_desa(user, area, regions)
    if desa is not None and len(desa) == 1:
        # One desa: a row labelled with its kecamatan would pass for the kecamatan's figures.
        by = "desa"
    today = today or wib_today()
    referrals = _sent_referrals(period, desa)
    tables = [
        visits_table(period, by, desa, regions),
        visits_by_group_table(period, desa, regions),
        persons_table(period, by, desa, regions),
        referrals_by_service_table(referrals, period, by, regions),
        referrals_by_status_table(referrals, period, by, regions),
        response_time_table(referrals, period, by, regions),
        no_outreach_table(desa, regions, today),
    ]
    if desa is None:
        scope = {"level": "kabupaten", "code": "32.09"}
    elif user.role not in WHOLE_KABUPATEN_ROLES or len(desa) == 1 and area in regions.desa:
        scope = {"level": "desa", "code": next(iter(desa))}
    else:
        scope = {"level": "kecamatan", "code": area}
    return {"period": {"from": period.first, "to": period.last, "months": period.months,
                       "month_labels": month_labels(period.months)},
            "by": by, "area": area, "scope": scope, "today": today.isoformat(),
            "no_outreach_days": NO_OUTREACH_DAYS, "tables": tables}


# Exports -----------------------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(text: str) -> bool:
    """Text a spreadsheet would read as a formula (or a command) if typed into a cell."""
    return text.startswith(FORMULA_STARTS)


def export_value(column: dict, row: dict):
    """A cell as it leaves the desk: 1 or 2 persons (or a figure computed from 1 or 2
    referrals) become "<3"; zero, missing and other figures stay as they are."""
    value = row.get(column["key"])
    if column["kind"] == "persons":
        basis = value
    elif column["kind"] == "hours":
        basis = row.get(column["basis"])
    else:
        return value
    if isinstance(basis, int) and 0 < basis < SMALL_CELL:
        return SUPPRESSED
    return value


def export_rows(table: dict) -> tuple[list[str], list[list]]:
    """The header (both languages) and the rows of a table with its totals row, suppressed
    for export; text cells stay plain values (each format guards them itself)."""
    columns = table["columns"]
    header = [f'{c["label"]["id"]} / {c["label"]["en"]}' for c in columns]
    rows = [[export_value(c, row) for c in columns] for row in table["rows"]]
    totals = table.get("totals")
    if totals:
        total_row = [export_value(c, totals) if c["key"] in totals else None for c in columns]
        total_row[0] = "Jumlah / Total"
        rows.append(total_row)
    return header, rows
