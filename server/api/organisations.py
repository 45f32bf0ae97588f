"""Organisations that receive referrals: the LTSA desk, the MRC, partner NGOs."""

import sqlalchemy as sa

from .. import audit
from .. import auth
from ..errors import ApiError
from ..extensions import db
from ..models import Organisation
from ..schemas.records import OrganisationListSchema
from ..schemas.records import OrganisationQuerySchema
from ..schemas.records import OrganisationSchema
from ..schemas.records import organisation_list_schema
from ..schemas.records import organisation_patch_schema
from ..schemas.records import organisation_query_schema
from ..schemas.records import organisation_schema
from . import api_bp
from .openapi import doc
from .util import json_body
from .util import query_args


def _get(organisation_id: int) -> Organisation:
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None:
        raise ApiError(404, "Organisasi tidak ditemukan.", "Organisation not found.")
    return organisation


@api_bp.get("/organisations")
@auth.login_required()
@doc(query=OrganisationQuerySchema, response=OrganisationListSchema)
def list_organisations():
    """Organisations, filtered by kind, a service they give, or whether active."""
    args = query_args(organisation_query_schema)
    rows = db.session.execute(sa.select(Organisation).order_by(Organisation.name)).scalars()
    # services is a JSON list; a handful of organisations is filtered here, not in SQL.
    items = [o for o in rows
             if args.get("kind", o.kind) == o.kind
             and args.get("is_active", o.is_active) == o.is_active
             and ("service" not in args or args["service"] in o.services)]
    return organisation_list_schema.dump({"items": items})


@api_bp.get("/organisations/<int:organisation_id>")
@auth.login_required()
@doc(response=OrganisationSchema)
def get_organisation(organisation_id):
    """One organisation."""
    return organisation_schema.dump(_get(organisation_id))


@api_bp.post("/organisations")
@auth.login_required("admin")
@doc(body=OrganisationSchema, response=OrganisationSchema, status=201)
def create_organisation():
    """Add an organisation."""
    data = organisation_schema.load(json_body())
    if db.session.execute(sa.select(Organisation.id).where(Organisation.code == data["code"])
                          ).first():
        raise ApiError(422, fields={"code": [{"id": "Kode organisasi sudah dipakai.",
                                              "en": "Organisation code already used."}]})
    organisation = Organisation(**data)
    db.session.add(organisation)
    db.session.flush()
    audit.record("create", "organisation", str(organisation.id), {"fields": sorted(data)})
    db.session.commit()
    return organisation_schema.dump(organisation), 201


@api_bp.patch("/organisations/<int:organisation_id>")
@auth.login_required("admin")
@doc(body=organisation_patch_schema, response=OrganisationSchema, errors=(404,))
def update_organisation(organisation_id):
    """Change an organisation's name, kind, services or whether it is active."""
    organisation = _get(organisation_id)
    data = organisation_patch_schema.load(json_body())
    for name, value in data.items():
        setattr(organisation, name, value)
    audit.record("update", "organisation", str(organisation.id), {"fields": sorted(data)})
    db.session.commit()
    return organisation_schema.dump(organisation)
