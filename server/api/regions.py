"""Regions of Kabupaten Cirebon: the kecamatan → desa picker."""

import sqlalchemy as sa

from .. import auth
from ..errors import ApiError
from ..extensions import db
from ..models import Region
from ..schemas.records import RegionListSchema
from ..schemas.records import RegionQuerySchema
from ..schemas.records import RegionSchema
from ..schemas.records import region_list_schema
from ..schemas.records import region_query_schema
from ..schemas.records import region_schema
from . import api_bp
from .openapi import doc
from .util import query_args


@api_bp.get("/regions")
@auth.login_required()
@doc(query=RegionQuerySchema, response=RegionListSchema)
def list_regions():
    """Regions by level, parent and part of the name, in code order."""
    args = query_args(region_query_schema)
    select = sa.select(Region).order_by(Region.code)
    if "level" in args:
        select = select.where(Region.level == args["level"])
    if "parent" in args:
        select = select.where(Region.parent_code == args["parent"])
    if "q" in args:
        select = select.where(sa.func.lower(Region.name).contains(args["q"].lower(),
                                                                  autoescape=True))
    return region_list_schema.dump({"items": db.session.execute(select).scalars().all()})


@api_bp.get("/regions/<code>")
@auth.login_required()
@doc(response=RegionSchema)
def get_region(code):
    """One region by its Kemendagri code."""
    region = db.session.get(Region, code)
    if region is None:
        raise ApiError(404, "Wilayah tidak ditemukan.", "Region not found.")
    return region_schema.dump(region)
