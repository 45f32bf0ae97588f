"""Possible duplicates: persons who may be the same, found after sync (server.domain.duplicates).

Listed for whoever may read both persons among officers, the LTSA and admins; merged
(online only: every change goes through the server's one write path, so phones pull it)
or dismissed. Every read and resolution is written to the audit log with both person ids.
"""

import sqlalchemy as sa
from flask import g
from flask import request
from marshmallow import Schema
from marshmallow import fields

from .. import audit
from .. import auth
from .. import sync_registry
from ..domain import disclosure
from ..domain import duplicates
from ..extensions import db
from ..models import Person
from ..models import PossibleDuplicate
from ..schemas.records import PersonSchema
from ..schemas.records import person_schema
from . import api_bp
from .openapi import doc
from .util import json_body


class PossibleDuplicateSchema(Schema):
    id = fields.String()
    match = fields.String(metadata={"description": "nik (the same NIK) or name_birth_date "
                                                   "(the same name, birth date and desa)"})
    status = fields.String(metadata={"description": "open, merged, dismissed, or closed (a "
                                                    "person was archived or corrected)"})
    person = fields.Nested(PersonSchema)
    other_person = fields.Nested(PersonSchema)
    kept_person_id = fields.String(allow_none=True)
    created_at = fields.String()
    resolved_at = fields.String(allow_none=True)


class PossibleDuplicateListSchema(Schema):
    items = fields.List(fields.Nested(PossibleDuplicateSchema))


class MergeSchema(Schema):
    keep = fields.String(required=True, metadata={
        "description": "The id of the person kept: one of the pair. The other's referrals, "
                       "consents and migration plans move to it; the other is archived with "
                       "merged_into_id pointing to it."})


class MergeResultSchema(PossibleDuplicateSchema):
    moved = fields.Dict(metadata={"description": "Ids of the records moved, by entity"})


merge_schema = MergeSchema()


def _person(person_id: str) -> dict:
    person = db.session.get(Person, person_id)
    return disclosure.answer(g.user, "persons", person, person_schema.dump(person))


def _dump(pair: PossibleDuplicate) -> dict:
    record = sync_registry.duplicate_dump(pair)
    return {"id": pair.id, "match": pair.match, "status": pair.status,
            "person": _person(pair.person_id), "other_person": _person(pair.other_person_id),
            "kept_person_id": pair.kept_person_id, "created_at": record["created_at"],
            "resolved_at": record["resolved_at"]}


def _audited(action: str, pair: PossibleDuplicate, detail: dict | None = None) -> None:
    audit.record(action, "possible_duplicate", pair.id,
                 {"person_ids": [pair.person_id, pair.other_person_id], **(detail or {})})


@api_bp.get("/persons/possible-duplicates")
@auth.login_required()
@doc(response=PossibleDuplicateListSchema)
def list_possible_duplicates():
    """Open possible duplicates among the persons the user may read (officers, LTSA and
    admins); ?person_id= for one person's."""
    select = sa.select(PossibleDuplicate).where(duplicates.readable(g.user),
                                                PossibleDuplicate.status == "open")
    if person_id := request.args.get("person_id"):
        select = select.where(sa.or_(PossibleDuplicate.person_id == person_id,
                                     PossibleDuplicate.other_person_id == person_id))
    pairs = db.session.execute(select.order_by(PossibleDuplicate.created_at,
                                               PossibleDuplicate.id)).scalars().all()
    audit.record("read", "person", None, {
        "ids": sorted({i for p in pairs for i in (p.person_id, p.other_person_id)}),
        "by": "possible_duplicates"})
    db.session.commit()
    return {"items": [_dump(pair) for pair in pairs]}


@api_bp.post("/possible-duplicates/<pair_id>/merge")
@auth.login_required()
@doc(body=MergeSchema, response=MergeResultSchema, errors=(403, 409))
def merge_possible_duplicate(pair_id):
    """Keep one person of the pair with both histories: the other's referrals, consents and
    migration plans move to the kept person, and the other is archived pointing to it.
    Officers of the persons' desa, the LTSA and admins; 409 once resolved."""
    pair = duplicates.get_readable(db.session, g.user, pair_id)
    data = merge_schema.load(json_body())
    moved = duplicates.merge(db.session, g.user, pair, data["keep"], sync_registry.write)
    _audited("merge", pair, {"kept": pair.kept_person_id, "moved": moved})
    db.session.commit()
    return _dump(pair) | {"moved": moved}


@api_bp.post("/possible-duplicates/<pair_id>/dismiss")
@auth.login_required()
@doc(response=PossibleDuplicateSchema, errors=(403, 409))
def dismiss_possible_duplicate(pair_id):
    """Not the same person: the pair is closed as dismissed and not flagged again."""
    pair = duplicates.get_readable(db.session, g.user, pair_id)
    duplicates.dismiss(db.session, g.user, pair)
    _audited("dismiss", pair)
    db.session.commit()
    return _dump(pair)
