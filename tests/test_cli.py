"""The flask commands init, create-user and revoke-devices."""

import pytest
import sqlalchemy as sa

from server.accounts import create_user
from server.extensions import db
from server.models import AuditEntry
from server.models import CommunityGroup
from server.models import Organisation
from server.models import Region
from server.models import User
from server.regions import load_regions
from tests.conftest import DESA_A
from tests.conftest import PASSWORD


def _count(model, *where) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model).where(*where)
                              ).scalar_one()


def _level_counts() -> dict:
    rows = db.session.execute(sa.select(Region.level, sa.func.count()).group_by(Region.level))
    return dict(rows.all())


def _assert_clean_failure(result, option: str) -> None:
    """Exit code 1, one line naming the option, no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: ")
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert option in result.output


def test_init_loads_what_is_missing_and_is_idempotent(app, runner):
    # Take away what init must bring back: the 12 kelurahan and one organisation.
    db.session.execute(sa.delete(Region).where(Region.level == "kelurahan"))
    db.session.execute(sa.delete(Organisation).where(Organisation.code == "mrc"))
    db.session.commit()
    try:
        first = runner.invoke(args=["init"])
        assert first.exit_code == 0, first.output
        assert ("Regions / wilayah: 12 added; 1 kabupaten, 40 kecamatan, 412 desa, "
                "12 kelurahan") in first.output
        assert "Organisations / organisasi: 1 added; 4 in total." in first.output

        second = runner.invoke(args=["init"])
        assert second.exit_code == 0, second.output
        assert "Regions / wilayah: 0 added;" in second.output
        assert "Organisations / organisasi: 0 added; 4 in total." in second.output
    finally:
        # Regions are kept between tests: never leave them short.
        load_regions(db.session)
        db.session.commit()
    assert _level_counts() == {"kabupaten": 1, "kecamatan": 40, "desa": 412, "kelurahan": 12}
    assert _count(Organisation) == 4


def test_create_user_with_password_option(app, runner):
    result = runner.invoke(args=["create-user", "Kuwu.Waled", "--role", "officer",
                                 "--name", "Haji Sukarta", "--desa", DESA_A,
                                 "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert "kuwu.waled" in result.output and "Waled Desa" in result.output
    user = db.session.execute(sa.select(User).where(User.username == "kuwu.waled")).scalar_one()
    assert (user.role, user.desa_code, user.full_name) == ("officer", DESA_A, "Haji Sukarta")
    assert user.password_hash != PASSWORD
    assert _count(AuditEntry, AuditEntry.action == "create",
                  AuditEntry.entity_id == str(user.id)) == 1


def test_create_user_prompts_twice_for_hidden_password(app, runner, client):
    result = runner.invoke(args=["create-user", "dedi", "--role", "ltsa", "--name", "Dedi"],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("Password / kata sandi") == 1
    assert "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output
    user = db.session.execute(sa.select(User).where(User.username == "dedi")).scalar_one()
    assert user.organisation.code == "ltsa"
    login = client.post("/api/auth/login", json={"username": "dedi", "password": PASSWORD})
    assert login.status_code == 201


def test_create_user_prompt_refuses_mismatch(app, runner):
    result = runner.invoke(args=["create-user", "dedi", "--role", "ltsa", "--name", "Dedi"],
                           input=f"{PASSWORD}\nlain-sekali-99\n")
    assert result.exit_code != 0
    assert _count(User) == 0


def test_community_members_share_a_group_given_by_name(app, runner):
    base = ["--role", "community", "--desa", DESA_A, "--group", "Pokmas Sejahtera",
            "--password", PASSWORD]
    first = runner.invoke(args=["create-user", "sri", "--name", "Sri Wahyuni", *base])
    assert first.exit_code == 0, first.output
    assert "New community group / kelompok baru: Pokmas Sejahtera" in first.output
    second = runner.invoke(args=["create-user", "yuyun", "--name", "Yuyun", *base])
    assert second.exit_code == 0, second.output
    assert "New community group" not in second.output
    group = db.session.execute(sa.select(CommunityGroup)).scalar_one()
    members = db.session.execute(sa.select(User.community_group_id)).scalars().all()
    assert members == [group.id, group.id] and group.desa_code == DESA_A


def test_create_partner_with_organisation(app, runner):
    result = runner.invoke(args=["create-user", "fitri", "--role", "partner", "--name", "Fitri",
                                 "--organisation", "wcc_mawar_balqis", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert "WCC Mawar Balqis" in result.output
    user = db.session.execute(sa.select(User).where(User.username == "fitri")).scalar_one()
    assert user.organisation.code == "wcc_mawar_balqis"


@pytest.mark.parametrize(("args", "option"), [
    (["--role", "kepala", "--name", "X"], "--role"),
    (["--name", "X"], "--role"),
    (["--role", "officer"], "--name"),
    (["--role", "officer", "--name", "X"], "--desa"),
    (["--role", "officer", "--name", "X", "--desa", "32.09.01"], "--desa"),
    (["--role", "officer", "--name", "X", "--desa", "99.99.99.9999"], "--desa"),
    (["--role", "ltsa", "--name", "X", "--desa", DESA_A], "--desa"),
    (["--role", "community", "--name", "X", "--desa", DESA_A], "--group"),
    (["--role", "community", "--name", "X", "--desa", DESA_A,
      "--group", "6f1c2c1e-9d43-4a53-8a38-2f3cf0b5a001"], "--group"),
    (["--role", "officer", "--name", "X", "--desa", DESA_A, "--group", "Pokmas"], "--group"),
    (["--role", "partner", "--name", "X"], "--organisation"),
    (["--role", "partner", "--name", "X", "--organisation", "lbh"], "--organisation"),
    (["--role", "admin", "--name", "X", "--password", "pendek"], "--password"),
])
def test_create_user_failures_name_the_option(app, runner, args, option):
    if "--password" not in args:
        args = [*args, "--password", PASSWORD]
    result = runner.invoke(args=["create-user", "baru", *args])
    _assert_clean_failure(result, option)
    assert _count(User) == 0
    assert _count(CommunityGroup) == 0


def test_unknown_organisation_lists_the_known_ones(app, runner):
    result = runner.invoke(args=["create-user", "baru", "--role", "partner", "--name", "X",
                                 "--organisation", "lbh", "--password", PASSWORD])
    _assert_clean_failure(result, "--organisation")
    assert "known: ltsa, mrc, sbmi, wcc_mawar_balqis" in result.output
    assert "Organisasi tidak dikenal." in result.output


def test_duplicate_username_is_refused(app, runner):
    create_user("siti", PASSWORD, "Siti", "admin")
    db.session.commit()
    result = runner.invoke(args=["create-user", "Siti", "--role", "admin", "--name", "Siti 2",
                                 "--password", PASSWORD])
    _assert_clean_failure(result, "USERNAME")
    assert "Username already taken." in result.output
    assert _count(User) == 1


def test_revoke_devices_logs_out_everywhere(app, runner, client, make_account):
    account = make_account("officer")
    assert client.get("/api/me", headers=account.headers).status_code == 200
    result = runner.invoke(args=["revoke-devices", account.username.upper()])
    assert result.exit_code == 0, result.output
    assert f"Revoked 1 device token(s) of {account.username}" in result.output
    assert client.get("/api/me", headers=account.headers).status_code == 401
    entry = db.session.execute(
        sa.select(AuditEntry).where(AuditEntry.action == "revoke")).scalar_one()
    assert entry.entity_id == str(account.user_id) and entry.detail["devices"] == 1

    again = runner.invoke(args=["revoke-devices", account.username])
    assert again.exit_code == 0 and "Revoked 0 device token(s)" in again.output


def test_revoke_devices_of_unknown_user(app, runner):
    result = runner.invoke(args=["revoke-devices", "nobody"])
    _assert_clean_failure(result, "USERNAME")
    assert _count(AuditEntry) == 0
