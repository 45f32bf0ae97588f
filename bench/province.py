"""Province simulation: many phones syncing at once, with one kabupaten or several.

    .venv/bin/python bench/province.py                       # 50 and 200 phones, 1 and 4 sites
    .venv/bin/python bench/province.py --phones 50 --sites 1 4 --rounds 3

Per configuration (phones P, sites K), on PostgreSQL: K site databases (each `flask init` and
P/K officer accounts spread over five desa), served by one `gunicorn -w 4` running
server.sites:create_sites_app() (docs/scaling.md). Every phone belongs to one site and sends
that site's host name. In each round every phone records --per-phone records (visits,
persons, referrals) and syncs them at the same moment (a barrier), then pulls until nothing
is waiting. Printed per configuration: latency of the sync requests (p50 and p95, the median
over rounds), throughput in records per second of wall time, gunicorn's CPU, and a check
that the phones of each desa of each site converged. With one site every push takes turns at
that site's change-sequence lock; with several, pushes of different sites do not wait for
one another.

Last, a model of West Java: the load the province's officers would make at peak, against
the throughput measured here. Exit status 1 when a request failed or phones did not
converge. Everything started is stopped and every database dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_bench import DESAS  # noqa: E402
from sync_bench import PASSWORD  # noqa: E402
from sync_bench import PG_BASE  # noqa: E402
from sync_bench import BenchError  # noqa: E402
from sync_bench import Http  # noqa: E402
from sync_bench import Phone  # noqa: E402
from sync_bench import Server  # noqa: E402
from sync_bench import init_database  # noqa: E402
from sync_bench import percentile  # noqa: E402
from sync_bench import pg_admin  # noqa: E402
from sync_bench import phone_rounds  # noqa: E402
from sync_bench import post_json  # noqa: E402

# West Java (Jawa Barat): 27 kabupaten and kota, about 5,900 desa and kelurahan.
PROVINCE_SITES = 27
PROVINCE_DESA = 5_900


class SiteHttp(Http):
    """A connection to the deployment that names one site in its Host header."""

    def __init__(self, port: int, host: str) -> None:
        super().__init__(port)
        self.site = host

    def request(self, method, url, body=None, headers=None, **kwargs):
        super().request(method, url, body, dict(headers or {}, Host=self.site), **kwargs)


def site_host(k: int) -> str:
    return f"kab{k}.jangkau.bench"


def log_in(port: int, host: str, username: str) -> str:
    conn = SiteHttp(port, host)
    try:
        return post_json(conn, "/api/auth/login", {"username": username, "password": PASSWORD,
                                                   "device_name": "province"},
                         compress=False).answer["token"]
    finally:
        conn.close()


def one_configuration(phones: int, sites: int, args, tmp: Path) -> dict:
    names = [f"jangkau_province_{os.getpid()}_{k}" for k in range(sites)]
    accounts = [(f"hp{i:03d}", DESAS[(i // sites) % len(DESAS)], i % sites)
                for i in range(phones)]
    server = None
    for name in names:
        pg_admin(f'CREATE DATABASE "{name}"')
    try:
        for k, name in enumerate(names):
            init_database(f"{PG_BASE}/{name}", tmp,
                          [(u, desa) for u, desa, site in accounts if site == k])
        table = {site_host(k): f"{PG_BASE}/{n}" for k, n in enumerate(names)}
        server = Server(f"{PG_BASE}/{names[0]}", args.workers, tmp,
                        app="server.sites:create_sites_app()",
                        env={"JANGKAU_SITES": json.dumps(table)})
        tokens = {}
        for username, _, site in accounts:
            tokens[username] = log_in(server.port, site_host(site), username)
        fleet = []
        for username, _, site in accounts:
            phone = Phone(server.port, tokens[username], f"hp-{username}", 1000)
            phone.conn = SiteHttp(server.port, site_host(site))
            fleet.append(phone)
        made: dict[tuple[int, str], set] = {}
        errors: list[str] = []
        latencies: list[list[float]] = [[] for _ in range(args.rounds)]
        lock = threading.Lock()
        barrier = threading.Barrier(len(fleet), timeout=900)

        def counted(i: int, round_: int, records: list, seen: int) -> None:
            _, desa, site = accounts[i]
            made.setdefault((site, desa), set()).update((e, r) for e, r, _ in records)
            latencies[round_].extend(fleet[i].traffic.latencies[seen:])

        def work(i: int) -> None:
            phone_rounds(i, fleet[i], accounts[i][1], args.rounds, args.per_phone, 7000 + i,
                         barrier, lock, errors, counted)

        started = time.perf_counter()
        cpu = server.cpu_seconds()
        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(fleet))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        cpu = server.cpu_seconds() - cpu
        for phone in fleet:
            try:
                phone.sync_all()
            except Exception as e:
                errors.append(f"final sync: {e}")
        for (site, desa), records in made.items():
            group = [p for p, (_, d, s) in zip(fleet, accounts, strict=True)
                     if (s, d) == (site, desa)]
            if any(p.records.keys() != group[0].records.keys() for p in group):
                errors.append(f"site {site} {desa}: phones did not converge")
            if not records <= group[0].records.keys():
                errors.append(f"site {site} {desa}: records missing on the phones")
        for phone in fleet:
            phone.close()
    finally:
        if server:
            server.stop()
        for name in names:
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    every = [x for r in latencies for x in r]
    return {
        "phones": phones, "sites": sites, "requests": len(every), "errors": errors,
        "p50": statistics.median(percentile(r, 0.50) for r in latencies if r) * 1000,
        "p95": statistics.median(percentile(r, 0.95) for r in latencies if r) * 1000,
        "max": max(every, default=float("nan")) * 1000,
        "records_per_s": phones * args.rounds * args.per_phone / wall,
        "wall": wall, "cpu": cpu,
    }


def print_results(results: list[dict], args) -> None:
    print(f"\nConcurrent phones on PostgreSQL, gunicorn -w {args.workers}, {args.rounds} rounds "
          f"of {args.per_phone} records per phone (latency: median over rounds)\n")
    print("| phones | sites | requests | p50 ms | p95 ms | max ms | records/s "
          "| gunicorn CPU s / wall s | errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['phones']} | {r['sites']} | {r['requests']} | {r['p50']:,.0f} "
              f"| {r['p95']:,.0f} | {r['max']:,.0f} | {r['records_per_s']:,.0f} "
              f"| {r['cpu']:.0f} / {r['wall']:.0f} | {len(r['errors'])} |")
    for r in results:
        for error in r["errors"][:5]:
            print(f"  phones {r['phones']}, sites {r['sites']}: {error}")


def print_province_model(results: list[dict], args) -> None:
    """The province's peak load against what was measured: where it breaks next."""
    officers = PROVINCE_DESA * args.officers_per_desa
    per_day = officers * args.records_per_officer_day
    peak = per_day * args.peak_hour_share / 3600
    best = max(r["records_per_s"] for r in results)
    one_site = [r["records_per_s"] for r in results if r["sites"] == 1]
    print(f"\nWest Java: {PROVINCE_SITES} sites, {PROVINCE_DESA:,} desa, "
          f"{args.officers_per_desa} officers per desa = {officers:,} phones; "
          f"{args.records_per_officer_day} records per officer per day, "
          f"{args.peak_hour_share:.0%} of a day's syncs in the peak hour")
    print(f"- peak load: {peak:,.1f} records/s province-wide, "
          f"{peak / PROVINCE_SITES:,.2f} records/s per site on average")
    if one_site:
        print(f"- measured here, one site: {max(one_site):,.0f} records/s "
              f"(its single write lock and this machine's 2 cores)")
    print(f"- measured here, best configuration: {best:,.0f} records/s: "
          f"{best / peak:,.1f}x the province's peak on one 2-core machine")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--sites", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-phone", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--officers-per-desa", type=int, default=5)
    parser.add_argument("--records-per-officer-day", type=int, default=20)
    parser.add_argument("--peak-hour-share", type=float, default=0.25)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="jangkau-province-") as folder:
        for phones in args.phones:
            for sites in args.sites:
                print(f"... {phones} phones, {sites} site(s)", flush=True)
                results.append(one_configuration(phones, sites, args, Path(folder)))
    print_results(results, args)
    print_province_model(results, args)
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"province: {e}", file=sys.stderr)
        sys.exit(1)
