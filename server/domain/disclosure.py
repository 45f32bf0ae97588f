"""Which role sees which field of which record: the one rule, for every way a record leaves
the server (API answers, sync pulls, the conflict log, possible duplicates).

UU PDP Pasal 16(2)(b) and 27: personal data is processed only as far as its purpose needs.
- A NIK is always shown masked (`3209********0001`); the full number is an online, audited
  action (`POST /api/persons/<id>/nik`) of the roles that write documents with it.
- A person's phone number and address go to the village side and the LTSA; a partner
  organisation gets them only while the person consents to follow-up contact.
- A visit's place inside the desa (dusun, RT, RW) and its notes stay with the village side;
  the desk reads visit counts in the reports, not visits.
A withheld field is sent empty and named in `withheld`, so a screen can say why.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from ..errors import Refused
from ..extensions import db
from ..models import Consent

NIK_REVEAL_ROLES = frozenset({"officer", "ltsa", "admin"})
CONTACT_FIELDS = ("phone", "address")
CONTACT_PURPOSE = "kontak_lanjutan"
CONTACT_ROLES = frozenset({"officer", "community", "ltsa", "admin"})
VILLAGE_VISIT_FIELDS = ("dusun", "rt", "rw", "notes")
VISIT_DETAIL_ROLES = frozenset({"officer", "community", "admin"})
# What a withheld field is sent as: the empty value of its type.
_EMPTY = {"phone": None, "address": "", "dusun": "", "rt": "", "rw": "", "notes": ""}
# Kept digits at each end of a masked NIK: the regency code and the serial.
_SHOWN = 4
MASKED_NIK = re.compile(r"^[0-9]{4}\*{8}[0-9]{4}$")


def mask_nik(nik: str | None) -> str | None:
    """`3209********0001`: the first and last four digits, the rest starred."""
    if not nik:
        return nik
    hidden = max(len(nik) - 2 * _SHOWN, 0)
    return nik[:_SHOWN] + "*" * hidden + nik[_SHOWN + hidden:]


def is_masked_nik(value) -> bool:
    """True for a NIK as this module shows it (a client sending it back changes nothing)."""
    return isinstance(value, str) and MASKED_NIK.match(value.strip()) is not None


def has_contact_consent(person_id: str) -> bool:
    """The person has an active (not withdrawn) consent to follow-up contact."""
    rows = db.session.execute(
        sa.select(Consent.purposes).where(Consent.person_id == person_id,
                                          Consent.withdrawn_at.is_(None),
                                          Consent.deleted_hlc.is_(None))
    ).scalars()
    return any(CONTACT_PURPOSE in (purposes or ()) for purposes in rows)


def contact_consents(person_ids) -> set[str]:
    """Of `person_ids`, those with an active consent to follow-up contact (has_contact_consent
    for a page of persons, in one query per 500)."""
    ids = sorted(set(person_ids))
    out: set[str] = set()
    for start in range(0, len(ids), 500):
        rows = db.session.execute(
            sa.select(Consent.person_id, Consent.purposes)
            .where(Consent.person_id.in_(ids[start:start + 500]),
                   Consent.withdrawn_at.is_(None), Consent.deleted_hlc.is_(None)))
        out.update(person_id for person_id, purposes in rows
                   if CONTACT_PURPOSE in (purposes or ()))
    return out


def needs_contact_consent(user, entity: str) -> bool:
    """Whether what `user` receives of `entity` depends on the contact consent."""
    return entity == "persons" and user.role not in CONTACT_ROLES


def withheld(user, entity: str, row, contact: bool | None = None) -> list[str]:
    """The fields of `row` (of the synced `entity`) sent empty to `user`; `contact`: the
    person's contact consent when known (contact_consents), else it is looked up."""
    if needs_contact_consent(user, entity):
        if contact is None:
            contact = has_contact_consent(row.id)
        return [] if contact else list(CONTACT_FIELDS)
    if entity == "visits" and user.role not in VISIT_DETAIL_ROLES:
        return list(VILLAGE_VISIT_FIELDS)
    return []


def fields(user, entity: str, row, values: dict,
           contact: bool | None = None) -> tuple[dict, list[str]]:
    """The dumped `values` of `row` as `user` may receive them, and the withheld names."""
    out = dict(values)
    if entity == "persons" and out.get("nik"):
        out["nik"] = mask_nik(out["nik"])
    hidden = withheld(user, entity, row, contact)
    for name in hidden:
        if name in out:
            out[name] = _EMPTY[name]
    return out, hidden


def answer(user, entity: str, row, dumped: dict) -> dict:
    """An API answer of one record: its fields as disclosed, with `withheld` for persons
    and visits."""
    out, hidden = fields(user, entity, row, dumped)
    if entity in ("persons", "visits"):
        out["withheld"] = hidden
    return out


def change(user, entity: str, row, pulled: dict, contact: bool | None = None) -> dict:
    """A pulled change (record with its clocks, derived): the record's fields as disclosed;
    withheld names travel in `derived` (the record holds synced fields only), when any."""
    record, hidden = fields(user, entity, row, pulled["record"], contact)
    out = dict(pulled, record=record)
    if hidden:
        out["derived"] = dict(pulled.get("derived") or {}, withheld=hidden)
    return out


def conflict(user, entity: str, field: str | None, row, dumped: dict) -> dict:
    """A conflict entry of `row`'s `field`: its old and new values as the field is
    disclosed (a masked field stays masked, a withheld one empty)."""
    out = dict(dumped)
    if field is None or row is None:
        return out
    for side in ("winning_value", "losing_value"):
        values, hidden = fields(user, entity, row, {field: out.get(side)})
        out[side] = values[field]
    return out


def check_reveal(user) -> None:
    """Only roles that put a NIK on documents may see it in full."""
    if user.role not in NIK_REVEAL_ROLES:
        raise Refused("forbidden", "Peran Anda tidak dapat melihat NIK lengkap.",
                      "Your role cannot see the full NIK.")
