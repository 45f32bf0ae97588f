"""Outreach visits (kunjungan penjangkauan): list, read, record, correct."""

import sqlalchemy as sa
from flask import g

from .. import audit
from .. import auth
from .. import scopes
from .. import sync_registry
from ..domain import disclosure
from ..errors import ApiError
from ..extensions import db
from ..models import OutreachVisit
from ..models import User
from ..models import new_uuid
from ..schemas.records import VisitPageSchema
from ..schemas.records import VisitQuerySchema
from ..schemas.records import VisitSchema
from ..schemas.records import visit_page_schema
from ..schemas.records import visit_patch_schema
from ..schemas.records import visit_query_schema
from ..schemas.records import visit_schema
from . import api_bp
from .openapi import doc
from .util import etag
from .util import json_body
from .util import paginate
from .util import query_args
from .util import replayed
from .util import seen_version


def get_visit(user: User, visit_id: str) -> OutreachVisit:
    """A visit the user may read and that was not deleted; 404 otherwise."""
    visit = scopes.get_readable(user, OutreachVisit, visit_id)
    if visit.deleted_hlc is not None:
        raise ApiError(404, "Data tidak ditemukan.", "Record not found.")
    return visit


def visit_answer(user: User, visit: OutreachVisit) -> dict:
    """A visit as the user may receive it (server.domain.disclosure)."""
    return disclosure.answer(user, "visits", visit, visit_schema.dump(visit))


def create_visit(user: User, data: dict) -> tuple[OutreachVisit, bool]:
    """Record a visit; returns (visit, created). A repeated create returns the stored one."""
    if visit := replayed(user, OutreachVisit, data.get("id")):
        return visit, False
    if user.role == "community" and data.get("community_group_id") is None:
        # A community member's visit is their group's; the form does not ask.
        data["community_group_id"] = user.community_group_id
    visit = sync_registry.write(user, "visits", data.get("id") or new_uuid(), data)
    audit.record("create", "visit", visit.id, {"fields": sorted(data)})
    return visit, True


def update_visit(user: User, visit: OutreachVisit, data: dict) -> OutreachVisit:
    """Change the fields given, as the visit's policy allows (server.domain.visits)."""
    if user.role == "community" and data.get("community_group_id") is None and (
            "community_group_id" in data or data.get("desa_code", visit.desa_code)
            != visit.desa_code):
        data["community_group_id"] = user.community_group_id
    sync_registry.write(user, "visits", visit.id, data, seen_version=seen_version())
    audit.record("update", "visit", visit.id, {"fields": sorted(data)})
    return visit


@api_bp.get("/visits")
@auth.login_required()
@doc(query=VisitQuerySchema, response=VisitPageSchema, paged=True)
def list_visits():
    """Visits in the user's scope, newest first. The LTSA and partners read no visits
    (an empty list): the reports give them the counts."""
    args = query_args(visit_query_schema)
    select = sa.select(OutreachVisit).where(
        scopes.readable(g.user, OutreachVisit), OutreachVisit.deleted_hlc.is_(None))
    for name in ("desa_code", "community_group_id", "visit_type"):
        if name in args:
            select = select.where(getattr(OutreachVisit, name) == args[name])
    if "date_from" in args:
        select = select.where(OutreachVisit.visit_date >= args["date_from"])
    if "date_to" in args:
        select = select.where(OutreachVisit.visit_date <= args["date_to"])
    select = select.order_by(OutreachVisit.visit_date.desc(), OutreachVisit.created_at.desc(),
                             OutreachVisit.id)
    page = paginate(select)
    # A visit's notes and dusun/RT/RW may tell about people: its reads are audited too.
    audit.record("read", "visit", None, {"ids": [v.id for v in page["items"]]})
    db.session.commit()
    answer = visit_page_schema.dump(page)
    answer["items"] = [disclosure.answer(g.user, "visits", visit, dumped)
                       for visit, dumped in zip(page["items"], answer["items"], strict=True)]
    return answer


@api_bp.get("/visits/<visit_id>")
@auth.login_required()
@doc(response=VisitSchema)
def get_visit_view(visit_id):
    """One visit."""
    visit = get_visit(g.user, visit_id)
    audit.record("read", "visit", visit.id)
    db.session.commit()
    return visit_answer(g.user, visit), 200, etag(visit)


@api_bp.post("/visits")
@auth.login_required()
@doc(body=VisitSchema, response=VisitSchema, status=201, errors=(403, 409))
def create_visit_view():
    """Record a visit; the client may choose its UUID. Sent again, it answers 200."""
    visit, created = create_visit(g.user, visit_schema.load(json_body()))
    db.session.commit()
    return visit_answer(g.user, visit), 201 if created else 200


@api_bp.patch("/visits/<visit_id>")
@auth.login_required()
@doc(body=visit_patch_schema, response=VisitSchema, errors=(403,))
def update_visit_view(visit_id):
    """Correct some fields of a visit."""
    visit = get_visit(g.user, visit_id)
    update_visit(g.user, visit, visit_patch_schema.load(json_body()))
    db.session.commit()
    return visit_answer(g.user, visit)
