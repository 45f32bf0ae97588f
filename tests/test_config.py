"""Settings from the environment, with safe defaults."""

import os
import stat

import pytest

from server import config


@pytest.mark.parametrize(("given", "expected"), [
    ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
    ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:////tmp/x.sqlite", "sqlite:////tmp/x.sqlite"),
])
def test_database_url_fixes(monkeypatch, tmp_path, given, expected):
    monkeypatch.setenv("DATABASE_URL", given)
    assert config.load(str(tmp_path))["SQLALCHEMY_DATABASE_URI"] == expected


def test_default_database_is_sqlite_in_instance_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    url = config.load(str(tmp_path))["SQLALCHEMY_DATABASE_URI"]
    assert url == "sqlite:///" + str(tmp_path / "jangkau.sqlite")


def test_secret_key_generated_once_and_kept_private(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = config.load(str(tmp_path))["SECRET_KEY"]
    second = config.load(str(tmp_path))["SECRET_KEY"]
    assert first == second and len(first) >= 40
    mode = stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode)
    assert mode == 0o600
    other = tmp_path / "other"
    assert config.load(str(other))["SECRET_KEY"] != first


def test_secret_key_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "from-env")
    assert config.load(str(tmp_path))["SECRET_KEY"] == "from-env"
    assert not (tmp_path / "secret_key").exists()
