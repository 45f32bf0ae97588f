"""The regions of Kabupaten Cirebon, loaded from the committed data file."""

import json
from pathlib import Path

import sqlalchemy as sa

from .models import Region

DATA_FILE = Path(__file__).parent / "data" / "cirebon_regions.json"
KABUPATEN_CODE = "32.09"


def region_rows() -> list[dict]:
    """The kabupaten, its kecamatan and its desa/kelurahan, parents first."""
    regions = json.loads(DATA_FILE.read_text(encoding="utf-8"))["regions"]
    return [{"code": r["code"], "name": r["name"], "level": r["level"],
             "parent_code": r["parent"]} for r in regions]


def load_regions(session) -> int:
    """Insert the regions not yet in the database; returns how many were added."""
    have = set(session.execute(sa.select(Region.code)).scalars())
    rows = [r for r in region_rows() if r["code"] not in have]
    if rows:
        session.execute(sa.insert(Region), rows)
    return len(rows)
