"""GET /api/regions: the kecamatan → desa picker."""

import pytest

from tests.conftest import DESA_A

pytestmark = pytest.mark.usefixtures("fast_passwords")


def test_regions_need_login(client):
    assert client.get("/api/regions").status_code == 401
    assert client.get(f"/api/regions/{DESA_A}").status_code == 401


def test_picker_kecamatan_then_desa(client, make_account):
    headers = make_account("community").headers
    kecamatan = client.get("/api/regions?level=kecamatan", headers=headers).get_json()["items"]
    assert len(kecamatan) == 40
    assert (kecamatan[0]["code"], kecamatan[0]["name"]) == ("32.09.01", "Waled")
    assert all(k["parent_code"] == "32.09" for k in kecamatan)

    desa = client.get("/api/regions?parent=32.09.01", headers=headers).get_json()["items"]
    assert DESA_A in [d["code"] for d in desa]
    assert {d["level"] for d in desa} == {"desa"}
    assert [d["code"] for d in desa] == sorted(d["code"] for d in desa)


def test_kelurahan_are_the_twelve_of_sumber(client, make_account):
    headers = make_account("officer").headers
    items = client.get("/api/regions?level=kelurahan", headers=headers).get_json()["items"]
    assert len(items) == 12
    assert {i["parent_name"] for i in items} == {"Sumber"}


@pytest.mark.parametrize(("query", "expected"), [
    ("q=waled", {"Waled", "Waled Desa", "Waled Kota", "Waled Asem"}),
    ("q=WALED%20D&level=desa", {"Waled Desa"}),
    ("q=%25", set()),
    ("q=_aled", set()),
])
def test_name_search_is_case_insensitive_and_literal(client, make_account, query, expected):
    headers = make_account("officer").headers
    items = client.get(f"/api/regions?{query}", headers=headers).get_json()["items"]
    assert {i["name"] for i in items} >= expected
    assert all("aled" in i["name"].lower() for i in items)
    if not expected:
        assert items == []


def test_one_region_and_unknown_code(client, make_account):
    headers = make_account("partner").headers
    body = client.get(f"/api/regions/{DESA_A}", headers=headers).get_json()
    assert body == {"code": DESA_A, "name": "Waled Desa", "level": "desa",
                    "parent_code": "32.09.01", "parent_name": "Waled"}
    response = client.get("/api/regions/32.74", headers=headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["message"]["id"] == "Wilayah tidak ditemukan."


def test_bad_filters_are_named(client, make_account):
    headers = make_account("officer").headers
    response = client.get("/api/regions?level=provinsi&sort=name", headers=headers)
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert fields["level"][0]["en"].startswith("Must be one of: kabupaten")
    assert fields["level"][0]["id"].startswith("Harus salah satu dari: kabupaten")
    assert fields["sort"] == [{"id": "Kolom tidak dikenal.", "en": "Unknown field."}]
