"""GET /healthz tells whether the database answers."""

from server import create_app


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_503_when_database_does_not_answer(tmp_path):
    # A SQLite path inside a missing folder cannot be opened.
    url = "sqlite:///" + str(tmp_path / "missing" / "nothing.sqlite")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"
    with app.app_context():
        from server.extensions import db

        db.engine.dispose()
