"""Clock rules that a wrong date cannot bend (docs/sync-protocol.md §15, §16, §17).

Each case is a phone whose date is wrong, told the way the app tells it: with the offset it
stamped under (`offset_ms`), with only its clock at sending (`device_time_ms`), or not at all
(an older app). The server runs on its real clock; the phones' clocks are set around it.
"""

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import ConflictEntry
from server.models import OutreachVisit
from server.models import Referral
from server.models import ReferralEvent
from sync import hlc
from tests.conftest import DESA_A
from tests.sync_helpers import VISIT
from tests.sync_helpers import Phone

pytestmark = pytest.mark.usefixtures("fast_passwords")

MINUTE = 60_000
DAY = 86_400_000
PERSON = {"name": "Siti Nurhasanah", "sex": "P", "birth_date": "1998-04-12",
          "phone": "0812-3456-7890", "desa_code": DESA_A, "migration_status": "calon_potensial",
          "lawful_basis": "tugas_publik", "address": "Blok Kliwon RT 02"}


class ClockPhone(Phone):
    """A phone whose date is `skew_ms` off, as the app runs it.

    `told`: "offset" (it learnt its offset from an earlier answer: it stamps in server time,
    its clock minus that offset, and sends `offset_ms`), "device_time" (it sends only its
    clock with each request), or None (an older app: neither). `wall_ms` is the time the
    phone stamps with, `device_ms` what its clock shows.
    """

    def __init__(self, client, account, node, skew_ms=0, told=None):
        super().__init__(client, account, node=node)
        self.told = told
        self.skew_ms = skew_ms
        self.learnt = skew_ms  # the offset the last answer showed
        self.set_date(hlc.wall_clock_ms())

    def set_date(self, real_ms: int, skew_ms: int | None = None) -> None:
        """The phone's clock at real time real_ms; skew_ms changes its date."""
        if skew_ms is not None:
            self.skew_ms = skew_ms
        self.device_ms = real_ms + self.skew_ms
        self.wall_ms = self.device_ms - (self.learnt if self.told == "offset" else 0)

    def edit(self, entity, record_id, fields, op="upsert", base=None):
        mutation = super().edit(entity, record_id, fields, op=op, base=base)
        if self.told == "offset":
            mutation["offset_ms"] = self.learnt
        return mutation

    def body(self, pull_limit=1000):
        out = super().body(pull_limit)
        if self.told in ("offset", "device_time"):
            out["device_time_ms"] = self.device_ms
        return out


def _phone(client, account, node, skew_ms, told):
    return ClockPhone(client, account, node, skew_ms, told)


@pytest.fixture
def officer(make_account):
    return make_account("officer", desa_code=DESA_A)


def _conflicts(field):
    return db.session.execute(sa.select(ConflictEntry).where(ConflictEntry.field == field)
                              ).scalars().all()


# --- an edit whose base names the value it replaces wins -------------------------------

@pytest.mark.parametrize(("skew_ms", "told"), [
    (365 * DAY, None),            # clamped to the server's time, below the value it replaced
    (60 * MINUTE, "device_time"),  # moved back by its offset, below the value it replaced
], ids=["clamped", "corrected"])
def test_an_edit_that_saw_the_value_wins_over_it(client, officer, make_account, skew_ms, told):
    now = hlc.wall_clock_ms()
    desk = Phone(client, make_account("officer", desa_code=DESA_A), node="hp-benar",
                 wall_ms=now - 10 * MINUTE)
    visit_id = desk.new("visits", VISIT)
    desk.sync()
    # An edit 4 minutes ahead of the server: kept as sent, above the server's time.
    desk.wall_ms = now + 4 * MINUTE
    desk.edit("visits", visit_id, {"notes": "dari HP Dewi"})
    desk.sync()
    seen = db.session.get(OutreachVisit, visit_id).field_clocks["notes"]
    phone = _phone(client, officer, "hp-salah", skew_ms, told)
    phone.sync_all()
    phone.set_date(hlc.wall_clock_ms())
    mutation = phone.edit("visits", visit_id, {"notes": "koreksi setelah membaca"})
    assert mutation["base"]["notes"] == seen
    answer = phone.sync()
    assert answer["applied"] == [mutation["mutation_id"]]
    stored_hlc = answer["clamped"][0]["hlc"]
    assert stored_hlc < seen, "the case needs the edit stored below the value it replaced"
    db.session.expire_all()
    assert db.session.get(OutreachVisit, visit_id).notes == "koreksi setelah membaca"
    assert _conflicts("notes") == []


# --- skew judged at the edit, not at arrival ---------------------------------------------

@pytest.mark.parametrize(("told", "date_fixed_before_sync"), [
    ("offset", False),
    ("offset", True),          # the date was corrected between the edit and the sync
    ("device_time", False),
], ids=["offset", "offset-date-fixed", "device-time"])
def test_a_phone_ahead_syncing_later_does_not_win(client, officer, make_account, told,
                                                  date_fixed_before_sync):
    now = hlc.wall_clock_ms()
    honest = Phone(client, make_account("officer", desa_code=DESA_A), node="hp-benar",
                   wall_ms=now - 40 * MINUTE)
    visit_id = honest.new("visits", VISIT)
    honest.sync()
    ahead = _phone(client, officer, "hp-maju", 10 * MINUTE, told)
    ahead.set_date(now - 30 * MINUTE)
    ahead.sync_all()
    # Real time now-20min: the phone 10 minutes ahead edits offline...
    ahead.set_date(now - 20 * MINUTE)
    ahead.edit("visits", visit_id, {"notes": "dari HP yang jamnya maju"})
    # ...five minutes later an honest phone edits the same field and syncs at once.
    honest.wall_ms = now - 15 * MINUTE
    honest.edit("visits", visit_id, {"notes": "koreksi yang lebih baru"})
    honest.sync()
    # The phone ahead syncs 20 minutes after its edit: within the skew bound on arrival.
    ahead.set_date(hlc.wall_clock_ms(), skew_ms=0 if date_fixed_before_sync else None)
    answer = ahead.sync()
    assert answer["applied"] == [1]
    db.session.expire_all()
    assert db.session.get(OutreachVisit, visit_id).notes == "koreksi yang lebih baru"
    [entry] = _conflicts("notes")
    assert entry.losing_value == "dari HP yang jamnya maju"
    assert hlc.wall_of(entry.losing_hlc) <= now - 19 * MINUTE


def test_without_offset_or_device_time_a_date_within_the_bound_counts_as_right(
        client, officer, make_account):
    """An older app sends neither field: its HLC is only bounded, as before."""
    now = hlc.wall_clock_ms()
    phone = _phone(client, officer, "hp-lama", 4 * MINUTE, None)
    visit_id = phone.new("visits", VISIT)
    answer = phone.sync()
    assert answer["clamped"] == []
    assert hlc.wall_of(db.session.get(OutreachVisit, visit_id).field_clocks["notes"]) > now


# --- referral transitions against the status the writer saw ------------------------------

@pytest.mark.parametrize(("told", "desk_statuses", "expected_reason"), [
    # An older app's wrong clock: the withdrawal sorts before the desk's events.
    (None, ("diterima", "dilayani"), "status_changed"),
    # The app that knows its offset stamps in server time: after the desk's events.
    ("offset", ("diterima", "dilayani"), "transition_not_allowed"),
    ("device_time", ("diterima", "dilayani"), "transition_not_allowed"),
    # Received only: withdrawing from diterima is allowed, but not by one who saw terkirim.
    ("offset", ("diterima",), "status_changed"),
], ids=["old-app", "offset", "device-time", "received-only"])
def test_a_phone_a_day_behind_cannot_withdraw_what_the_desk_acted_on(
        client, officer, make_account, told, desk_statuses, expected_reason):
    phone = _phone(client, officer, "hp-mundur", -DAY, told)
    person_id = phone.new("persons", PERSON)
    referral_id = phone.new("referrals", {"person_id": person_id, "services": ["bantuan_hukum"],
                                          "urgency": "segera", "reason": "Ditawari calo"})
    phone.sync_all()
    assert phone.records[("referrals", referral_id)]["derived"]["status"] == "terkirim"
    ltsa = make_account("ltsa")
    desk_events = []
    for status in desk_statuses:
        r = client.post(f"/api/referrals/{referral_id}/events",
                        json={"kind": "status", "status": status}, headers=ltsa.headers)
        assert r.status_code == 201, r.get_json()
        desk_events.append(r.get_json()["id"])
    # Offline, after the desk acted, the officer withdraws what the phone shows as terkirim.
    phone.set_date(hlc.wall_clock_ms() + 1000)
    withdrawal_id = phone.new("referral_events", {
        "referral_id": referral_id, "kind": "status", "status": "dibatalkan",
        "note": "", "organisation_id": None, "seen_status": "terkirim"})
    assert phone.sync()["applied"] == [3]
    db.session.expire_all()
    assert db.session.get(Referral, referral_id).status == desk_statuses[-1]
    late = db.session.get(ReferralEvent, withdrawal_id)
    assert (late.flagged, late.flag_reason) == (True, expected_reason)
    for event_id in desk_events:
        assert not db.session.get(ReferralEvent, event_id).flagged


def test_the_desk_cannot_act_on_a_withdrawal_it_has_seen(client, officer, make_account):
    """A withdrawal that reached the server first stands: the desk's later action is refused."""
    phone = _phone(client, officer, "hp-mundur", -DAY, None)
    person_id = phone.new("persons", PERSON)
    referral_id = phone.new("referrals", {"person_id": person_id, "services": ["bantuan_hukum"]})
    phone.sync_all()
    phone.new("referral_events", {"referral_id": referral_id, "kind": "status",
                                  "status": "dibatalkan", "note": "", "organisation_id": None,
                                  "seen_status": "terkirim"})
    phone.sync()
    r = client.post(f"/api/referrals/{referral_id}/events",
                    json={"kind": "status", "status": "diterima"},
                    headers=make_account("ltsa").headers)
    assert r.status_code == 409
    db.session.expire_all()
    assert db.session.get(Referral, referral_id).status == "dibatalkan"


# --- a retried batch gets its clamps again ------------------------------------------------

@pytest.mark.parametrize(("skew_ms", "told"), [
    (365 * DAY, None),
    (60 * MINUTE, "device_time"),
], ids=["clamped", "corrected"])
def test_a_retried_batch_gets_its_clamps_again(client, officer, skew_ms, told):
    phone = _phone(client, officer, "hp-ulang", skew_ms, told)
    phone.new("visits", VISIT)
    phone.new("visits", VISIT)
    batch = phone.body()
    first = client.post("/api/sync", json=batch, headers=officer.headers).get_json()
    assert [c["mutation_id"] for c in first["clamped"]] == [1, 2]
    # The answer was lost; the same batch again, and once more after another batch.
    again = client.post("/api/sync", json=batch, headers=officer.headers).get_json()
    assert again["skipped"] == [1, 2]
    assert again["clamped"] == first["clamped"]
    assert again["clock"]["warning"]["id"].startswith("Tanggal di HP ini salah")
    phone.outbox = []
    phone.new("visits", VISIT)
    phone.sync()
    late = client.post("/api/sync", json=batch, headers=officer.headers).get_json()
    assert late["clamped"] == first["clamped"]
