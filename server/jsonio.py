"""JSON as the server writes and reads it: the database's JSON columns and the sync answer.

orjson is some ten times faster than the json module; a pull page decodes a few thousand
JSON values (each synced row's clocks, merge bookkeeping and lists) and encodes an answer
of half a megabyte. What orjson refuses and the json module takes (an integer beyond 64
bits, a date, a lone surrogate) is left to the json module, so nothing that was written
before is refused now; orjson also reads only what the json module reads (it refuses
NaN), except that it reads an integer beyond 64 bits as a float: no JSON column holds one
(the API refuses them, tests/test_bad_values.py).
"""

from __future__ import annotations

import json

import orjson

# Keys other than strings as the json module writes them; dates and dataclasses are not
# JSON here (the json module refuses them too, through the fallback).
_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
            | orjson.OPT_PASSTHROUGH_DATACLASS)


def dumps_bytes(value) -> bytes:
    """`value` as compact UTF-8 JSON, keys in their order (json.dumps with separators
    "," and ":" and ensure_ascii False)."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def dumps(value) -> str:
    """dumps_bytes as text: a JSON column's value."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(raw: str | bytes):
    """A JSON column's value."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def engine_options() -> dict:
    """SQLAlchemy's create_engine options of every database of the server (one kabupaten's
    or each site's, server/sites.py)."""
    # hide_parameters: a statement's values (names, NIKs, phone numbers) never reach a
    # log or an error message through SQLAlchemy.
    return {"pool_pre_ping": True, "hide_parameters": True, "json_serializer": dumps,
            "json_deserializer": loads}
