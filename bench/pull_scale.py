"""Pull at scale: server time of the engine's pull by cursor distance and database size.

    PYTHONPATH=. .venv/bin/python bench/pull_scale.py                       # 10k and 100k
    PYTHONPATH=. .venv/bin/python bench/pull_scale.py --sizes 10000,100000,1000000
    PYTHONPATH=. .venv/bin/python bench/pull_scale.py --sizes 100000 --skip-postgres --runs 3

Per size N (synced records in all), layout ("one desa": every record in the officer's desa;
"kabupaten": spread over every desa of Kabupaten Cirebon) and database (a SQLite file, a
PostgreSQL database of its own, created and dropped), the records are written with bulk SQL
inserts: per 10 persons, 10 consents, 5 migration plans, 2 referrals (one of them forwarded
to the partner organisation) with 2 events each, and 1 visit. The personal columns hold one
encrypted value reused (the cipher text binds the key id and the column, not the row).
No ANALYZE is run: the plans must not depend on statistics.

For each reader (the officer of the big desa, the LTSA desk reading the whole kabupaten, a
partner organisation) it times, in process, the engine's pull (what `POST /api/sync` runs
for its pull, like the Server-Timing figure; no HTTP, no JSON encoding):
  head    a 1,000-change page from a cursor 2,000 changes behind the head
  far     a 1,000-change page from cursor 0 (the first page of a fresh download)
  empty   a pull with nothing new
  10 edits  a pull after 10 persons the reader holds were changed
  download  a fresh download, every page: records/s of server time (and its seconds)
And for the officer, what a push costs in a database of that size: the CPU of
`POST /api/sync`'s view for a batch of 2,000 new records and for 10, without the pull that
follows it (bench/push_profile.py's measure).
Each figure is the median of --runs runs (the download: of --download-runs; 0: none).
Below each row: the CPU time of this process for the same pulls (the whole pull on SQLite,
which runs in process; without PostgreSQL's own work), and the number of changes sent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import create_app  # noqa: E402
from server.accounts import create_user  # noqa: E402
from server.crypto import EncryptedText  # noqa: E402
from server.crypto import encrypt_text  # noqa: E402
from server.extensions import db  # noqa: E402
from server.models import Consent  # noqa: E402
from server.models import MigrationPlan  # noqa: E402
from server.models import Organisation  # noqa: E402
from server.models import OutreachVisit  # noqa: E402
from server.models import Person  # noqa: E402
from server.models import Referral  # noqa: E402
from server.models import ReferralEvent  # noqa: E402
from server.models import Region  # noqa: E402
from server.models import SyncExit  # noqa: E402
from server.regions import load_regions  # noqa: E402
from server.seed import ensure_organisations  # noqa: E402
from server.sync_registry import build_registry  # noqa: E402
from server.sync_registry import conflict_spec  # noqa: E402
from server.sync_registry import pull_only_specs  # noqa: E402
from sync import engine  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
import push_profile  # noqa: E402  (the push as POST /api/sync runs it, measured the same way)

PG_BASE = os.environ.get("JANGKAU_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_DB = os.environ.get("JANGKAU_BENCH_DATABASE", "jangkau_bench_pull")
BIG_DESA = "32.09.01.2008"
PAGE = 1000
HEAD_DISTANCE = 2000
PASSWORD = "bangku-panjang-2026"
# Rows per 10 persons: 10 persons, 10 consents, 5 plans, 2 referrals, 4 events, 1 visit.
PER_UNIT = 32
CHUNK = 5000


def _raw_table(model) -> sa.Table:
    """The model's table with its encrypted columns as plain text: the bench writes one
    cipher text made once, not a cipher per row."""
    columns = [sa.Column(c.name, sa.Text() if isinstance(c.type, EncryptedText) else c.type)
               for c in model.__table__.columns]
    return sa.Table(model.__tablename__, sa.MetaData(), *columns)


def _clocks(fields, stamp):
    return {name: stamp for name in fields}


def generate(n_records: int, desas: list[str], organisation_id: int, officer_id: int) -> int:
    """Insert about n_records synced rows; returns the last change sequence."""
    units = max(1, n_records // PER_UNIT)
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    stamp = "0001792000000000:0000:aaaaaaaaaaaaaaaa"
    enc = {col: encrypt_text(value, col) for col, value in (
        ("persons.nik", "3209010101900001"), ("persons.phone", "+6281234567890"),
        ("referrals.reason", "Butuh informasi penempatan"), ("referrals.outcome", ""),
        ("referral_events.note", ""), ("referral_events.outcome", ""),
        ("outreach_visits.notes", "Sosialisasi migrasi aman"))}
    from server.sync_registry import SYNC_FIELDS

    meta = {"_authors": {}, "_bases": {}}
    common = {"created_by_id": officer_id, "created_at": now, "updated_at": now,
              "deleted_hlc": None}
    tables = {m: _raw_table(m) for m in (Person, Consent, MigrationPlan, Referral,
                                         ReferralEvent, OutreachVisit)}
    clocks = {m: _clocks(SYNC_FIELDS[name], stamp) for m, name in (
        (Person, "persons"), (Consent, "consents"), (MigrationPlan, "migration_plans"),
        (Referral, "referrals"), (ReferralEvent, "referral_events"),
        (OutreachVisit, "visits"))}
    seq = 0
    pending: dict = {m: [] for m in tables}

    def row(model, **values):
        nonlocal seq
        seq += 1
        pending[model].append(dict(common, id=str(uuid.uuid4()), change_seq=seq,
                                   field_clocks=clocks[model], sync_meta=meta, **values))
        return pending[model][-1]["id"]

    def flush():
        for model in (Person, Consent, MigrationPlan, Referral, ReferralEvent, OutreachVisit):
            if pending[model]:
                db.session.execute(tables[model].insert(), pending[model])
                pending[model] = []

    for unit in range(units):
        desa = desas[unit % len(desas)]
        persons = []
        for i in range(10):
            pid = row(Person, name=f"Warga {unit}-{i}", nik=enc["persons.nik"],
                      nik_hash=None, sex="P" if i % 2 else "L",
                      birth_date=dt.date(1995, 1, 1), phone=enc["persons.phone"],
                      desa_code=desa, address="", marital_status="menikah",
                      education="sma", disability=False, migration_status="calon",
                      lawful_basis="tugas_publik", community_group_id=None,
                      archived_at=None, merged_into_id=None, processing_stopped_at=None,
                      erased_at=None, registration_age=31)
            persons.append(pid)
            row(Consent, person_id=pid, purposes=["pendataan", "kontak_lanjutan"],
                notice_version="2026-01", method="lisan", guardian_name=None,
                guardian_relation=None, given_at=now, withdrawn_at=None, keep_until=None)
            if i % 2 == 0:
                row(MigrationPlan, person_id=pid, destination_country="MY",
                    sector="perkebunan", scheme="p2mi", agency_name="", informal_recruiter=False,
                    fee_asked=None, documents=["ktp"])
        for k in range(2):
            forwarded = k == 0
            rid = row(Referral, person_id=persons[k], desa_code=desa, community_group_id=None,
                      services=["informasi"], reason=enc["referrals.reason"],
                      case_category=None, urgency="biasa",
                      status="diteruskan" if forwarded else "terkirim",
                      assigned_organisation_id=organisation_id if forwarded else None,
                      outcome=enc["referrals.outcome"], is_child=False, appointment_at=None,
                      appointment_place="", first_action_at=now if forwarded else None)
            for status in ("terkirim", "diteruskan"):
                row(ReferralEvent, referral_id=rid, kind="status", status=status,
                    note=enc["referral_events.note"],
                    organisation_id=organisation_id if status == "diteruskan" else None,
                    seen_status=None, appointment_at=None, place="",
                    outcome=enc["referral_events.outcome"], audience="desk",
                    author_role="officer", hlc=stamp, flagged=False, flag_reason=None)
        row(OutreachVisit, visit_type="sosialisasi", visit_date=dt.date(2026, 10, 1),
            desa_code=desa, dusun="", rt="", rw="", community_group_id=None,
            topics=["migrasi_aman"], participants_male=5, participants_female=7,
            participants_children=0, notes=enc["outreach_visits.notes"])
        if (unit + 1) % (CHUNK // PER_UNIT) == 0:
            flush()
    flush()
    try:  # the scopes read through another record, as the migration fills them
        from server.change_scopes import backfill
    except ImportError:  # the code before sync_changes
        backfill = None
    if backfill is not None:
        backfill(db.session.connection())
    db.session.execute(sa.text("UPDATE sync_counters SET value = :v WHERE name = 'change_seq'"),
                       {"v": seq})
    db.session.commit()
    return seq


class Reader:
    def __init__(self, name: str, user_id: int) -> None:
        self.name = name
        self.user_id = user_id


CPU: list[float] = []


def timed_pull(specs, user, cursor: int, snapshot=None) -> tuple[float, engine.PullResult]:
    """Wall time of one pull (server time); its CPU time in this process is kept in CPU."""
    registry, conflicts, pull_only = specs
    start, cpu = time.perf_counter(), time.process_time()
    page = engine.pull(db.session, registry, user, cursor, PAGE, conflicts, pull_only,
                       snapshot=snapshot, exit_model=SyncExit)
    took = time.perf_counter() - start
    CPU.append(time.process_time() - cpu)
    db.session.rollback()
    return took, page


def _median_cpu(count: int) -> float:
    return statistics.median(CPU[-count:])


def edit_ten(user_ids_seen: list[str]) -> None:
    """10 persons the readers hold get a new change sequence (a field changed)."""
    # Through the ORM, as any write path: the change sequence is stamped at the flush.
    for offset, pid in enumerate(user_ids_seen):
        db.session.get(Person, pid).address = f"Blok {offset} {time.time()}"
    db.session.commit()


def measure(readers, runs: int, download_runs: int, edited: list[str]) -> dict:
    from server.models import User

    registry = build_registry()
    specs = (registry, conflict_spec(registry), pull_only_specs())
    # As a server worker (gunicorn.conf.py post_worker_init): what is loaded is set apart
    # from the garbage collector, whose full collections then walk only what pulls make.
    gc.collect()
    gc.freeze()
    out = {}
    for reader in readers:
        user = db.session.get(User, reader.user_id)
        top = db.session.execute(sa.text(
            "SELECT value FROM sync_counters WHERE name = 'change_seq'")).scalar_one()
        figures = {}
        for label, cursor, before in (("head", max(top - HEAD_DISTANCE, 0), None),
                                      ("far", 0, None), ("empty", top, None),
                                      ("edits", top, edited)):
            if before:
                edit_ten(before)
            samples = [timed_pull(specs, user, cursor) for _ in range(runs)]
            figures[label] = (statistics.median(s[0] for s in samples),
                              len(samples[0][1].changes), _median_cpu(runs))
        downloads = []
        for _ in range(download_runs):
            total, count, cursor, snapshot, pages = 0.0, 0, 0, None, 0
            while True:
                took, page = timed_pull(specs, user, cursor, snapshot)
                total += took
                count += len(page.changes)
                pages += 1
                cursor, snapshot = page.cursor, page.snapshot
                if not page.more:
                    break
            downloads.append((total, count, pages))
        if downloads:
            seconds = statistics.median(d[0] for d in downloads)
            figures["download"] = (seconds, downloads[0][1], downloads[0][2])
        else:
            figures["download"] = (0.0, 0, 0)
        out[reader.name] = figures
        db.session.rollback()
    return out


def measure_push(app, user_id: int, runs: int) -> dict:
    """CPU ms of the view for a push of 2,000 new records and of 10, its pull left out."""
    from server.api.sync import sync_round_trip

    view = sync_round_trip.__wrapped__  # beneath login_required: the token check
    counter = push_profile.Counter()
    original = push_profile._instrument_pull(counter)
    out = {}
    try:
        for label, n in (("push 2,000", 2000), ("push 10", 10)):
            samples = []
            for run in range(runs):
                counter.pull_cpu = 0.0
                counter.enabled = True
                cpu = push_profile._push_all(app, view, user_id, push_profile._mutations(
                    n, 9000 + run + n, f"hp-scale-{n}-{run}"), counter)
                counter.enabled = False
                samples.append((cpu - counter.pull_cpu) * 1000)
            out[label] = statistics.median(samples)
    finally:
        engine.pull = original
    return out


def setup(url: str):
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        load_regions(db.session)
        ensure_organisations(db.session)
        db.session.commit()
    return app


def run_one(url: str, size: int, layout: str, runs: int, download_runs: int) -> dict:
    app = setup(url)
    with app.app_context():
        desas = [BIG_DESA] if layout == "one desa" else sorted(db.session.execute(
            sa.select(Region.code).where(Region.level.in_(("desa", "kelurahan")))).scalars())
        sbmi = db.session.execute(sa.select(Organisation.id)
                                  .where(Organisation.code == "sbmi")).scalar_one()
        officer = create_user("petugas", PASSWORD, "Petugas", "officer", desa_code=BIG_DESA)
        desk = create_user("meja", PASSWORD, "Meja LTSA", "ltsa", organisation_code="ltsa")
        partner = create_user("mitra", PASSWORD, "Mitra", "partner", organisation_code="sbmi")
        db.session.commit()
        start = time.perf_counter()
        generate(size, desas, sbmi, officer.id)
        made = time.perf_counter() - start
        # The persons every reader holds: in the big desa, with a referral forwarded to the
        # partner organisation.
        edited = list(db.session.execute(
            sa.select(Referral.person_id).where(Referral.assigned_organisation_id == sbmi)
            .order_by((Referral.desa_code == BIG_DESA).desc(), Referral.change_seq.desc())
            .limit(10)).scalars())
        readers = [Reader("officer", officer.id), Reader("ltsa desk", desk.id),
                   Reader("partner", partner.id)]
        figures = measure(readers, runs, download_runs, edited)
        pushes = measure_push(app, officer.id, runs)
        db.session.remove()
        db.engine.dispose()
    return {"generated_s": made, "figures": figures, "pushes": pushes}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def report(size: int, layout: str, dialect: str, result: dict) -> None:
    print(f"\n{size:,} records, {layout}, {dialect} (generated in {result['generated_s']:.0f} s)")
    print(f"{'reader':<10} {'head ms':>9} {'far ms':>9} {'empty ms':>9} {'10 edits ms':>12}"
          f" {'download rec/s':>15} {'(records, pages, s)':>22}")
    for name, f in result["figures"].items():
        seconds, count, pages = f["download"]
        rate = count / seconds if seconds else 0
        total = f"({count:,}, {pages}, {seconds:.1f})"
        print(f"{name:<10} {_ms(f['head'][0]):>9} {_ms(f['far'][0]):>9} {_ms(f['empty'][0]):>9}"
              f" {_ms(f['edits'][0]):>12} {rate:15,.0f} {total:>22}")
        print(f"{'  cpu ms':<10} {_ms(f['head'][2]):>9} {_ms(f['far'][2]):>9}"
              f" {_ms(f['empty'][2]):>9} {_ms(f['edits'][2]):>12}")
        print(f"{'  changes':<10} {f['head'][1]:>9} {f['far'][1]:>9}"
              f" {f['empty'][1]:>9} {f['edits'][1]:>12}")
    print("officer's pushes, CPU ms without their pull: " + ", ".join(
        f"{label} {ms:,.0f}" for label, ms in result["pushes"].items()))
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="comma-separated record counts (e.g. 10000,100000,1000000)")
    parser.add_argument("--layouts", default="one desa,kabupaten")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--download-runs", type=int, default=1)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    layouts = [s.strip() for s in args.layouts.split(",")]
    print(f"pull_scale: sizes {sizes}, layouts {layouts}, medians of {args.runs} runs "
          f"(download: {args.download_runs}), page {PAGE}")
    for size in sizes:
        for layout in layouts:
            if not args.skip_sqlite:
                with tempfile.TemporaryDirectory() as tmp:
                    url = "sqlite:///" + str(Path(tmp) / "bench.sqlite")
                    report(size, layout, "sqlite",
                           run_one(url, size, layout, args.runs, args.download_runs))
            if not args.skip_postgres:
                admin = sa.create_engine(f"{PG_BASE}/postgres", isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{PG_DB}"'))
                    conn.execute(sa.text(f'CREATE DATABASE "{PG_DB}"'))
                try:
                    report(size, layout, "postgresql",
                           run_one(f"{PG_BASE}/{PG_DB}", size, layout, args.runs,
                                   args.download_runs))
                finally:
                    with admin.connect() as conn:
                        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
                    admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
