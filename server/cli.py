"""flask commands: init, create-user, revoke-devices, demo, vapid-keys, push-worker,
rotate-keys (server/cli_keys.py).

Errors end the command with exit code 1 and one line naming the bad option, in English
and Bahasa Indonesia; never a traceback.
"""

from __future__ import annotations

import functools
import os
import uuid
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import with_appcontext
from flask_migrate import upgrade

from . import audit
from .accounts import create_user
from .auth import revoke_all_devices
from .cli_breach import breach_report_command
from .cli_keys import rotate_keys_command
from .cli_rights import purge_command
from .demo import load_demo
from .enums import ROLES
from .errors import ApiError
from .extensions import db
from .models import CommunityGroup
from .models import Organisation
from .models import Region
from .models import User
from .regions import load_regions
from .seed import ensure_organisations

# The option of each field that server.accounts names in its errors.
FIELD_OPTIONS = {
    "username": "USERNAME",
    "password": "--password",
    "full_name": "--name",
    "role": "--role",
    "desa_code": "--desa",
    "organisation": "--organisation",
    "community_group_id": "--group",
}


def register(app: Flask) -> None:
    """Add the commands to the app's CLI."""
    for command in (init_command, create_user_command, revoke_devices_command, demo_command,
                    vapid_keys_command, push_worker_command, rotate_keys_command,
                    purge_command):
        app.cli.add_command(command)
    app.cli.add_command(breach_report_command)


def fail(option: str, en: str, id_: str) -> click.ClickException:
    """An error for one option: exit code 1, one line in English and Bahasa Indonesia."""
    return click.ClickException(f"{option}: {en} / {id_}")


def friendly_errors(command):
    """Turn ApiError and database errors into one-line messages; roll back what was added."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ApiError as e:
            db.session.rollback()
            if not e.fields:
                raise click.ClickException(f"{e.message_en} / {e.message_id}") from None
            parts = []
            for field, messages in e.fields.items():
                option = FIELD_OPTIONS.get(field, field)
                for m in messages:
                    parts.append(f"{option}: {m['en']} / {m['id']}{_choices(field)}")
            raise click.ClickException("; ".join(parts)) from None
        except sa.exc.SQLAlchemyError as e:
            db.session.rollback()
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise click.ClickException(
                f"Database error: {first}. Has `flask --app server init` run on this "
                "database? Check DATABASE_URL.") from None

    return wrapper


def _choices(field: str) -> str:
    """The known values of a field, to print beside its error."""
    if field == "organisation":
        codes = db.session.execute(sa.select(Organisation.code).order_by(Organisation.code))
        return " (known: " + ", ".join(codes.scalars()) + ")"
    return ""


def _region_counts() -> dict[str, int]:
    rows = db.session.execute(sa.select(Region.level, sa.func.count()).group_by(Region.level))
    return dict(rows.all())


@click.command("init")
@with_appcontext
@friendly_errors
def init_command():
    """Migrate the database, load the regions of Kabupaten Cirebon and the standard
    organisations. Safe to run again: it adds only what is missing."""
    # Flask-Migrate reports Alembic's own errors in one line and exits with code 1.
    upgrade()
    regions_added = load_regions(db.session)
    organisations_added = ensure_organisations(db.session)
    db.session.commit()
    levels = _region_counts()
    organisations = db.session.execute(
        sa.select(sa.func.count()).select_from(Organisation)).scalar_one()
    click.echo("Database schema up to date / skema basis data mutakhir.")
    click.echo(
        f"Regions / wilayah: {regions_added} added; "
        + ", ".join(f"{levels.get(level, 0)} {level}"
                    for level in ("kabupaten", "kecamatan", "desa", "kelurahan")))
    click.echo(f"Organisations / organisasi: {organisations_added} added; "
               f"{organisations} in total.")


def _find_group(value: str, desa_code: str | None) -> CommunityGroup | None:
    """The group with this id, or with this name in the desa (case-insensitive)."""
    group = db.session.get(CommunityGroup, value)
    if group is not None:
        return group
    query = sa.select(CommunityGroup).where(sa.func.lower(CommunityGroup.name) == value.lower())
    if desa_code:
        query = query.where(CommunityGroup.desa_code == desa_code)
    groups = db.session.execute(query).scalars().all()
    if len(groups) > 1:
        raise fail("--group", f"{len(groups)} groups are named {value!r}; give the group id.",
                   f"Ada {len(groups)} kelompok bernama {value!r}; pakai id kelompok.")
    return groups[0] if groups else None


@click.command("create-user")
@click.argument("username")
@click.option("--role", help="officer, community, ltsa, partner or admin.")
@click.option("--name", "full_name", help='Full name / nama lengkap, e.g. "Siti Aminah".')
@click.option("--desa", "desa_code", help="Desa/kelurahan code (officer, community), "
                                           "e.g. 32.09.01.2008.")
@click.option("--organisation", "organisation_code",
              help="Organisation code: sbmi, wcc_mawar_balqis (partner); ltsa by default "
                   "for the ltsa role.")
@click.option("--group", "group", metavar="GROUP_ID_OR_NAME",
              help="Community group (community role): its id, or its name in the desa; "
                   "a new name creates the group.")
@click.option("--password", help="Password (at least 10 characters, not a common one); "
                                 "asked for when left out.")
@with_appcontext
@friendly_errors
def create_user_command(username, role, full_name, desa_code, organisation_code, group,
                        password):
    """Create an account with a role and the scope that role needs."""
    if not role:
        raise fail("--role", "Give the role: " + ", ".join(ROLES) + ".", "Peran wajib diisi.")
    if role not in ROLES:
        raise fail("--role", f"Unknown role {role!r}; choose " + ", ".join(ROLES) + ".",
                   "Peran tidak dikenal.")
    if not full_name or not full_name.strip():
        raise fail("--name", "Give the full name.", "Nama lengkap wajib diisi.")
    if desa_code and role not in ("officer", "community"):
        raise fail("--desa", "Only officer and community accounts have a desa.",
                   "Hanya perangkat desa dan anggota pokmas yang punya desa.")
    if group and role != "community":
        raise fail("--group", "Only community accounts belong to a group.",
                   "Hanya anggota pokmas yang masuk kelompok.")
    if organisation_code and role not in ("partner", "ltsa"):
        raise fail("--organisation", "Only partner and ltsa accounts have an organisation.",
                   "Hanya petugas mitra dan LTSA yang punya organisasi.")

    group_id, new_group = None, None
    if group:
        found = _find_group(group, desa_code)
        if found is None and _is_uuid(group):
            raise fail("--group", f"No community group with id {group}.",
                       "Kelompok tidak ditemukan.")
        region = db.session.get(Region, desa_code) if desa_code else None
        if found is None and region is not None and region.level in ("desa", "kelurahan"):
            new_group = CommunityGroup(name=group.strip(), desa_code=desa_code)
            db.session.add(new_group)
            db.session.flush()
            found = new_group
        group_id = found.id if found else None

    if password is None:
        password = click.prompt("Password / kata sandi", hide_input=True,
                                confirmation_prompt=True)
    user = create_user(username, password, full_name, role, desa_code=desa_code,
                       organisation_code=organisation_code, community_group_id=group_id)
    audit.record("create", "user", str(user.id), {"role": role, "via": "cli"})
    db.session.commit()
    if new_group is not None:
        click.echo(f"New community group / kelompok baru: {new_group.name} (id {new_group.id})")
    click.echo(f"Created / dibuat: {user.username} — {ROLES[role][0]} ({role}), "
               f"scope / cakupan: {_scope_text(user)}")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _scope_text(user: User) -> str:
    if user.community_group is not None:
        return f"{user.community_group.name}, {user.desa.name} ({user.desa_code})"
    if user.desa is not None:
        return f"{user.desa.name} ({user.desa_code})"
    if user.organisation is not None:
        return user.organisation.name
    return "Kabupaten Cirebon"


@click.command("revoke-devices")
@click.argument("username")
@with_appcontext
@friendly_errors
def revoke_devices_command(username):
    """Log the user out on every device: revoke all their device tokens."""
    user = db.session.execute(
        sa.select(User).where(User.username == username.strip().lower())
    ).scalar_one_or_none()
    if user is None:
        raise fail("USERNAME", f"No user {username!r}.", "Pengguna tidak ditemukan.")
    count = revoke_all_devices(user)
    audit.record("revoke", "user", str(user.id), {"devices": count, "via": "cli"})
    db.session.commit()
    click.echo(f"Revoked {count} device token(s) of {user.username} / "
               f"{count} perangkat dikeluarkan.")


@click.command("demo")
@with_appcontext
@friendly_errors
def demo_command():
    """Load the demo accounts and six months of demo data (once; a second run adds nothing)."""
    try:
        result = load_demo(db.session)
    except LookupError as e:
        db.session.rollback()
        raise click.ClickException(str(e)) from None
    db.session.commit()
    counts = result["counts"]
    if result["created"]:
        click.echo(
            f"Demo data loaded / data demo dimuat: {counts['visits']} visits (kunjungan), "
            f"{counts['persons']} persons (warga), {counts['referrals']} referrals (rujukan), "
            f"{counts['referral_events']} referral events.")
    else:
        click.echo("Demo data already loaded; nothing added / data demo sudah ada.")
    click.echo("")
    click.echo(f"Demo accounts, all with the password / akun demo, semua dengan kata sandi: "
               f"{result['password']}")
    click.echo("")
    rows = [("username", "role", "scope")] + [
        (a["username"], f"{a['role']} ({a['role_label']})", a["scope"])
        for a in result["accounts"]
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for i, (username, role, scope) in enumerate(rows):
        click.echo(f"  {username:<{widths[0]}}  {role:<{widths[1]}}  {scope}")
        if i == 0:
            click.echo("  " + "  ".join("-" * w for w in widths))
    click.echo("")
    click.echo("For trying Jangkau only: never load the demo on a server with real data. / "
               "Hanya untuk mencoba, jangan di server dengan data asli.")


@click.command("vapid-keys")
@click.option("--instance", "to_instance", is_flag=True,
              help="Keep a new private key in the instance folder (mode 600) unless keys are "
                   "set already; print nothing else.")
@with_appcontext
def vapid_keys_command(to_instance):
    """Print a new VAPID key pair for web push, as environment lines to keep (a new pair
    makes every phone subscribe again)."""
    from flask import current_app

    from .config import VAPID_KEY_FILE
    from .notify import new_vapid_keys

    private, public = new_vapid_keys()
    if to_instance:
        if current_app.config["VAPID_PRIVATE_KEY"]:
            return
        path = Path(current_app.instance_path) / VAPID_KEY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        # Owner-only, like the secret key: whoever holds it can push to every subscriber.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(private)
        click.echo(f"VAPID key pair kept in {path} / kunci VAPID disimpan.")
        return
    click.echo(f"VAPID_PRIVATE_KEY={private}")
    click.echo(f"VAPID_PUBLIC_KEY={public}")
    click.echo(f"VAPID_SUBJECT={current_app.config['VAPID_SUBJECT']}")


@click.command("push-worker")
@click.option("--once", is_flag=True, help="One round (overdue check, then sending), then exit.")
@click.option("--interval", default=5.0, show_default=True,
              help="Seconds between rounds when nothing is waiting.")
@click.option("--overdue-every", default=600.0, show_default=True,
              help="Seconds between checks for overdue referrals.")
@with_appcontext
def push_worker_command(once, interval, overdue_every):
    """Send web push messages from the push outbox, and tell the desk of overdue referrals."""
    import signal
    import threading

    from flask import current_app

    from . import push_worker

    if not current_app.config["VAPID_PRIVATE_KEY"]:
        click.echo("No VAPID keys: notifications go to the in-app list only; run "
                   "`flask --app server vapid-keys`. / Kunci VAPID belum ada: notifikasi hanya "
                   "di daftar aplikasi.", err=True)
    if once:
        told = push_worker.check_overdue()
        result = push_worker.send_round()
        click.echo(f"overdue: {told}; push: {result.sent} sent, {result.retried} to retry, "
                   f"{result.failed} failed, {result.gone} subscriptions gone")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"Push worker running / pengirim notifikasi berjalan (every {interval} s).")
    push_worker.run(stop, interval=interval, overdue_every=overdue_every,
                    log=lambda line: click.echo(line))
