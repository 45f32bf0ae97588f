"""A small simulated phone for the sync tests: an outbox, a cursor, and a local copy.

`Phone` follows docs/sync-protocol.md §21: it keeps its outbox and cursor until an answer is
read whole, acknowledges by `last_mutation_id`, sets aside only mutations named by id (in
`refused` or in a per-mutation `422`), adopts clamped clocks and starts over on a reset.
`FaultyTransport` carries its requests with the faults of a bad connection.
"""

import gzip
import json
import random
import uuid
import zlib
from collections import Counter

from sync import engine
from sync import hlc
from sync import merge
from sync import wire
from sync.protocol import PROTOCOL_VERSION

# How each entity merges (server/sync_registry.py), for applying acknowledged edits.
KINDS = {"persons": {"archive_only": True}, "consents": {"archive_only": True},
         "referrals": {"archive_only": True}, "referral_events": {"insert_only": True}}
# Fields the server sends only masked: an acknowledged edit leaves them to the pull (§12).
SERVER_MASKED = {"persons": ("nik",)}

VISIT = {
    "visit_type": "sosialisasi", "visit_date": "2026-11-02", "desa_code": "32.09.01.2008",
    "dusun": "Dusun Kliwon", "rt": "002", "rw": "001", "topics": ["prosedur_resmi"],
    "participants_male": 4, "participants_female": 11, "participants_children": 2,
    "notes": "Sosialisasi di balai desa",
}


def disclosed(spec, user, row) -> dict:
    """THE ORACLE of a phone's copy: the server's row as `user`'s role receives it, a
    change {record, derived?} with the fields masked or withheld as the entity's
    `disclose` hook says (server/domain/disclosure.py), clocks as stored."""
    if spec.kind.get("pull_only"):
        change = {"record": spec.dump(row)}
    else:
        change = {"record": engine.to_record(spec, row)}
        if spec.derived:
            change["derived"] = spec.derived(row)
    if spec.disclose:
        change = spec.disclose(user, row, dict(change, entity=spec.name, id=row.id))
    return {key: change[key] for key in ("record", "derived") if key in change}


class Phone:
    """One installed app: its own client id, HLC node, mutation ids and pull cursor."""

    def __init__(self, client, account, node=None, wall_ms=1_790_000_000_000, rng=None):
        self.client = client
        self.account = account
        # A seeded rng makes the ids repeatable, so that a failing run can be run again.
        self.rng = rng
        self.client_id = self.new_id()
        # Every install has a node of its own, as the app makes one per session.
        self.node = node or f"hp-{account.username[:20]}-{self.new_id()[:6]}"
        self.clock = None
        self.wall_ms = wall_ms
        self.next_id = 1
        self.outbox: list[dict] = []
        self.cursor = 0
        self.records: dict[tuple[str, str], dict] = {}
        self.conflicts: dict[str, dict] = {}
        # Mutations the server named (refused, or a per-mutation 422): id -> what it said.
        self.set_aside: dict[int, dict] = {}
        # The snapshot of a full download under way, sent back with its next page.
        self.snapshot = None
        self.removed: list[dict] = []

    def new_id(self) -> str:
        if self.rng is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def tick(self, ms=1000):
        self.wall_ms += ms
        self.clock = hlc.now(self.node, last=self.clock, wall_ms=self.wall_ms)
        return self.clock

    def edit(self, entity, record_id, fields, op="upsert", base=None):
        mutation = {"mutation_id": self.next_id, "entity": entity, "id": record_id, "op": op,
                    "fields": fields, "hlc": self.tick()}
        if base is None and (entity, record_id) in self.records:
            # As the app does: name the clock of each value the user saw and replaced.
            clocks = self.records[(entity, record_id)]["record"]["_clocks"]
            base = {name: clocks.get(name) for name in (fields or clocks)}
        if base is not None:
            mutation["base"] = base
        self.next_id += 1
        self.outbox.append(mutation)
        return mutation

    def new(self, entity, fields):
        record_id = self.new_id()
        self.edit(entity, record_id, fields, op="insert" if entity == "referral_events"
                  else "upsert")
        return record_id


    def status_of(self, referral_id: str) -> str | None:
        """The referral's status as this phone shows it: its own newest unsent status
        event, else the pulled one (None when it has neither)."""
        for m in reversed(self.outbox):
            fields = m["fields"] or {}
            if (m["entity"] == "referral_events" and fields.get("referral_id") == referral_id
                    and fields.get("kind") == "status"):
                return fields["status"]
        change = self.records.get(("referrals", referral_id))
        # A referral acknowledged but not pulled yet has no derived status.
        return (change or {}).get("derived", {}).get("status")

    def body(self, pull_limit=1000):
        body = {"protocol": PROTOCOL_VERSION, "client_id": self.client_id, "cursor": self.cursor,
                "mutations": self.outbox, "pull_limit": pull_limit}
        if self.snapshot is not None:
            body["snapshot"] = self.snapshot
        return body

    def sync(self, pull_limit=1000, expect=200, gzip_body=False):
        """One round trip; applies the answer as the real client does."""
        payload = self.body(pull_limit)
        headers = dict(self.account.headers)
        if gzip_body:
            data = gzip.compress(json.dumps(payload).encode())
            headers["Content-Encoding"] = "gzip"
            response = self.client.post("/api/sync", data=data, headers=headers,
                                        content_type="application/json")
        else:
            response = self.client.post("/api/sync", json=payload, headers=headers)
        assert response.status_code == expect, response.get_data(as_text=True)[:2000]
        if expect != 200:
            return response.get_json()
        answer = response.get_json()
        self.absorb(answer)
        return answer

    def absorb(self, answer: dict) -> None:
        """A 200 answer read whole, applied in one step (§13): acknowledge, set refusals
        aside, adopt clamped clocks, then reset or store the page with its cursor."""
        refused = set()
        for refusal in answer["refused"]:
            # Also a refusal answered again for a retried batch: it names the mutation.
            for m in self.outbox:
                if m["mutation_id"] == refusal["mutation_id"]:
                    self.set_aside[m["mutation_id"]] = {"mutation": m, "refusal": refusal}
                    refused.add(m["mutation_id"])
        self.acknowledge_all(answer, refused)
        if answer["clamped"]:
            # Come back from the future (§15): the highest clamped clock, never below a
            # mutation still waiting in the outbox.
            top = max(c["hlc"] for c in answer["clamped"])
            self.clock = max([top] + [m["hlc"] for m in self.outbox])
        if answer["reset"]:
            self.records.clear()
            self.conflicts.clear()
            self.cursor = 0
            self.snapshot = None
            return
        expanded = []
        for change in answer["changes"]:
            if change["entity"] == "conflicts":
                self.conflicts[change["id"]] = change["record"]
            else:
                change = self.expand(change)
                self.records[(change["entity"], change["id"])] = change
                expanded.append(change)
                # As the app does: the clock moves past every clock it has seen.
                for stamp in change["record"].get("_clocks", {}).values():
                    self.clock = hlc.receive(self.clock or hlc.now(self.node, wall_ms=0),
                                             stamp, wall_ms=self.wall_ms)
        for gone in answer.get("removed", []):
            # As the app does: the record and its conflicts leave the phone.
            self.records.pop((gone["entity"], gone["id"]), None)
            self.conflicts = {k: c for k, c in self.conflicts.items()
                              if c["record_id"] != gone["id"]}
            self.removed.append(gone)
        self.cursor = answer["cursor"]
        self.snapshot = answer.get("snapshot")
        # The tests read the page as the phone holds it: every record whole.
        answer["changes"] = [c for c in answer["changes"] if c["entity"] == "conflicts"]
        answer["changes"] += expanded

    def acknowledge_all(self, answer: dict, refused: set[int]) -> None:
        """Every outbox entry the answer acknowledges leaves the outbox; those not refused
        become part of the phone's copy (acknowledge)."""
        acked = answer["last_mutation_id"]
        clamped = {c["mutation_id"]: c["hlc"] for c in answer["clamped"]}
        for m in self.outbox:
            if m["mutation_id"] <= acked and m["mutation_id"] not in refused:
                self.acknowledge(m, clamped.get(m["mutation_id"], m["hlc"]))
        self.outbox = [m for m in self.outbox if m["mutation_id"] > acked]

    def acknowledge(self, mutation: dict, stamp: str) -> None:
        """As the app does (§13): an acknowledged edit becomes part of the phone's copy of
        the server's record, with the server's clock where it clamped ours."""
        key = (mutation["entity"], mutation["id"])
        held = self.records.get(key)
        fields = {k: v for k, v in (mutation["fields"] or {}).items()
                  if k not in SERVER_MASKED.get(mutation["entity"], ())}
        base = {k: v for k, v in (mutation.get("base") or {}).items()
                if k not in SERVER_MASKED.get(mutation["entity"], ())}
        if not fields and mutation["op"] != "delete":
            return
        edit = dict(mutation, fields=fields, base=base if mutation.get("base") else None,
                    hlc=stamp, node=hlc.node_of(stamp), client_id=self.client_id,
                    author=str(self.account.user_id))
        try:
            record, _ = merge.apply_mutation(held["record"] if held else None, edit,
                                             KINDS.get(mutation["entity"], {}))
        except merge.MergeRefused:
            return
        self.records[key] = dict(held or {"entity": key[0], "id": key[1]}, record=record)

    def expand(self, change: dict) -> dict:
        """A pulled change as a whole merge record: compact records expanded, a partial one
        laid over this phone's copy (docs/sync-protocol.md §10)."""
        out = {k: v for k, v in change.items() if k not in ("partial", "seq", "record")}
        if "seq" in change:
            return dict(change)  # pulled only (possible duplicates): no bookkeeping
        if change.get("partial"):
            held = self.records.get((change["entity"], change["id"]))
            out["record"] = wire.apply_partial(held["record"] if held else None,
                                               change["record"], change["id"])
            if "derived" not in change and held and "derived" in held:
                out["derived"] = held["derived"]
        else:
            out["record"] = wire.expand(change["record"], change["id"])
        return out

    def set_aside_named(self, error: dict, sent: list[dict]) -> bool:
        """THE RULE of a 422 (§11): if it names mutations of this batch by id, move them
        out of the outbox for the user; True if it did. Any other 422 names none."""
        named = (error.get("fields") or {}).get("mutations")
        per_mutation = error.get("code") == "invalid_batch"
        ids = {m["mutation_id"] for m in sent}
        if not per_mutation or not isinstance(named, dict) or not named or not all(
                key.isdecimal() and int(key) in ids for key in named):
            return False
        for key, problems in named.items():
            mutation = next(m for m in self.outbox if m["mutation_id"] == int(key))
            self.set_aside[int(key)] = {"mutation": mutation, "problems": problems}
        self.outbox = [m for m in self.outbox if str(m["mutation_id"]) not in named]
        return True

    def attempt(self, transport, pull_limit=1000) -> str:
        """One round trip through a transport that may fail: returns what came of it,
        "read" (an answer applied), "set_aside" (a 422 naming mutations) or "retry"
        (nothing usable came back: outbox and cursor stay for the next attempt)."""
        sent = [dict(m) for m in self.outbox]
        status, answer = transport.post(self, self.body(pull_limit))
        if status == 200 and answer is not None:
            self.absorb(answer)
            return "read"
        if status == 422 and answer is not None and self.set_aside_named(
                answer.get("error") or {}, sent):
            return "set_aside"
        return "retry"

    def sync_all(self, pull_limit=1000):
        answer = self.sync(pull_limit)
        while answer["more"]:
            answer = self.sync(pull_limit)
        return answer

    def record(self, entity, record_id):
        return self.records[(entity, record_id)]["record"]


FAULTS = ("deliver", "drop", "lose_answer", "duplicate", "replay", "cut_request",
          "cut_answer", "gzip_truncated", "gzip_answer_truncated")


class FaultyTransport:
    """POST /api/sync over a bad connection, in process (the Flask test client).

    Per request it draws one fault (weights by name, FAULTS): `deliver` normally; `drop`
    the request before the server sees it; `lose_answer` after the server committed;
    `duplicate` the request (the server handles it twice, the phone reads one of the
    answers); `replay` an older request of the same phone after this one, as a late
    retransmission (its answer goes nowhere); `cut_request` (the body ends early, never a
    whole JSON text); `cut_answer` (the server committed, the answer ends early);
    `gzip_truncated` (a gzip body whose end, the trailer and sometimes more, is cut);
    `gzip_answer_truncated` (a gzip answer cut the same way). A phone gets back
    (status, json) only for an answer it could read whole, else (status or None, None).

    `served` keeps every answer the server gave with 200, read or not: what the server
    did, for the oracles. `counts` counts faults by kind, `statuses` answers by status,
    `errors` keeps the start of every other answer.
    """

    def __init__(self, client, rng: random.Random, weights: dict[str, float] | None = None):
        self.client = client
        self.rng = rng
        self.weights = dict(weights or {"deliver": 1.0})
        assert set(self.weights) <= set(FAULTS), set(self.weights) - set(FAULTS)
        self.counts: Counter = Counter()
        self.statuses: Counter = Counter()
        self.errors: list[tuple[int, bytes]] = []
        self.served: list[tuple[Phone, dict, dict]] = []
        self.history: dict[str, list[dict]] = {}

    def draw(self) -> str:
        kinds = list(self.weights)
        return self.rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0]

    def post(self, phone: Phone, payload: dict) -> tuple[int | None, dict | None]:
        fault = self.draw()
        self.counts[fault] += 1
        earlier = self.history.setdefault(phone.client_id, [])
        earlier.append(json.loads(json.dumps(payload)))
        data = json.dumps(payload).encode()
        if fault == "drop":
            return None, None
        if fault == "cut_request":
            return self._read(self._send(phone, payload, data[:self.rng.randrange(len(data))]))
        if fault == "gzip_truncated":
            packed = gzip.compress(data)
            cut = self.rng.randint(1, 8) if self.rng.random() < 0.7 else self.rng.randint(
                9, max(9, len(packed) // 2))
            return self._read(self._send(phone, payload, packed[:-cut], gzip_body=True))
        if fault == "duplicate":
            first = self._send(phone, payload, data)
            second = self._send(phone, payload, data)
            return self._read(self.rng.choice((first, second)))
        response = self._send(phone, payload, data,
                              accept_gzip=fault == "gzip_answer_truncated"
                              or self.rng.random() < 0.3)
        if fault == "replay" and len(earlier) > 1:
            old = self.rng.choice(earlier[:-1])
            self._send(phone, old, json.dumps(old).encode())
        if fault == "lose_answer":
            return response.status_code, None
        body = response.get_data()
        if fault in ("cut_answer", "gzip_answer_truncated"):
            body = body[:self.rng.randrange(len(body))] if len(body) > 1 else b""
        return self._read(response, body)

    def _send(self, phone: Phone, payload: dict, data: bytes, *, gzip_body=False,
              accept_gzip=False):
        headers = dict(phone.account.headers)
        if gzip_body:
            headers["Content-Encoding"] = "gzip"
        if accept_gzip:
            headers["Accept-Encoding"] = "gzip"
        response = self.client.post("/api/sync", data=data, headers=headers,
                                    content_type="application/json")
        self.statuses[response.status_code] += 1
        if response.status_code != 200:
            self.errors.append((response.status_code, response.get_data()[:500]))
        if response.status_code == 200:
            self.served.append((phone, payload, self._parse(response, response.get_data())))
        return response

    def _read(self, response, body: bytes | None = None) -> tuple[int, dict | None]:
        body = response.get_data() if body is None else body
        try:
            return response.status_code, self._parse(response, body)
        except (ValueError, EOFError, OSError, zlib.error):
            # Cut, or not the API's JSON: as good as no answer (§21).
            return response.status_code, None

    @staticmethod
    def _parse(response, body: bytes) -> dict:
        if response.headers.get("Content-Encoding") == "gzip":
            # Checked to the end: a gzip stream without its trailer is not a whole answer.
            body = gzip.decompress(body)
        answer = json.loads(body)
        if not isinstance(answer, dict):
            raise ValueError("not a JSON object")
        if response.status_code == 200 and "last_mutation_id" not in answer:
            raise ValueError("not an answer of /api/sync")
        return answer


class SkewedPhone(Phone):
    """A phone whose clock runs `skew_ms` off the real time; it remembers every mutation it
    made (`sent`) and the records it created (`made`)."""

    def __init__(self, client, account, skew_ms: int, **kwargs):
        super().__init__(client, account, **kwargs)
        self.skew_ms = skew_ms
        self.sent: dict[int, dict] = {}
        self.made: set[tuple[str, str]] = set()

    def tick(self, ms=0):
        self.wall_ms = hlc.wall_clock_ms() + self.skew_ms
        self.clock = hlc.now(self.node, last=self.clock, wall_ms=self.wall_ms)
        return self.clock

    def edit(self, entity, record_id, fields, op="upsert", base=None):
        mutation = super().edit(entity, record_id, fields, op=op, base=base)
        self.sent[mutation["mutation_id"]] = mutation
        return mutation

    def new(self, entity, fields):
        record_id = super().new(entity, fields)
        self.made.add((entity, record_id))
        return record_id
