"""Push profile: the server's CPU and SQL per pushed mutation, in-process (no HTTP, no server).

    PYTHONPATH=. .venv/bin/python bench/push_profile.py                # N = 100, 1,000, 10,000
    PYTHONPATH=. .venv/bin/python bench/push_profile.py --postgres     # also on PostgreSQL
    PYTHONPATH=. .venv/bin/python bench/push_profile.py --sizes 2000 --runs 1 --profile

Per N and run, on a fresh database (two LTSA desk users, one with a push subscription, so
each new referral notifies as in production) (a copy of a migrated SQLite template; on PostgreSQL a
database of its own made from a template, both dropped at the end): an officer pushes N
records (the mix of bench/sync_bench.py: a third persons, a third referrals, the rest
visits) in batches of MAX_MUTATIONS, each batch through the view of POST /api/sync itself
(request parsing, envelope schema, engine, audit, commit), called under a request context
with the officer as the logged-in user: only the token check and the WSGI layer are left
out. The phone keeps its cursor and pull_limit as the app does, so each push also pulls
(its own records come back); the time inside engine.pull is measured apart and left out
of the push figure.

Printed per N (medians of --runs): push CPU ms per mutation (time.process_time of the
view minus its pull), the whole view per mutation, and SQL statements per mutation of the
push (a before_cursor_execute listener, pull's statements left out). With --profile, the
top lines by cumulative time of a cProfile of the pushes of the last run of each N.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa  # noqa: E402
from flask import g  # noqa: E402
from sync_bench import DESAS  # noqa: E402  (the records of the HTTP benchmark)
from sync_bench import make_records  # noqa: E402

from sync import engine  # noqa: E402
from sync import hlc  # noqa: E402
from sync.protocol import MAX_MUTATIONS  # noqa: E402
from sync.protocol import PROTOCOL_VERSION  # noqa: E402

PG_BASE = os.environ.get("JANGKAU_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_NAME = "jangkau_bench_push"
PULL_LIMIT = 1000  # the app's and the protocol's default
WARM_UP = 60  # records pushed first, unmeasured, by another phone


class Counter:
    """SQL statements run, and CPU seconds spent inside engine.pull, while enabled."""

    def __init__(self) -> None:
        self.statements = 0
        self.pull_statements = 0
        self.pull_cpu = 0.0
        self.in_pull = False
        self.enabled = False
        self.kinds: dict[str, int] | None = None

    def before_cursor_execute(self, conn, cursor, statement, *args, **kwargs) -> None:
        if not self.enabled:
            return
        self.statements += 1
        if self.in_pull:
            self.pull_statements += 1
        elif self.kinds is not None:
            words = statement.split()
            table = next((w for w, prev in zip(words[1:], words[:-1], strict=True)
                          if prev.upper() in ("INTO", "UPDATE", "FROM")), "?")
            kind = f"{words[0].upper()} {table}"
            self.kinds[kind] = self.kinds.get(kind, 0) + 1


def _instrument_pull(counter: Counter):
    original = engine.pull

    def timed_pull(*args, **kwargs):
        if not counter.enabled:
            return original(*args, **kwargs)
        counter.in_pull = True
        started = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            counter.pull_cpu += time.process_time() - started
            counter.in_pull = False

    engine.pull = timed_pull
    return original


def make_template(url: str) -> None:
    """A migrated database with the regions, the organisations and the officer."""
    from flask_migrate import upgrade

    from server import create_app
    from server.accounts import create_user
    from server.extensions import db
    from server.models import DeviceToken
    from server.models import PushSubscription
    from server.regions import load_regions
    from server.seed import ensure_organisations

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with app.app_context():
        upgrade()
        load_regions(db.session)
        ensure_organisations(db.session)
        create_user("bench_push", "bangku-panjang-2026", "Bench push", "officer",
                    desa_code=DESAS[0])
        # The LTSA desk, told of every new referral; one of them with a phone subscribed to
        # web push (an outbox row per notification).
        desk = [create_user(f"bench_desk{i}", "bangku-panjang-2026", f"Bench desk {i}", "ltsa")
                for i in (1, 2)]
        db.session.flush()
        token = DeviceToken(user_id=desk[0].id, token_hash="0" * 64, device_name="bench")
        db.session.add(token)
        db.session.flush()
        db.session.add(PushSubscription(device_token_id=token.id, user_id=desk[0].id,
                                        endpoint="https://push.example.invalid/bench",
                                        p256dh="x" * 87, auth="y" * 22))
        db.session.commit()
        db.engine.dispose()


def _mutations(n: int, seed: int, node: str) -> list[dict]:
    clock = None
    out = []
    for i, (entity, record_id, fields) in enumerate(make_records(n, DESAS[0],
                                                                 random.Random(seed)), 1):
        clock = hlc.now(node, last=clock)
        out.append({"mutation_id": i, "entity": entity, "id": record_id, "op": "upsert",
                    "fields": fields, "hlc": clock})
    return out


def _push_all(app, view, user_id: int, mutations: list[dict], counter: Counter | None = None,
              profile: cProfile.Profile | None = None) -> float:
    """Push `mutations` as one phone, in batches; returns the view's CPU seconds."""
    from server.extensions import db
    from server.models import User

    client_id = str(uuid.uuid4())
    cpu = 0.0
    cursor = 0
    sent = 0
    while sent < len(mutations):
        batch = mutations[sent:sent + MAX_MUTATIONS]
        body = {"protocol": PROTOCOL_VERSION, "client_id": client_id, "cursor": cursor,
                "mutations": batch,
                "pull_limit": PULL_LIMIT, "device_time_ms": hlc.wall_clock_ms()}
        with app.test_request_context("/api/sync", method="POST", json=body):
            g.user, g.device = db.session.get(User, user_id), None
            if counter is not None:
                counter.enabled = True
            started = time.process_time()
            if profile is not None:
                profile.enable()
            response = view()
            if profile is not None:
                profile.disable()
            cpu += time.process_time() - started
            if counter is not None:
                counter.enabled = False
        answer = json.loads(response[0])
        if answer["refused"] or answer["last_mutation_id"] != batch[-1]["mutation_id"]:
            raise SystemExit(f"a batch was not applied: {answer['refused'][:3]}")
        sent += len(batch)
        cursor = answer["cursor"]
        db.session.remove()
    return cpu


def one_run(url: str, n: int, seed: int, profile: cProfile.Profile | None,
            statements: bool = False) -> dict:
    from server import create_app
    from server.api.sync import sync_round_trip
    from server.extensions import db
    from server.models import User

    view = sync_round_trip.__wrapped__  # beneath login_required: the token check
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    counter = Counter()
    if statements:
        counter.kinds = {}
    with app.app_context():
        user_id = db.session.execute(sa.select(User.id).where(User.username == "bench_push")
                                     ).scalar_one()
        sa.event.listen(db.engine, "before_cursor_execute", counter.before_cursor_execute)
        original_pull = _instrument_pull(counter)
        try:
            # A server that has run a while: its statements compiled and cached (a new app
            # and engine start with an empty cache). Another phone of the officer pushes a
            # few records first, unmeasured.
            _push_all(app, view, user_id, _mutations(WARM_UP, seed + 1000, "hp-warm"))
            cpu = _push_all(app, view, user_id, _mutations(n, seed, "hp-bench"), counter,
                            profile)
        finally:
            engine.pull = original_pull
            sa.event.remove(db.engine, "before_cursor_execute", counter.before_cursor_execute)
            db.session.remove()
            db.engine.dispose()
    return {"push_ms": (cpu - counter.pull_cpu) * 1000 / n, "view_ms": cpu * 1000 / n,
            "sql": (counter.statements - counter.pull_statements) / n, "kinds": counter.kinds}


def pg_admin(statement: str) -> None:
    admin = sa.create_engine(f"{PG_BASE}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(statement))
    admin.dispose()


def run_backend(name: str, sizes: list[int], runs: int, profile: bool, tmp: Path,
                args) -> None:
    if name == "sqlite":
        template = tmp / "template.sqlite"
        make_template(f"sqlite:///{template}")
    else:
        pg_admin(f'DROP DATABASE IF EXISTS "{PG_NAME}_tpl"')
        pg_admin(f'CREATE DATABASE "{PG_NAME}_tpl"')
        make_template(f"{PG_BASE}/{PG_NAME}_tpl")
    print(f"\n{name}: push of N records in batches of {MAX_MUTATIONS}, "
          f"median of {runs} run(s)")
    print(f"{'N':>7} {'push CPU ms/mut':>16} {'view CPU ms/mut':>16} {'SQL/mut':>8}")
    try:
        for n in sizes:
            results = []
            prof = None
            for run in range(runs):
                prof = cProfile.Profile() if profile and run == runs - 1 else None
                if name == "sqlite":
                    db_file = tmp / f"run-{n}-{run}.sqlite"
                    shutil.copy(template, db_file)
                    url = f"sqlite:///{db_file}"
                else:
                    pg_admin(f'DROP DATABASE IF EXISTS "{PG_NAME}"')
                    pg_admin(f'CREATE DATABASE "{PG_NAME}" TEMPLATE "{PG_NAME}_tpl"')
                    url = f"{PG_BASE}/{PG_NAME}"
                results.append(one_run(url, n, seed=run + 1, profile=prof,
                                       statements=args.statements and run == runs - 1))
                if name == "sqlite":
                    for suffix in ("", "-wal", "-shm", "-journal"):
                        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
            med = {key: statistics.median(r[key] for r in results)
                   for key in ("push_ms", "view_ms", "sql")}
            print(f"{n:>7} {med['push_ms']:>16.3f} {med['view_ms']:>16.3f} {med['sql']:>8.2f}",
                  flush=True)
            if results[-1]["kinds"]:
                print(f"--- SQL statements of the push, N={n}, last run, per mutation:")
                for kind, count in sorted(results[-1]["kinds"].items(), key=lambda kv: -kv[1]):
                    print(f"    {count / n:8.3f}  {kind}")
            if prof is not None:
                out = io.StringIO()
                stats = pstats.Stats(prof, stream=out).sort_stats(args.profile_sort)
                stats.print_stats(args.profile_lines)
                print(f"--- cProfile, N={n}, {name}, last run: top {args.profile_lines} "
                      f"by {args.profile_sort}")
                print(out.getvalue().split("\n", 4)[-1].rstrip())
    finally:
        if name == "postgresql":
            pg_admin(f'DROP DATABASE IF EXISTS "{PG_NAME}"')
            pg_admin(f'DROP DATABASE IF EXISTS "{PG_NAME}_tpl"')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000",
                        help="comma-separated N (default 100,1000,10000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per N (median; default 3)")
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="print the top cProfile lines by cumulative time per N")
    parser.add_argument("--profile-lines", type=int, default=25)
    parser.add_argument("--statements", action="store_true",
                        help="print the push's SQL statements by kind and table")
    parser.add_argument("--profile-sort", default="cumulative",
                        help="a pstats sort key (default cumulative; tottime: own time)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = ([] if args.skip_sqlite else ["sqlite"]) + (["postgresql"] if args.postgres
                                                           else [])
    with tempfile.TemporaryDirectory(prefix="push_profile-") as tmp:
        for backend in backends:
            run_backend(backend, sizes, args.runs, args.profile, Path(tmp), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
