"""The admin's API: accounts, devices, community groups and organisations."""

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import AuditEntry
from server.models import CommunityGroup
from server.models import Organisation
from server.models import User
from tests.conftest import DESA_A
from tests.conftest import DESA_B
from tests.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("fast_passwords")


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def login(client, username: str, password: str = PASSWORD):
    return client.post("/api/auth/login", json={"username": username, "password": password})


def test_admin_endpoints_are_for_admins_only(client, make_account):
    officer = make_account("officer")
    for method, url in [("get", "/api/admin/users"), ("post", "/api/admin/users"),
                        ("get", f"/api/admin/users/{officer.user_id}/devices"),
                        ("post", f"/api/admin/users/{officer.user_id}/revoke-devices"),
                        ("post", "/api/admin/community-groups"),
                        ("post", "/api/organisations")]:
        response = getattr(client, method)(url, json={}, headers=officer.headers)
        assert response.status_code == 403, url
    assert client.get("/api/admin/users").status_code == 401


def test_admin_creates_an_account_that_can_log_in(client, make_account):
    admin = make_account("admin")
    body = {"username": "Kasi.Kesra", "password": "desa-waled-2025", "full_name": " Pak Darma ",
            "role": "officer", "desa_code": DESA_A}
    response = client.post("/api/admin/users", json=body, headers=admin.headers)
    assert response.status_code == 201, response.get_json()
    user = response.get_json()
    assert (user["username"], user["full_name"], user["role_label"], user["desa_name"]) == (
        "kasi.kesra", "Pak Darma", "Perangkat Desa", "Waled Desa")
    assert "password" not in user
    assert login(client, "kasi.kesra", "desa-waled-2025").status_code == 201
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.entity == "user",
                                                           AuditEntry.action == "create")
                               ).scalar_one()
    assert entry.entity_id == str(user["id"]) and "desa-waled" not in str(entry.detail)


INVALID_USERS = [
    ({"role": "officer", "desa_code": "32.09.01"}, "desa_code"),
    ({"role": "officer"}, "desa_code"),
    ({"role": "community", "desa_code": DESA_A}, "community_group_id"),
    ({"role": "partner", "organisation_code": "tidak-ada"}, "organisation"),
    ({"role": "partner"}, "organisation"),
    ({"role": "lurah"}, "role"),
    ({"role": "ltsa", "password": "pendek"}, "password"),
    ({"role": "ltsa", "is_admin": True}, "is_admin"),
    ({"role": "ltsa", "username": "admin1"}, "username"),
]


def test_invalid_accounts_are_refused(client, make_account, subtests):
    admin = make_account("admin", username="admin1")
    for changes, field in INVALID_USERS:
        with subtests.test(changes=changes):
            body = {"username": "baru", "password": "cukup-panjang", "full_name": "Baru"}
            response = client.post("/api/admin/users", json=body | changes,
                                   headers=admin.headers)
            assert response.status_code == 422
            messages = response.get_json()["error"]["fields"][field]
            assert messages[0]["id"] and messages[0]["en"]
    assert count(User) == 1


def test_list_users_with_filters(client, make_account):
    admin = make_account("admin")
    make_account("officer")
    make_account("officer", desa_code=DESA_B)
    make_account("partner", organisation_code="wcc_mawar_balqis")

    def names(query):
        body = client.get(f"/api/admin/users?{query}", headers=admin.headers).get_json()
        return [u["username"] for u in body["items"]], body["total"]

    assert names("role=officer") == (["officer2", "officer3"], 2)
    assert names(f"desa_code={DESA_B}") == (["officer3"], 1)
    assert names("q=PARTNER") == (["partner4"], 1)
    assert names("per_page=1&page=2") == (["officer2"], 4)


def test_patch_renames_deactivates_and_resets(client, make_account):
    admin = make_account("admin")
    officer = make_account("officer")
    url = f"/api/admin/users/{officer.user_id}"
    renamed = client.patch(url, json={"full_name": "Bu Yati"}, headers=admin.headers)
    assert renamed.status_code == 200 and renamed.get_json()["full_name"] == "Bu Yati"
    reset = client.patch(url, json={"password": "kata-sandi-baru"}, headers=admin.headers)
    assert reset.status_code == 200
    assert login(client, officer.username, "kata-sandi-baru").status_code == 201
    assert login(client, officer.username).status_code == 401
    off = client.patch(url, json={"is_active": False}, headers=admin.headers)
    assert off.get_json()["is_active"] is False
    assert client.get("/api/me", headers=officer.headers).status_code == 401
    details = db.session.execute(sa.select(AuditEntry.detail).where(
        AuditEntry.entity == "user", AuditEntry.action == "update").order_by(AuditEntry.id)
    ).scalars().all()
    assert details == [{"fields": ["full_name"]}, {"fields": ["password"]},
                       {"fields": ["is_active"]}]
    self_off = client.patch(f"/api/admin/users/{admin.user_id}", json={"is_active": False},
                            headers=admin.headers)
    assert self_off.status_code == 422
    short = client.patch(url, json={"password": "x", "role": "admin"}, headers=admin.headers)
    assert set(short.get_json()["error"]["fields"]) == {"password", "role"}
    assert client.patch("/api/admin/users/999", json={}, headers=admin.headers
                        ).status_code == 404


def test_devices_are_listed_and_revoked(client, make_account):
    admin = make_account("admin")
    officer = make_account("officer")
    second = login(client, officer.username).get_json()["token"]
    devices = client.get(f"/api/admin/users/{officer.user_id}/devices", headers=admin.headers)
    assert len(devices.get_json()["items"]) == 2
    revoked = client.post(f"/api/admin/users/{officer.user_id}/revoke-devices",
                          headers=admin.headers)
    assert revoked.get_json() == {"revoked": 2}
    assert client.get("/api/me", headers=officer.headers).status_code == 401
    assert client.get("/api/me", headers={"Authorization": f"Bearer {second}"}
                      ).status_code == 401
    assert client.get("/api/me", headers=admin.headers).status_code == 200
    entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "revoke")
                               ).scalar_one()
    assert (entry.entity_id, entry.detail) == (str(officer.user_id), {"devices": 2})


def test_community_groups_created_by_admin_seen_by_desa(client, make_account):
    admin = make_account("admin")
    officer = make_account("officer")
    created = client.post("/api/admin/community-groups",
                          json={"name": "Pokmas Migran Sejahtera", "desa_code": DESA_A},
                          headers=admin.headers)
    assert created.status_code == 201 and created.get_json()["desa_name"] == "Waled Desa"
    client.post("/api/admin/community-groups", json={"name": "Pokmas Ciledug",
                                                     "desa_code": DESA_B}, headers=admin.headers)
    same = client.post("/api/admin/community-groups",
                       json={"name": "pokmas migran sejahtera", "desa_code": DESA_A},
                       headers=admin.headers)
    assert same.status_code == 422 and "name" in same.get_json()["error"]["fields"]
    kecamatan = client.post("/api/admin/community-groups",
                            json={"name": "X", "desa_code": "32.09.01"}, headers=admin.headers)
    assert "desa_code" in kecamatan.get_json()["error"]["fields"]
    assert count(CommunityGroup) == 2

    def names(account, query=""):
        body = client.get(f"/api/community-groups{query}", headers=account.headers).get_json()
        return [g["name"] for g in body["items"]]

    assert names(officer) == ["Pokmas Migran Sejahtera"]
    assert names(admin) == ["Pokmas Migran Sejahtera", "Pokmas Ciledug"]
    assert names(admin, f"?desa_code={DESA_B}") == ["Pokmas Ciledug"]


def test_organisations_listed_for_all_changed_by_admin(client, make_account):
    admin = make_account("admin")
    partner = make_account("partner")

    def codes(query=""):
        body = client.get(f"/api/organisations{query}", headers=partner.headers).get_json()
        return {o["code"] for o in body["items"]}

    assert codes() == {"ltsa", "mrc", "sbmi", "wcc_mawar_balqis"}
    assert codes("?service=bantuan_hukum") == {"sbmi"}
    assert codes("?kind=ngo&service=layanan_responsif_gender") == {"wcc_mawar_balqis"}
    new = {"code": "p4tkmi", "name": "P4TKMI", "kind": "pemerintah",
           "services": ["pelatihan", "pelatihan"]}
    created = client.post("/api/organisations", json=new, headers=admin.headers)
    assert created.status_code == 201
    assert (created.get_json()["services"], created.get_json()["kind_label"]) == (
        ["pelatihan"], "Instansi pemerintah")
    assert client.post("/api/organisations", json=new, headers=admin.headers).status_code == 422
    bad = client.post("/api/organisations", json=new | {"code": "Bad Code", "services": ["x"]},
                      headers=admin.headers)
    assert set(bad.get_json()["error"]["fields"]) == {"code", "services"}
    url = f"/api/organisations/{created.get_json()['id']}"
    patched = client.patch(url, json={"is_active": False, "services": ["dukcapil"]},
                           headers=admin.headers)
    assert patched.status_code == 200
    assert codes("?is_active=false") == {"p4tkmi"}
    assert client.patch(url, json={"code": "x"}, headers=admin.headers).status_code == 422
    assert client.patch(url, json={"name": "Y"}, headers=partner.headers).status_code == 403
    assert client.get(url, headers=partner.headers).get_json()["services"] == ["dukcapil"]
    stored = db.session.get(Organisation, created.get_json()["id"])
    assert stored.code == "p4tkmi"
    actions = db.session.execute(sa.select(AuditEntry.action).where(
        AuditEntry.entity == "organisation").order_by(AuditEntry.id)).scalars().all()
    assert actions == ["create", "update"]


def test_an_account_moves_to_another_desa_or_organisation(client, make_account, subtests):
    from tests.sync_helpers import VISIT
    from tests.sync_helpers import Phone

    admin = make_account("admin")
    officer = make_account("officer", desa_code=DESA_A)
    partner = make_account("partner", desa_code=None, organisation_code="sbmi")
    url = f"/api/admin/users/{officer.user_id}"
    phone = Phone(client, officer)
    visit_id = phone.new("visits", VISIT)
    phone.sync_all()
    with subtests.test("an officer moves to another desa; the phone starts over"):
        moved = client.patch(url, json={"desa_code": DESA_B}, headers=admin.headers)
        assert moved.status_code == 200, moved.get_json()
        assert db.session.get(User, officer.user_id).desa_code == DESA_B
        assert phone.sync()["reset"] == "scope_changed"
        phone.sync_all()
        assert ("visits", visit_id) not in phone.records
    with subtests.test("a partner moves to another organisation"):
        moved = client.patch(f"/api/admin/users/{partner.user_id}",
                             json={"organisation_code": "wcc_mawar_balqis"},
                             headers=admin.headers)
        assert moved.status_code == 200, moved.get_json()
        wcc = db.session.execute(sa.select(Organisation.id).where(
            Organisation.code == "wcc_mawar_balqis")).scalar_one()
        assert db.session.get(User, partner.user_id).organisation_id == wcc
    with subtests.test("a place that does not fit the role is refused, nothing changes"):
        refused = client.patch(url, json={"desa_code": "32.09"}, headers=admin.headers)
        assert refused.status_code == 422
        assert set(refused.get_json()["error"]["fields"]) == {"desa_code"}
        assert db.session.get(User, officer.user_id).desa_code == DESA_B
    details = db.session.execute(sa.select(AuditEntry.detail).where(
        AuditEntry.entity == "user", AuditEntry.action == "update").order_by(AuditEntry.id)
    ).scalars().all()
    assert details == [{"fields": ["desa_code"]}, {"fields": ["organisation_code"]}]
