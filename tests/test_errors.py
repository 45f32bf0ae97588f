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
    assert error_id in caplog.text and "secret internals" in caplog.text


def test_oversize_body_is_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 100
    response = client.post("/api/auth/login", json={"username": "a" * 500, "password": "x"})
    assert response.status_code == 413
    assert response.get_json()["error"]["message"]["id"] == "Data terlalu besar"
