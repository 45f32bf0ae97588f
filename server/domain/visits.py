"""Outreach visits: officers record them in their desa, community members for their group."""

from __future__ import annotations

from .. import scopes
from ..errors import invalid
from ..extensions import db
from ..models import CommunityGroup


def check_group_in_desa(desa_code: str, group_id: str | None) -> None:
    """A visit names a community group of its own desa, if any."""
    if group_id is None:
        return
    group = db.session.get(CommunityGroup, group_id)
    if group is None or group.desa_code != desa_code:
        raise invalid("community_group_id", "Kelompok ini tidak ada di desa kunjungan.",
                      "This group is not in the visit's desa.")


def authorize(user, row, values: dict) -> None:
    """Write scope in the visit's desa (and, for a move, in the old one), a group of that desa."""
    if row is not None and row.desa_code != values["desa_code"]:
        scopes.check_visit_write(user, row.desa_code, None, row)
    scopes.check_visit_write(user, values["desa_code"], values.get("community_group_id"), row)
    check_group_in_desa(values["desa_code"], values.get("community_group_id"))
