"""Sync benchmark: simulated phones push and pull through POST /api/sync of a real gunicorn.

    .venv/bin/python bench/sync_bench.py                 # full run (about 5-8 minutes)
    .venv/bin/python bench/sync_bench.py --quick         # 100 and 1,000 records, one run
    .venv/bin/python bench/sync_bench.py --sizes 1000 --runs 5 --skip-postgres

Per size N, on a fresh SQLite database behind `gunicorn -w 2`: phone A (an officer) records
N visits, persons and referrals and syncs them, gzip both ways, in batches of at most
MAX_MUTATIONS; phone B (a second officer of the same desa) then pulls until it holds exactly
what phone A holds. Then phone A makes 10 changes and syncs them in one request, several
times (the incremental sync). Every figure is the median of --runs runs, each on a new
database and a new server. Last, 50 phones (one account and client id each, 10 per desa)
sync at once against `gunicorn -w 4` on PostgreSQL, several rounds.

Bytes are counted on the socket (HTTP headers included). "raw" is the same exchange with
the bodies uncompressed. The reference for the wire-size target is the gzip (level 9) size
of the records' own JSON: the list of the plain field dicts (with their ids) of exactly the
records the download delivers, as the server holds them (the server-made first event of
each referral included). The old reference, the records phone A made as it sent them, is
printed beside it. The uploader's echo: what phone A receives back while it uploads
(compact, its own writes left out: protocol 2), as a share of what it uploads; of it, the
changes of records it made itself (their derived fields and what the server changed).
Server time is the Server-Timing header of the view (parse, engine, audit, commit, encode;
not the token check or the WSGI layer); round trip is measured by the client on loopback.

Exit status: 0 when every request answered 200 with nothing refused and the phones
converged; 1 otherwise. Everything started is stopped, the PostgreSQL database dropped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import http.client
import io
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sync import hlc  # noqa: E402  (the client's clock: framework-free, no Flask)
from sync import merge  # noqa: E402
from sync import wire  # noqa: E402
from sync.protocol import MAX_MUTATIONS  # noqa: E402
from sync.protocol import PROTOCOL_VERSION  # noqa: E402

BIN = ROOT / ".venv" / "bin"
PASSWORD = "bangku-panjang-2026"
DESAS = ["32.09.01.2008", "32.09.02.2008", "32.09.03.2001", "32.09.04.2001",
         "32.09.05.2001"]
PG_BASE = os.environ.get("JANGKAU_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
CLIENT_GZIP_LEVEL = 6  # what a browser's CompressionStream("gzip") uses
REFERENCE_GZIP_LEVEL = 9


class BenchError(Exception):
    """A failed request, a refused mutation or phones that did not converge."""


# HTTP with byte counting ------------------------------------------------------------------

class _CountingReader(io.RawIOBase):
    def __init__(self, raw, counter: list[int]) -> None:
        # A SocketIO of its own keeps the socket open until the response is read.
        self._raw = raw
        self._counter = counter

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer) or 0
        self._counter[1] += n
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class _CountingSocket:
    """A socket that adds what it sends and receives to counter = [sent, received]."""

    def __init__(self, sock: socket.socket, counter: list[int]) -> None:
        self.sock = sock
        self.counter = counter

    def sendall(self, data) -> None:
        self.counter[0] += len(data)
        self.sock.sendall(data)

    def makefile(self, mode="rb", *args, **kwargs):
        return io.BufferedReader(_CountingReader(self.sock.makefile("rb", buffering=0),
                                                 self.counter))

    def __getattr__(self, name):
        return getattr(self.sock, name)


class Http(http.client.HTTPConnection):
    """Keep-alive where the server allows it; counts every byte on the socket."""

    def __init__(self, port: int, timeout: float = 180) -> None:
        super().__init__("127.0.0.1", port, timeout=timeout)
        self.counter = [0, 0]

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = _CountingSocket(self.sock, self.counter)


@dataclass
class Exchange:
    answer: dict
    up_wire: int
    up_raw: int
    down_wire: int
    down_raw: int
    seconds: float
    server_ms: float | None


def post_json(conn: Http, path: str, payload: dict, token: str | None = None,
              compress: bool = True) -> Exchange:
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    body = gzip.compress(raw, CLIENT_GZIP_LEVEL) if compress else raw
    headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip"}
    if compress:
        headers["Content-Encoding"] = "gzip"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    sent, received = conn.counter
    started = time.perf_counter()
    try:
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as e:
        conn.close()
        raise BenchError(f"POST {path}: {type(e).__name__}: {e}") from None
    seconds = time.perf_counter() - started
    if response.getheader("Content-Encoding") == "gzip":
        decoded = gzip.decompress(data)
    else:
        decoded = data
    if response.status not in (200, 201):
        raise BenchError(f"POST {path} answered {response.status}: {decoded[:300]!r}")
    up_wire = conn.counter[0] - sent
    down_wire = conn.counter[1] - received
    timing = response.getheader("Server-Timing") or ""
    server_ms = None
    if "dur=" in timing:
        server_ms = float(timing.split("dur=", 1)[1].split(";")[0].split(",")[0])
    return Exchange(json.loads(decoded), up_wire, up_wire - len(body) + len(raw), down_wire,
                    down_wire - len(data) + len(decoded), seconds, server_ms)


def login(port: int, username: str) -> str:
    return login_user(port, username)[0]


def login_user(port: int, username: str) -> tuple[str, str]:
    """(token, the user's id as the merge names authors)."""
    conn = Http(port)
    try:
        ex = post_json(conn, "/api/auth/login", {"username": username, "password": PASSWORD,
                                                  "device_name": "sync_bench"}, compress=False)
    finally:
        conn.close()
    return ex.answer["token"], str(ex.answer["user"]["id"])


# Servers ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database_url: str) -> dict:
    env = dict(os.environ)
    env.update({"DATABASE_URL": database_url, "SECRET_KEY": "sync-bench-not-secret",
                "FLASK_APP": "server", "PYTHONUNBUFFERED": "1"})
    return env


def run(args: list, database_url: str, tmp: Path, what: str) -> None:
    log = tmp / "commands.log"
    with open(log, "a") as out:
        done = subprocess.run(args, cwd=ROOT, env=server_env(database_url), stdout=out,
                              stderr=subprocess.STDOUT, timeout=300)
    if done.returncode != 0:
        raise BenchError(f"{what} failed (exit {done.returncode}); see the end of {log}:\n"
                         + log.read_text()[-2000:])


def init_database(database_url: str, tmp: Path, usernames: list[tuple[str, str]]) -> None:
    """`flask init`, then officer accounts: the first two with `flask create-user` as an
    operator would, the rest in one process (one CLI start per account takes a second)."""
    run([BIN / "flask", "--app", "server", "init"], database_url, tmp, "flask init")
    for username, desa in usernames[:2]:
        run([BIN / "flask", "--app", "server", "create-user", username, "--role", "officer",
             "--name", f"Bench {username}", "--desa", desa, "--password", PASSWORD],
            database_url, tmp, "flask create-user")
    rest = usernames[2:]
    if rest:
        script = (
            "import json, sys\n"
            "from server import create_app\n"
            "from server.accounts import create_user\n"
            "from server.extensions import db\n"
            "app = create_app()\n"
            "with app.app_context():\n"
            "    for name, desa in json.loads(sys.argv[1]):\n"
            f"        create_user(name, {PASSWORD!r}, 'Bench ' + name, 'officer', "
            "desa_code=desa)\n"
            "    db.session.commit()\n"
        )
        run([BIN / "python", "-c", script, json.dumps(rest)], database_url, tmp,
            "creating accounts")


class Server:
    """gunicorn serving the app on a free port; stop() ends it and its workers."""

    def __init__(self, database_url: str, workers: int, tmp: Path,
                 app: str = "server:create_app()", env: dict | None = None) -> None:
        self.port = free_port()
        self.log = tmp / f"gunicorn-{self.port}.log"
        self._out = open(self.log, "w")
        self.proc = subprocess.Popen(
            [BIN / "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{self.port}",
             "--timeout", "300", "--graceful-timeout", "5", app],
            cwd=ROOT, env=server_env(database_url) | (env or {}), stdout=self._out,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"gunicorn exited: {self.log.read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise BenchError("gunicorn did not answer /healthz within 60 s")
            time.sleep(0.2)
        self.workers = workers

    def pids(self) -> list[int]:
        pids = [self.proc.pid]
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                pids.append(int(entry))
        return pids

    def reset_peak(self) -> None:
        """Start VmHWM afresh (Linux: clear_refs 5), so the peak excludes logging in: an
        Argon2 check of a password takes 64 MiB for a moment."""
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass

    def cpu_seconds(self) -> float:
        """User and system CPU time of master and workers so far."""
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> tuple[float, float]:
        """(sum of VmHWM over master and workers, the largest worker's VmHWM), in MiB."""
        peaks = []
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peaks.append((pid, int(line.split()[1]) / 1024))
            except OSError:
                continue
        workers = [kib for pid, kib in peaks if pid != self.proc.pid] or [0.0]
        return sum(kib for _, kib in peaks), max(workers)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._out.close()


# Phones -----------------------------------------------------------------------------------

@dataclass
class Traffic:
    requests: int = 0
    push_requests: int = 0
    up_wire: int = 0
    up_raw: int = 0
    down_wire: int = 0
    down_raw: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    # Every change received, as on the wire.
    changes: list[dict] = field(default_factory=list)

    def add(self, ex: Exchange, pushed: bool) -> None:
        self.requests += 1
        self.push_requests += pushed
        self.up_wire += ex.up_wire
        self.up_raw += ex.up_raw
        self.down_wire += ex.down_wire
        self.down_raw += ex.down_raw
        self.seconds += ex.seconds
        self.latencies.append(ex.seconds)
        if ex.server_ms is not None:
            self.server_ms.append(ex.server_ms)


class Phone:
    """One installed app, as tests/sync_helpers.Phone, over real HTTP."""

    def __init__(self, port: int, token: str, node: str, pull_limit: int) -> None:
        self.conn = Http(port)
        self.token = token
        self.node = node
        self.pull_limit = pull_limit
        self.client_id = str(uuid.uuid4())
        self.clock: str | None = None
        self.next_id = 1
        self.outbox: list[dict] = []
        self.cursor = 0
        self.records: dict[tuple[str, str], dict] = {}
        self.traffic = Traffic()
        self.author = ""

    def edit(self, entity: str, record_id: str, fields: dict) -> None:
        self.clock = hlc.now(self.node, last=self.clock)
        mutation = {"mutation_id": self.next_id, "entity": entity, "id": record_id,
                    "op": "upsert", "fields": fields, "hlc": self.clock}
        if (entity, record_id) in self.records:
            clocks = self.records[(entity, record_id)]["record"]["_clocks"]
            mutation["base"] = {name: clocks.get(name) for name in fields}
        self.next_id += 1
        self.outbox.append(mutation)

    def sync(self) -> dict:
        batch = self.outbox[:MAX_MUTATIONS]
        ex = post_json(self.conn, "/api/sync",
                       {"protocol": PROTOCOL_VERSION, "client_id": self.client_id,
                        "cursor": self.cursor, "mutations": batch,
                        "pull_limit": self.pull_limit}, self.token)
        self.traffic.add(ex, bool(batch))
        answer = ex.answer
        self.traffic.changes.extend(answer["changes"])
        if answer["refused"]:
            raise BenchError(f"refused: {answer['refused'][:3]}")
        if answer.get("reset"):
            raise BenchError(f"unexpected reset: {answer['reset']}")
        acked = answer["last_mutation_id"]
        clamped = {c["mutation_id"]: c["hlc"] for c in answer["clamped"]}
        for m in self.outbox:
            if m["mutation_id"] <= acked:
                self.acknowledge(m, clamped.get(m["mutation_id"], m["hlc"]))
        self.outbox = [m for m in self.outbox if m["mutation_id"] > acked]
        for change in answer["changes"]:
            key = (change["entity"], change["id"])
            held = self.records.get(key)
            if change.get("partial"):
                record = wire.apply_partial(held and held["record"], change["record"], key[1])
            else:
                record = wire.expand(change["record"], key[1])
            self.records[key] = {k: v for k, v in change.items() if k != "partial"} | {
                "record": record}
        self.cursor = answer["cursor"]
        return answer

    def acknowledge(self, m: dict, stamp: str) -> None:
        # As the app does (docs/sync-protocol.md §13): the acknowledged edit joins its copy
        # of the server's record; the NIK is left to the pull (it comes back masked).
        key = (m["entity"], m["id"])
        held = self.records.get(key)
        fields = {k: v for k, v in m["fields"].items()
                  if k not in wire.NEVER_ELIDED.get(m["entity"], ())}
        edit = dict(m, fields=fields, hlc=stamp, node=hlc.node_of(stamp), client_id="-",
                    author=self.author)
        record, _ = merge.apply_mutation(held and held["record"], edit, {})
        self.records[key] = dict(held or {"entity": key[0], "id": key[1]}, record=record)

    def sync_all(self) -> None:
        """Sync until the outbox is empty and nothing more is waiting on the server."""
        while True:
            answer = self.sync()
            if not self.outbox and not answer["more"]:
                return

    def close(self) -> None:
        self.conn.close()


# Records ----------------------------------------------------------------------------------

NAMES = ["Siti", "Nur", "Dewi", "Ani", "Rina", "Wati", "Yuli", "Eka", "Sri", "Lia", "Ahmad",
         "Dedi", "Asep", "Ujang", "Tarsono", "Casmadi", "Warsini", "Kartini", "Rohman", "Imas"]
FAMILY = ["Nurhasanah", "Sulastri", "Maryati", "Hidayat", "Saputra", "Rahmawati", "Kurniasih",
          "Suherman", "Wahyuni", "Permana", "Fauziah", "Setiawan"]
DUSUN = ["Dusun Kliwon", "Dusun Manis", "Dusun Pahing", "Dusun Wage", "Blok Karang",
         "Blok Pon"]
VISIT_TYPES = ["sosialisasi", "kunjungan_rumah", "pendataan", "verifikasi_data",
               "pantau_berangkat", "pantau_pulang"]
TOPICS = ["hak_kewajiban", "prosedur_resmi", "biaya_penempatan", "jaminan_sosial",
          "saluran_pengaduan", "negara_tujuan"]
NOTES = ["Sosialisasi di balai desa", "Warga bertanya soal biaya penempatan",
         "Kunjungan ke rumah keluarga PMI", "Pendataan calon PMI bersama kader",
         "Ada sponsor menawarkan kerja ke Taiwan", "Keluarga minta informasi kontak darurat"]
SERVICES = ["informasi_migrasi_aman", "konsultasi_pra_penempatan", "ak1_antarkerja",
            "dukcapil", "rekomendasi_paspor_imigrasi", "pengaduan_kasus", "bantuan_hukum"]
REASONS = ["Ingin bekerja ke Taiwan lewat jalur resmi", "Perlu kartu AK/I untuk daftar",
           "Keluarga melapor gaji tidak dibayar", "Butuh rekomendasi paspor",
           "Ditawari berangkat oleh sponsor tanpa dokumen"]


def make_records(n: int, desa: str, rng: random.Random) -> list[tuple[str, str, dict]]:
    """n records: a third persons, a third referrals of them, the rest visits; each
    referral follows its person (lawful basis tugas_publik, so no consent is needed)."""
    today = dt.date.today()
    n_persons = n // 3
    out: list[tuple[str, str, dict]] = []
    for i in range(n - 2 * n_persons):
        if i < n_persons:
            sex = rng.choice("LP")
            born = today - dt.timedelta(days=rng.randrange(19 * 365, 45 * 365))
            day = born.day + (40 if sex == "P" else 0)
            serial = rng.randrange(1, 9999)
            person_id = str(uuid.uuid4())
            out.append(("persons", person_id, {
                "name": f"{rng.choice(NAMES)} {rng.choice(FAMILY)}",
                "nik": f"320901{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}",
                "sex": sex, "birth_date": born.isoformat(),
                "phone": f"+628{rng.randrange(10**9, 10**10)}", "desa_code": desa,
                "address": f"{rng.choice(DUSUN)} RT {rng.randrange(1, 12):02d}/"
                           f"RW {rng.randrange(1, 6):02d}",
                "marital_status": rng.choice(["belum_kawin", "kawin", "cerai_hidup"]),
                "education": rng.choice(["sd", "smp", "sma"]), "disability": False,
                "migration_status": rng.choice(["calon_potensial", "cpmi", "purna_pmi"]),
                "lawful_basis": "tugas_publik",
            }))
            out.append(("referrals", str(uuid.uuid4()), {
                "person_id": person_id, "services": rng.sample(SERVICES, rng.randrange(1, 3)),
                "reason": rng.choice(REASONS), "urgency": rng.choice(["biasa", "biasa", "segera"]),
            }))
        out.append(("visits", str(uuid.uuid4()), {
            "visit_type": rng.choice(VISIT_TYPES),
            "visit_date": (today - dt.timedelta(days=rng.randrange(1, 120))).isoformat(),
            "desa_code": desa, "dusun": rng.choice(DUSUN),
            "rt": f"{rng.randrange(1, 12):03d}", "rw": f"{rng.randrange(1, 6):03d}",
            "topics": rng.sample(TOPICS, rng.randrange(1, 4)),
            "participants_male": rng.randrange(0, 20),
            "participants_female": rng.randrange(0, 30),
            "participants_children": rng.randrange(0, 8),
            "notes": f"{rng.choice(NOTES)} ({i + 1})",
        }))
    return out


def reference_bytes(records: list[tuple[str, str, dict]]) -> tuple[int, int]:
    """(raw, gzip) size of the records' own JSON: a list of their plain field dicts."""
    plain = [dict(fields, id=record_id) for _, record_id, fields in records]
    raw = json.dumps(plain, separators=(",", ":"), ensure_ascii=False).encode()
    return len(raw), len(gzip.compress(raw, REFERENCE_GZIP_LEVEL))


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def percentile(values, q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# One phone uploads, another converges (SQLite) --------------------------------------------

def one_size(n: int, template: Path, tmp: Path, args, seed: int) -> dict:
    db_file = tmp / f"run-{n}-{seed}.sqlite"
    shutil.copy(template, db_file)
    server = Server(f"sqlite:///{db_file}", 2, tmp)
    try:
        token_a, author_a = login_user(server.port, "bench_a")
        phone_a = Phone(server.port, token_a, "hp-a", args.pull_limit)
        phone_a.author = author_a
        phone_b = Phone(server.port, login(server.port, "bench_b"), "hp-b", args.pull_limit)
        records = make_records(n, DESAS[0], random.Random(seed))
        for entity, record_id, fields in records:
            phone_a.edit(entity, record_id, fields)
        login_peak = server.peak_rss_mib()
        server.reset_peak()
        cpu = server.cpu_seconds()
        started = time.perf_counter()
        phone_a.sync_all()
        upload_s = time.perf_counter() - started
        upload_cpu = server.cpu_seconds() - cpu
        upload, phone_a.traffic = phone_a.traffic, Traffic()
        cpu = server.cpu_seconds()
        started = time.perf_counter()
        phone_b.sync_all()
        pull_s = time.perf_counter() - started
        pull_cpu = server.cpu_seconds() - cpu
        # Converged: phone B holds exactly what phone A holds, and that is every record made.
        made = {(entity, record_id) for entity, record_id, _ in records}
        if not made <= phone_a.records.keys():
            raise BenchError(f"N={n}: phone A misses {len(made - phone_a.records.keys())}")
        if phone_b.records != phone_a.records:
            raise BenchError(f"N={n}: phone B did not converge with phone A")
        # Incremental: 10 changes (visit notes, person addresses), one request each time.
        visits = [r[1] for r in records if r[0] == "visits"]
        persons = [r[1] for r in records if r[0] == "persons"] or visits
        rng = random.Random(seed + 1)
        for round_ in range(args.incremental):
            for k in range(10):
                if k % 2 and persons is not visits:
                    phone_a.edit("persons", rng.choice(persons),
                                 {"address": f"{rng.choice(DUSUN)} no {round_}-{k}"})
                else:
                    phone_a.edit("visits", rng.choice(visits),
                                 {"notes": f"Tindak lanjut {round_}-{k}"})
            phone_a.sync_all()
        incremental = phone_a.traffic
        if incremental.requests != args.incremental:
            raise BenchError("an incremental sync of 10 changes took more than one request")
        phone_a.close()
        phone_b.close()
        rss_sum, rss_worker = server.peak_rss_mib()
    finally:
        server.stop()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    old_raw, old_gz = reference_bytes(records)
    b = phone_b.traffic
    ref_raw, ref_gz = delivered_bytes(phone_b.records)
    shares = down_shares(b.changes, ref_gz)
    made = {(entity, record_id) for entity, record_id, _ in records}
    echo_own = gz9([c for c in upload.changes if (c["entity"], c["id"]) in made])
    return {
        "n": n, "push_req": upload.push_requests, "a_req": upload.requests,
        "pull_req": b.requests,
        "up_gz": upload.up_wire / n, "up_raw": upload.up_raw / n,
        "down_gz": b.down_wire / n, "down_raw": b.down_raw / n,
        "ref_gz": ref_gz / n, "ref_raw": ref_raw / n, "old_ref_gz": old_gz / n,
        "ratio_up": upload.up_wire / old_gz, "ratio_down": b.down_wire / ref_gz,
        "ratio_down_old": b.down_wire / old_gz,
        "echo_down_gz": upload.down_wire / n, "echo": upload.down_wire / upload.up_wire,
        "echo_own": echo_own / upload.up_wire,
        "echo_changes": len(upload.changes),
        "echo_own_changes": sum((c["entity"], c["id"]) in made for c in upload.changes),
        "upload_s": upload_s, "upload_rps": n / upload_s,
        "pull_s": pull_s, "pull_rps": n / pull_s,
        "converge_s": upload_s + pull_s, "converge_rps": n / (upload_s + pull_s),
        "push_server_ms": sum(upload.server_ms), "pull_server_ms": sum(b.server_ms),
        "incr_server_ms": median(incremental.server_ms),
        "incr_rtt_ms": median(incremental.latencies) * 1000,
        "incr_up_gz": incremental.up_wire / incremental.requests,
        "upload_cpu": upload_cpu, "pull_cpu": pull_cpu,
        "rss_sum": rss_sum, "rss_worker": rss_worker,
        "login_rss_sum": login_peak[0], "login_rss_worker": login_peak[1],
        **{f"share_{k}": v for k, v in shares.items()},
    }


def gz9(value) -> int:
    raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return len(gzip.compress(raw, REFERENCE_GZIP_LEVEL))


def delivered_bytes(held: dict) -> tuple[int, int]:
    """(raw, gzip) size of the JSON of the records a download delivered, as the server
    holds them: their plain field dicts with their ids, the server-made events included."""
    plain = [merge.plain(change["record"]) for _, change in sorted(held.items())]
    raw = json.dumps(plain, separators=(",", ":"), ensure_ascii=False).encode()
    return len(raw), len(gzip.compress(raw, REFERENCE_GZIP_LEVEL))


def down_shares(changes: list[dict], ref_gz: int) -> dict[str, float]:
    """What makes up the gzip size of the changes phone B received (as on the wire, gzip -9
    in one piece), as multiples of the reference: their fields with their ids, then with
    the change envelope and derived fields, then whole (with the clock bookkeeping)."""

    def fields(change):
        return {k: v for k, v in change["record"].items() if not k.startswith("_")}

    return {
        "fields": gz9([dict(fields(c), id=c["id"]) for c in changes]) / ref_gz,
        "envelope": gz9([dict(c, record=fields(c)) for c in changes]) / ref_gz,
        "bookkeeping": gz9(changes) / ref_gz,
    }


# 50 phones at once (PostgreSQL) -----------------------------------------------------------

def pg_admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True, connect_timeout=10) as conn:
        conn.execute(statement)


def phone_rounds(i: int, phone: Phone, desa: str, rounds: int, per_phone: int, seed: int,
                 barrier: threading.Barrier, lock: threading.Lock, errors: list[str],
                 counted) -> None:
    """One of many phones: in each round, after every phone is ready (the barrier), record
    `per_phone` records and sync until nothing waits. Failures go to `errors`;
    `counted(i, round, records, first request of the round)` runs under `lock`."""
    rng = random.Random(seed)
    for round_ in range(rounds):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            with lock:
                errors.append(f"phone {i}: barrier broken")
            return
        records = make_records(per_phone, desa, rng)
        for entity, record_id, fields in records:
            phone.edit(entity, record_id, fields)
        seen = phone.traffic.requests
        try:
            phone.sync_all()
        except Exception as e:  # every failure is counted and printed
            with lock:
                errors.append(f"phone {i} round {round_}: {e}")
        with lock:
            counted(i, round_, records, seen)


def concurrency(args, tmp: Path) -> dict:
    name = f"jangkau_bench_{os.getpid()}"
    url = f"{PG_BASE}/{name}"
    pg_admin(f'CREATE DATABASE "{name}"')
    server = None
    try:
        accounts = [(f"hp{i:02d}", DESAS[i % len(DESAS)]) for i in range(args.phones)]
        init_database(url, tmp, accounts)
        server = Server(url, 4, tmp)
        tokens: dict[str, str] = {}
        errors: list[str] = []

        def log_in(chunk):
            for username, _ in chunk:
                tokens[username] = login(server.port, username)

        threads = [threading.Thread(target=log_in, args=(accounts[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if len(tokens) != len(accounts):
            raise BenchError("not every phone could log in")
        phones = [Phone(server.port, tokens[u], f"hp-{u}", args.pull_limit)
                  for u, _ in accounts]
        server.reset_peak()
        made: dict[str, set] = {desa: set() for desa in DESAS}
        barrier = threading.Barrier(len(phones), timeout=600)
        rounds: list[list[tuple[float, bool, float | None]]] = [[] for _ in range(args.rounds)]
        lock = threading.Lock()

        def counted(i: int, round_: int, records: list, seen: int) -> None:
            t, desa = phones[i].traffic, accounts[i][1]
            made[desa].update((e, r) for e, r, _ in records)
            rounds[round_].extend(
                (t.latencies[k], k == seen, t.server_ms[k] if k < len(t.server_ms)
                 else None) for k in range(seen, t.requests))

        def work(i: int) -> None:
            phone_rounds(i, phones[i], accounts[i][1], args.rounds, args.per_phone, 1000 + i,
                         barrier, lock, errors, counted)

        started = time.perf_counter()
        server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
        workers = [threading.Thread(target=work, args=(i,)) for i in range(len(phones))]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        wall = time.perf_counter() - started
        server_cpu = server.cpu_seconds() - server_cpu
        client_cpu = time.process_time() - client_cpu
        # Converged: after one more sync each, the phones of a desa hold the same records,
        # and those are every record its phones made (plus the referrals' first events).
        for phone in phones:
            try:
                phone.sync_all()
            except Exception as e:
                errors.append(f"final sync: {e}")
        for desa in DESAS:
            group = [p for p, (_, d) in zip(phones, accounts, strict=True) if d == desa]
            if not group:
                continue
            if any(p.records.keys() != group[0].records.keys() for p in group):
                errors.append(f"{desa}: phones did not converge")
            if not made[desa] <= group[0].records.keys():
                errors.append(f"{desa}: records missing on the phones")
        for phone in phones:
            phone.close()
        rss_sum, rss_worker = server.peak_rss_mib()
    finally:
        if server:
            server.stop()
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    every = [lat for r in rounds for lat, _, _ in r]
    pushes = [lat for r in rounds for lat, pushed, _ in r if pushed]
    server_ms = [ms for r in rounds for _, _, ms in r if ms is not None]
    return {
        "phones": len(phones), "rounds": args.rounds, "per_phone": args.per_phone,
        "requests": len(every), "errors": errors,
        "p50": median([percentile([x[0] for x in r], 0.50) for r in rounds if r]) * 1000,
        "p95": median([percentile([x[0] for x in r], 0.95) for r in rounds if r]) * 1000,
        "max": max(every, default=float("nan")) * 1000,
        "push_p50": percentile(pushes, 0.50) * 1000, "push_p95": percentile(pushes, 0.95) * 1000,
        "server_p50": percentile(server_ms, 0.50), "server_p95": percentile(server_ms, 0.95),
        "wall": wall, "records_per_s": len(phones) * args.rounds * args.per_phone / wall,
        "server_cpu": server_cpu, "client_cpu": client_cpu,
        "rss_sum": rss_sum, "rss_worker": rss_worker,
    }


# Report -----------------------------------------------------------------------------------

def print_sizes(results: dict[int, list[dict]], runs: int) -> dict:
    m = {n: {k: median([r[k] for r in rs]) for k in rs[0]} for n, rs in results.items()}
    print(f"\nOne phone uploads N records (visits, persons, referrals), a second phone of the "
          f"desa pulls until converged\n(SQLite, gunicorn -w 2; medians of {runs} "
          f"run{'s' * (runs > 1)}; bytes counted on the socket, HTTP headers included)\n")
    head = (f"{'N':>6} | {'requests':^11} | {'B/rec up':^11} | {'B/rec down':^11} | "
            f"{'wire/gzJSON':^11} | {'upload':^15} | {'converged':^15} | {'peak RSS MiB':^13}")
    print(head)
    print(f"{'':>6} | {'push / pull':^11} | {'gzip / raw':^11} | {'gzip / raw':^11} | "
          f"{'up / down':^11} | {'s / rec/s':^15} | {'s / rec/s':^15} | {'sum / worker':^13}")
    print("-" * len(head))
    for n, r in m.items():
        print(f"{n:>6} | {r['a_req']:>4.0f} / {r['pull_req']:<4.0f} | "
              f"{r['up_gz']:>4.0f} / {r['up_raw']:<4.0f} | {r['down_gz']:>4.0f} / "
              f"{r['down_raw']:<4.0f} | {r['ratio_up']:>4.2f} / {r['ratio_down']:<4.2f} | "
              f"{r['upload_s']:>6.2f} / {r['upload_rps']:<6.0f} | {r['converge_s']:>6.2f} / "
              f"{r['converge_rps']:<6.0f} | {r['rss_sum']:>5.0f} / {r['rss_worker']:<5.0f}")
    print("\n  requests: phone A's until its outbox is empty and its own pull caught up (push), "
          "phone B's until converged (pull).\n  converged: from phone A's first request to "
          "phone B holding every record. peak RSS: VmHWM after login, summed over master and\n"
          "  workers / largest worker (with login's Argon2 check: "
          + ", ".join(f"N={n} {r['login_rss_sum']:.0f} / {r['login_rss_worker']:.0f}"
                      for n, r in m.items()) + ").")
    print(f"\n{'N':>6} | {'gzip JSON':>9} | {'server CPU s':^15} | {'server time ms':^17} | "
          f"{'incremental, 10 changes':^28}")
    print(f"{'':>6} | {'B/rec':>9} | {'upload / pull':^15} | {'upload / pull':^17} | "
          f"{'server ms / round trip / B up':^28}")
    for n, r in m.items():
        print(f"{n:>6} | {r['ref_gz']:>9.0f} | {r['upload_cpu']:>6.2f} / {r['pull_cpu']:<6.2f} | "
              f"{r['push_server_ms']:>7.0f} / {r['pull_server_ms']:<7.0f} | "
              f"{r['incr_server_ms']:>8.1f} / {r['incr_rtt_ms']:>5.1f} / {r['incr_up_gz']:<5.0f}")
    print("\n  Reference: gzip -9 of the JSON of the records the download delivers (the "
          "server-made events included);\n  old reference: of the records phone A made, as "
          "sent. What phone B received, gzip -9 in one piece, as a multiple of the reference:")
    for n, r in m.items():
        print(f"{n:>8}: reference {r['ref_gz']:.0f} B/rec (old {r['old_ref_gz']:.0f}); "
              f"fields and ids {r['share_fields']:.2f}, + change envelope and derived "
              f"{r['share_envelope']:.2f}, + clocks/authors {r['share_bookkeeping']:.2f}; on "
              f"the wire {r['ratio_down']:.2f} (old reference {r['ratio_down_old']:.2f})")
    print("\n  The uploader's echo: what phone A received while uploading, as a share of its "
          "upload on the wire:")
    for n, r in m.items():
        print(f"{n:>8}: {100 * r['echo']:.0f}% on the wire ({r['echo_changes']:.0f} changes, "
              f"{r['echo_own_changes']:.0f} of them of records it made: "
              f"{100 * r['echo_own']:.1f}% of its upload, gzip -9)")
    return m


def print_targets(m: dict, conc: dict | None) -> bool:
    print("\nTargets")
    met_all = True

    def line(ok: bool, text: str) -> None:
        nonlocal met_all
        met_all &= ok
        print(f"  [{'met ' if ok else 'MISS'}] {text}")

    if 1000 in m:
        r = m[1000]
        line(r["a_req"] <= 2 and r["upload_s"] < 2,
             f"first upload of 1,000 records: {r['a_req']:.0f} requests, {r['upload_s']:.2f} s "
             "(at most 2 requests, under 2 s)")
    for n, r in m.items():
        line(r["echo"] <= 0.05,
             f"N={n}: the uploader's echo {100 * r['echo']:.0f}% of its upload (at most 5%)")
    for n, r in m.items():
        line(r["ratio_up"] <= 1.3 and r["ratio_down"] <= 1.3,
             f"N={n}: wire bytes up {r['ratio_up']:.2f}x, down {r['ratio_down']:.2f}x the gzip "
             "size of the records' JSON (at most 1.3x)")
    for n, r in m.items():
        line(r["incr_server_ms"] < 50,
             f"N={n}: incremental sync of 10 changes in 1 request: {r['incr_server_ms']:.1f} ms "
             f"server time, {r['incr_rtt_ms']:.1f} ms round trip (under 50 ms server time)")
    if conc is not None:
        line(not conc["errors"],
             f"{conc['phones']} phones at once on PostgreSQL: {len(conc['errors'])} errors in "
             f"{conc['requests']} requests; p50 {conc['p50']:.0f} ms, p95 {conc['p95']:.0f} ms")
    return met_all


def print_concurrency(c: dict) -> None:
    print(f"\n{c['phones']} phones at once (PostgreSQL, gunicorn -w 4): {c['rounds']} rounds, each "
          f"phone pushes {c['per_phone']} records then pulls until converged")
    print(f"  requests {c['requests']}, errors {len(c['errors'])}, "
          f"{c['records_per_s']:.0f} records/s over {c['wall']:.1f} s")
    print(f"  latency ms (per-round percentiles, median of rounds): p50 {c['p50']:.0f}, "
          f"p95 {c['p95']:.0f}; max {c['max']:.0f}")
    print(f"  requests carrying a push: p50 {c['push_p50']:.0f} ms, p95 {c['push_p95']:.0f} ms; "
          f"server time p50 {c['server_p50']:.0f} ms, p95 {c['server_p95']:.0f} ms")
    print(f"  CPU over those {c['wall']:.1f} s: gunicorn {c['server_cpu']:.1f} s, this client "
          f"{c['client_cpu']:.1f} s, on {os.cpu_count()} cores (PostgreSQL not counted)")
    print(f"  peak RSS MiB: {c['rss_sum']:.0f} (master and workers), {c['rss_worker']:.0f} "
          "(largest worker)")
    for e in c["errors"][:10]:
        print(f"  error: {e}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000",
                        help="record counts, comma-separated (default 100,1000,10000)")
    parser.add_argument("--runs", type=int, default=3,
                        help="runs of each size, each on a new database (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="sizes 100,1000, one run, 2 concurrent rounds")
    parser.add_argument("--pull-limit", type=int, default=1000,
                        help="pull_limit the phones send (default 1000, the protocol default)")
    parser.add_argument("--incremental", type=int, default=10,
                        help="incremental syncs of 10 changes per run (default 10)")
    parser.add_argument("--phones", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-phone", type=int, default=20)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.runs, args.rounds = "100,1000", 1, 2
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    tmp = Path(tempfile.mkdtemp(prefix="jangkau-bench-"))
    ok = False
    started = time.perf_counter()
    try:
        m = {}
        if not args.skip_sqlite:
            template = tmp / "template.sqlite"
            init_database(f"sqlite:///{template}", tmp,
                          [("bench_a", DESAS[0]), ("bench_b", DESAS[0])])
            results: dict[int, list[dict]] = {n: [] for n in sizes}
            for run_ in range(args.runs):
                for n in sizes:
                    t0 = time.perf_counter()
                    results[n].append(one_size(n, template, tmp, args, seed=run_ * 7919 + n))
                    print(f"  run {run_ + 1}/{args.runs}, N={n}: {time.perf_counter() - t0:.1f} s",
                          file=sys.stderr, flush=True)
            m = print_sizes(results, args.runs)
            sys.stdout.flush()
        conc = None
        if not args.skip_postgres:
            conc = concurrency(args, tmp)
            print_concurrency(conc)
        print_targets(m, conc)
        ok = conc is None or not conc["errors"]
    except BenchError as e:
        print(f"\nFAILED: {e}", file=sys.stderr)
    finally:
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", file=sys.stderr)
        print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
