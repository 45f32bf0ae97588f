"""What the app does when sync fails: only a refusal that names a mutation sets it aside.

A gateway's error page, a captive portal ("kuota habis"), the server's own 500: the visit
stays in its list, waiting, and reaches the server exactly once when the server answers
again. A mutation the server refuses by id stays in its list, marked with the reason; its
fix is an edit of the same record, so saving twice never makes a second record.
"""

import json
import uuid

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from server.models import OutreachVisit
from tests.browser.test_sync_client import visit_fields
from tests.browser.ui_helpers import login
from tests.browser.ui_helpers import new_visit
from tests.browser.ui_helpers import sync_now

pytestmark = pytest.mark.browser

SYNC = "**/api/sync"
SERVER_ERROR = json.dumps({"error": {
    "status": 500, "code": "server_error", "error_id": "e-uji",
    "message": {"id": "Terjadi kesalahan di server", "en": "Something went wrong on the server"}}})
# (status, content type, body, what the bar says): none of them names a mutation.
FAILURES = {
    "gateway_page": (502, "text/html", "<html><h1>502 Bad Gateway</h1></html>",
                     "Server tidak dapat dihubungi"),
    "server_error": (500, "application/json", SERVER_ERROR, "Server sedang bermasalah"),
    "captive_portal": (200, "text/html",
                       "<html><title>Kuota habis</title>Paket data Anda sudah habis.</html>",
                       "Paket internet mungkin habis atau jaringan meminta login"),
    "json_not_the_api": (200, "application/json", '{"login": "required"}',
                         "Server tidak dapat dihubungi"),
}


def status(page) -> dict:
    return page.evaluate("async () => (await import('/js/sync-client.js')).getStatus()")


def sync(page) -> dict:
    return page.evaluate("async () => (await import('/js/sync-client.js')).syncNow()")


def refused(page) -> list:
    return page.evaluate("async () => (await import('/js/db.js')).listRefused()")


def visits_with(live_server, **where) -> list:
    # Compared in Python: notes are stored encrypted, so SQL cannot compare them.
    rows = [row[0] for row in live_server.query(sa.select(OutreachVisit))]
    return [visit for visit in rows
            if all(getattr(visit, name) == value for name, value in where.items())]


@pytest.mark.parametrize("failure", FAILURES)
def test_an_answer_naming_no_mutation_sets_nothing_aside(page, live_server, failure):
    code, content_type, body, says = FAILURES[failure]
    notes = f"Kunjungan saat gangguan {failure} {uuid.uuid4()}"
    login(page, "perangkat.uji")
    # The sync that follows the login ends first: a manual sync while it runs would join it,
    # and its request left before the route below.
    sync_now(page)
    failed = []

    def broken(route):
        failed.append(route.request.url)
        route.fulfill(status=code, content_type=content_type, body=body)

    page.route(SYNC, broken)
    new_visit(page, notes)
    # Three failing syncs in a row: more than the app ever needed to give up on a visit.
    for _ in range(3):
        after = sync(page)
    assert len(failed) >= 3
    assert after["pending"] == 1 and after["refused"] == 0, after
    assert refused(page) == []
    bar = page.locator("#syncbar")
    expect(bar).to_contain_text(says)
    expect(bar).to_contain_text("Data tersimpan di HP ini")
    expect(bar).not_to_contain_text("ditolak")
    page.goto("/#/kunjungan")
    item = page.locator("a.item", has_text="Sosialisasi").filter(has_text="menunggu dikirim")
    expect(item).to_have_count(1)

    page.unroute(SYNC)
    sync_now(page)
    assert status(page)["lastError"] is None
    [visit] = visits_with(live_server, notes=notes)
    assert visit.participants_male == 4
    page.goto("/#/kunjungan")
    expect(page.locator("a.item", has_text="terkirim")).not_to_have_count(0)
    expect(page.locator("a.item", has_text="menunggu dikirim")).to_have_count(0)
    # A later sync sends nothing again.
    sync_now(page)
    assert len(visits_with(live_server, notes=notes)) == 1


def save_visit(page, record_id: str, fields: dict) -> None:
    page.evaluate(
        "async ([id, fields]) => { "
        "await (await import('/js/db.js')).saveEdit('visits', id, fields); }",
        [record_id, fields])


def test_a_refused_visit_stays_marked_and_its_fix_makes_no_second_record(page, live_server):
    login(page, "perangkat.uji")
    record_id = str(uuid.uuid4())
    notes = f"Kelompok salah {record_id}"
    # A group that is not one of the desa's: the server refuses this one mutation by id.
    save_visit(page, record_id, visit_fields(notes=notes, community_group_id=str(uuid.uuid4())))
    sync_now(page)
    [aside] = refused(page)
    assert aside["id"] == record_id and aside["reason"] == "invalid"
    expect(page.locator("#syncbar")).to_contain_text("1 ditolak server")

    page.goto("/#/kunjungan")
    item = page.locator("a.item", has_text="Ditolak server")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Data tidak valid")
    item.click()
    expect(page.get_by_role("alert")).to_contain_text("Kelompok ini tidak ada di desa kunjungan")

    page.goto("/#/sinkronisasi")
    page.get_by_role("button", name="Perbaiki").click()
    expect(page.get_by_role("alert")).to_contain_text("Kelompok ini tidak ada di desa kunjungan")
    expect(page.get_by_label("Dusun/blok")).to_have_value("Dusun Kliwon")
    page.get_by_label("Tanpa kelompok").check()
    page.get_by_role("button", name="Lanjut").click()
    page.get_by_role("button", name="Simpan", exact=True).dblclick()
    expect(page).to_have_url(f"{live_server.url}/#/kunjungan")
    expect(page.locator("a.item", has_text="Ditolak server")).to_have_count(0)
    sync_now(page)

    [visit] = visits_with(live_server, notes=notes)
    assert visit.id == record_id and visit.community_group_id is None
    assert visit.participants_female == 11 and visit.dusun == "Dusun Kliwon"
    assert refused(page) == []
    page.goto("/#/kunjungan")
    expect(page.locator("a.item", has_text="Ditolak server")).to_have_count(0)


def test_abaikan_asks_first_and_says_what_is_lost(page, live_server):
    login(page, "perangkat.uji")
    record_id = str(uuid.uuid4())
    save_visit(page, record_id, visit_fields(community_group_id=str(uuid.uuid4())))
    sync_now(page)
    page.goto("/#/sinkronisasi")
    asked = []

    def answer(dialog, accept):
        asked.append((dialog.type, dialog.message))
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    page.get_by_role("button", name="Abaikan").click()
    expect(page.get_by_role("button", name="Abaikan")).to_have_count(1)
    assert len(asked) == 1 and asked[0][0] == "confirm"
    # The visit never reached the server: letting it go deletes it from this phone.
    assert "Kunjungan" in asked[0][1] and "dihapus dari HP ini" in asked[0][1], asked
    assert len(refused(page)) == 1

    page.once("dialog", lambda d: answer(d, True))
    page.get_by_role("button", name="Abaikan").click()
    expect(page.get_by_text("Tidak ada perubahan yang ditolak.")).to_be_visible()
    assert refused(page) == []
    page.goto("/#/kunjungan")
    expect(page.locator("a.item", has_text="Ditolak server")).to_have_count(0)
    assert page.evaluate(
        f"async () => (await import('/js/db.js')).getRecord('visits', '{record_id}')") is None


def invalid_batch(named: dict, **error) -> str:
    """A whole-batch 422 naming mutations (docs/sync-protocol.md §11), in the generic words
    of any 422: only `code` says that the keys are mutation ids."""
    fields = {"mutations": {str(mid): {"fields": {"participants_male": [
        {"id": "Harus berupa bilangan bulat.", "en": "Not a valid integer."}]}} for mid in named}}
    return json.dumps({"error": {"status": 422, "message": {
        "id": "Data tidak valid", "en": "Invalid data"},
        "fields": fields, **error}})


# What a 422 says, and whether the app may set mutation 1 aside because of it.
BATCH_ANSWERS = {
    "invalid_batch_by_id": (invalid_batch([1], code="invalid_batch"), True),
    # No code: neither the keys nor any words say these are mutation ids.
    "no_code": (invalid_batch([1]), False),
    "no_code_english": (invalid_batch([1]).replace('"Invalid data"', '"Some changes are invalid"'),
                        False),
    "other_code": (invalid_batch([1], code="invalid"), False),
}


@pytest.mark.parametrize("case", BATCH_ANSWERS)
def test_a_whole_batch_422_sets_aside_only_by_code(page, live_server, case):
    body, sets_aside = BATCH_ANSWERS[case]
    page.goto("/")
    from tests.browser.conftest import log_in

    log_in(page, "perangkat.dua")
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    save_visit(page, first, visit_fields(notes=f"Pertama {first}"))
    save_visit(page, second, visit_fields(notes=f"Kedua {second}"))
    answered = []

    def once(route):
        if answered:
            route.continue_()
            return
        answered.append(route.request.post_data_json["mutations"])
        route.fulfill(status=422, content_type="application/json", body=body)

    page.route(SYNC, once)
    after = sync(page)
    assert [m["mutation_id"] for m in answered[0]] == [1, 2]
    if sets_aside:
        [aside] = refused(page)
        assert aside["mutation_id"] == 1 and aside["id"] == first
        assert "participants_male" in aside["errors"]["fields"]
        assert after["pending"] == 0 and after["refused"] == 1
        assert visits_with(live_server, id=first) == []
        assert len(visits_with(live_server, id=second)) == 1
    else:
        assert refused(page) == [] and after["pending"] == 2 and after["lastError"], after
        page.unroute(SYNC)
        after = sync(page)
        assert after["pending"] == 0 and after["refused"] == 0, after
        assert len(visits_with(live_server, id=first)) == 1
        assert len(visits_with(live_server, id=second)) == 1


def test_kirim_lagi_sends_a_refused_visit_again_as_the_same_record(page, live_server):
    login(page, "perangkat.uji")
    record_id = str(uuid.uuid4())
    notes = f"Ditolak sekali {record_id}"

    def refuse_by_id(route):
        # One mutation the server could not handle, named by id (its other work went on).
        # A sync with nothing to push (the one after login, say) goes to the server.
        mutations = route.request.post_data_json["mutations"]
        if not mutations:
            route.continue_()
            return
        mid = mutations[0]["mutation_id"]
        route.fulfill(status=200, content_type="application/json", body=json.dumps({
            "protocol": 1, "last_mutation_id": mid, "applied": [], "skipped": [],
            "refused": [{"mutation_id": mid, "reason": "server_error", "message": {
                "id": "Server tidak dapat memproses perubahan ini (e-uji).",
                "en": "The server could not process this change (e-uji)."}}],
            "clamped": [], "clock": {}, "changes": [], "cursor": 0, "more": False,
            "reset": None}))

    page.route(SYNC, refuse_by_id)
    save_visit(page, record_id, visit_fields(notes=notes))
    sync_now(page)
    page.unroute(SYNC)
    page.goto("/#/kunjungan")
    expect(page.locator("a.item", has_text="Ditolak server")).to_contain_text(
        "Server tidak dapat memproses perubahan ini (e-uji).")
    page.goto("/#/sinkronisasi")
    page.get_by_role("button", name="Kirim lagi").click()
    expect(page.get_by_text("Tidak ada perubahan yang ditolak.")).to_be_visible()
    sync_now(page)
    [visit] = visits_with(live_server, notes=notes)
    assert visit.id == record_id and visit.participants_female == 11
