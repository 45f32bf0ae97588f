"""API errors are JSON with bilingual messages; no HTML page and no traceback reaches a user."""

import logging

import pytest


@pytest.mark.parametrize("path", ["/api/nope", "/api/visits/x/y/z", "/api/"])
def test_unknown_api_route_is_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.is_json
    assert response.get_json()["error"]["message"] == {"id": "Tidak ditemukan", "en": "Not found"}


def test_wrong_method_is_json_405(client):
    response = client.get("/api/auth/login")
    assert response.status_code == 405
    assert response.is_json
    assert "POST" in response.headers["Allow"]


def test_body_that_is_not_json(client):
    response = client.post("/api/auth/login", data="username=a", content_type="text/plain")
    assert response.status_code == 415
    assert response.get_json()["error"]["message"]["id"] == "Kirim data sebagai JSON"


def test_broken_json(client):
    response = client.post("/api/auth/login", data="{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["message"]["en"] == "The body is not valid JSON."


def test_json_that_is_not_an_object(client):
    response = client.post("/api/auth/login", json=[1, 2])
    assert response.status_code == 400


def test_unexpected_error_is_json_500_with_id_in_log(app, caplog):
    @app.get("/api/_boom")
    def boom():
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/api/_boom")
    assert response.status_code == 500
    body = response.get_json()
    error_id = body["error"]["error_id"]
    assert len(error_id) == 12
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    # The log names the error's class and where it happened, never its message (which
    # may quote personal values).
    assert error_id in caplog.text and "RuntimeError" in caplog.text and "boom" in caplog.text
    assert "secret internals" not in caplog.text


def test_oversize_body_is_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 100
    response = client.post("/api/auth/login", json={"username": "a" * 500, "password": "x"})
    assert response.status_code == 413
    assert response.get_json()["error"]["message"]["id"] == "Data terlalu besar"


def _visit(**changes) -> dict:
    return {"visit_type": "sosialisasi", "visit_date": "2024-11-01",
            "desa_code": "32.09.01.2008"} | changes


# (what, request, expected status, expected code); each request is made by `make(client,
# account)` so a case may log in first.
ERROR_KINDS = [
    ("unknown route", lambda c, a: c.get("/api/nope"), 404, "not_found"),
    ("wrong method", lambda c, a: c.get("/api/auth/login"), 405, "method_not_allowed"),
    ("not JSON", lambda c, a: c.post("/api/auth/login", data="x", content_type="text/plain"),
     415, "unsupported_media_type"),
    ("broken JSON", lambda c, a: c.post("/api/auth/login", data="{",
                                        content_type="application/json"), 400, "bad_request"),
    ("no login", lambda c, a: c.get("/api/me"), 401, "unauthorized"),
    ("invalid field", lambda c, a: c.post("/api/visits", json=_visit(visit_type="x"),
                                          headers=a.headers), 422, "invalid"),
    ("another desa", lambda c, a: c.post("/api/visits", json=_visit(desa_code="32.09.02.2008"),
                                         headers=a.headers), 403, "forbidden"),
    ("unknown record", lambda c, a: c.get("/api/visits/nope", headers=a.headers),
     404, "not_found"),
    ("bad paging", lambda c, a: c.get("/api/visits?page=x", headers=a.headers),
     400, "bad_request"),
]


def test_every_api_error_carries_a_code_from_the_table(client, make_account, subtests):
    from server.errors import CODES

    account = make_account("officer")
    for what, make, status, code in ERROR_KINDS:
        with subtests.test(what):
            response = make(client, account)
            assert response.status_code == status, response.get_data(as_text=True)
            error = response.get_json()["error"]
            assert error["code"] == code
            assert CODES[code][0] == status
            assert error["message"]["id"] and error["message"]["en"]


def test_an_id_of_another_record_is_id_taken(client, make_account):
    first, second = make_account("officer"), make_account("officer")
    made = client.post("/api/visits", json=_visit(), headers=first.headers).get_json()
    again = client.post("/api/visits", json=_visit(id=made["id"]), headers=second.headers)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "id_taken"


def test_unexpected_error_and_oversize_and_rate_limit_have_codes(app, client, make_account):
    @app.get("/api/_boom2")
    def boom():
        raise RuntimeError("boom")

    assert app.test_client().get("/api/_boom2").get_json()["error"]["code"] == "server_error"
    app.config["MAX_CONTENT_LENGTH"] = 100
    big = client.post("/api/auth/login", json={"username": "a" * 500, "password": "x"})
    assert big.get_json()["error"]["code"] == "too_large"
    app.config["MAX_CONTENT_LENGTH"] = None
    account = make_account("officer")
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] + 1):
        last = client.post("/api/auth/login", json={"username": account.username,
                                                     "password": "salah-sekali"})
    assert last.status_code == 429
    assert last.get_json()["error"]["code"] == "rate_limited"


def test_the_openapi_document_lists_every_code(client):
    from server.errors import CODES

    spec = client.get("/api/openapi.json").get_json()
    detail = spec["components"]["schemas"]["ErrorDetail"]["properties"]["code"]
    assert detail["enum"] == list(CODES)
