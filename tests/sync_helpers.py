"""A small simulated phone for the sync tests: an outbox, a cursor, and a local copy."""

import gzip
import json
import uuid

from sync import hlc

VISIT = {
    "visit_type": "sosialisasi", "visit_date": "2026-11-02", "desa_code": "32.09.01.2008",
    "dusun": "Dusun Kliwon", "rt": "002", "rw": "001", "topics": ["prosedur_resmi"],
    "participants_male": 4, "participants_female": 11, "participants_children": 2,
    "notes": "Sosialisasi di balai desa",
}


class Phone:
    """One installed app: its own client id, HLC node, mutation ids and pull cursor."""

    def __init__(self, client, account, node=None, wall_ms=1_790_000_000_000):
        self.client = client
        self.account = account
        self.client_id = str(uuid.uuid4())
        # Every install has a node of its own, as the app makes one per session.
        self.node = node or f"hp-{account.username[:20]}-{uuid.uuid4().hex[:6]}"
        self.clock = None
        self.wall_ms = wall_ms
        self.next_id = 1
        self.outbox: list[dict] = []
        self.cursor = 0
        self.records: dict[tuple[str, str], dict] = {}
        self.conflicts: dict[str, dict] = {}
        # The snapshot of a full download under way, sent back with its next page.
        self.snapshot = None
        self.removed: list[dict] = []

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
        record_id = str(uuid.uuid4())
        self.edit(entity, record_id, fields, op="insert" if entity == "referral_events"
                  else "upsert")
        return record_id

    def body(self, pull_limit=1000):
        body = {"client_id": self.client_id, "cursor": self.cursor,
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
        acked = answer["last_mutation_id"]
        self.outbox = [m for m in self.outbox if m["mutation_id"] > acked]
        if answer["reset"]:
            self.records.clear()
            self.conflicts.clear()
            self.cursor = 0
            self.snapshot = None
            return answer
        for change in answer["changes"]:
            if change["entity"] == "conflicts":
                self.conflicts[change["id"]] = change["record"]
            else:
                self.records[(change["entity"], change["id"])] = change
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
        return answer

    def sync_all(self, pull_limit=1000):
        answer = self.sync(pull_limit)
        while answer["more"]:
            answer = self.sync(pull_limit)
        return answer

    def record(self, entity, record_id):
        return self.records[(entity, record_id)]["record"]
