"""Consents (UU PDP Pasal 20–25, 40): given by the person, or for a child by a parent or
guardian; withdrawn, never deleted; once withdrawn, final. A changed consent is a new record.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from ..errors import Refused
from ..errors import invalid
from ..extensions import db
from ..models import Consent
from ..models import Person
from . import persons
from .common import ADULT_AGE
from .common import changed_fields
from .common import is_child

# The consent purposes a referral relies on when the lawful basis is consent: to the LTSA,
# and for a forward from the LTSA to a partner organisation (SBMI, WCC).
REFERRAL_PURPOSE = "rujukan_ltsa"
PARTNER_PURPOSE = "rujukan_mitra"
# Why a referral is refused without the purpose: (field, Bahasa Indonesia, English).
_MISSING = {
    REFERRAL_PURPOSE: ("person_id", "Warga belum memberi persetujuan untuk dirujuk ke LTSA.",
                       "The person has not consented to a referral to the LTSA."),
    PARTNER_PURPOSE: ("organisation_id",
                      "Warga belum memberi persetujuan untuk dirujuk ke organisasi mitra; "
                      "catat persetujuan baru dengan tujuan itu.",
                      "The person has not consented to a referral to a partner organisation; "
                      "record a new consent with that purpose."),
}


def has_consent_for(person: Person, purpose: str) -> bool:
    """An active consent of the person covers `purpose`."""
    consents = db.session.execute(
        sa.select(Consent.purposes).where(Consent.person_id == person.id,
                                          Consent.withdrawn_at.is_(None),
                                          Consent.deleted_hlc.is_(None))
    ).scalars()
    return any(purpose in purposes for purposes in consents)


def check_purpose(person: Person, purpose: str) -> None:
    """Where the person's lawful basis is consent, an active consent covers `purpose`
    (UU PDP Pasal 20, 22: data goes only where the person agreed). Public task needs none."""
    if person.lawful_basis != "persetujuan" or has_consent_for(person, purpose):
        return
    field, id_text, en_text = _MISSING[purpose]
    raise invalid(field, id_text, en_text, code="consent_missing")


def guardian_missing(person: Person, guardian_name: str | None) -> bool:
    """UU PDP Pasal 25: a child's data needs a parent's or guardian's consent."""
    return bool(is_child(person.birth_date)) and not guardian_name


def check_guardian(person: Person, guardian_name: str | None) -> None:
    """A consent of a child names the parent or guardian who gave it."""
    if guardian_missing(person, guardian_name):
        raise invalid("guardian_name",
                      f"Warga di bawah {ADULT_AGE} tahun: persetujuan diberikan orang tua/wali; "
                      "isi namanya.",
                      f"A person under {ADULT_AGE}: a parent or guardian consents; "
                      "give their name.")


def authorize(user, row: Consent | None, values: dict) -> None:
    """Whoever may change the person records a consent (not for an archived person) and
    withdraws it (also for an archived one); the LTSA desk withdraws one at the person's
    request (UU PDP Pasal 40); an active consent of a child names the guardian."""
    withdrawal = (row is not None and values.get("withdrawn_at") is not None
                  and changed_fields(row, values) <= {"withdrawn_at"})
    person = persons.check_child_write(user, row, values, archived_ok=row is not None,
                                       desk_ok=withdrawal)
    if values.get("withdrawn_at") is None:
        check_guardian(person, values.get("guardian_name"))


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _refused(code: str, names, id_text: str, en_text: str) -> Refused:
    return Refused(code, id_text, en_text,
                   fields={name: [{"id": id_text, "en": en_text}] for name in sorted(names)})


def screen(user, row: Consent | None, sent: dict) -> bool:
    """What a write may ask of a stored consent, whatever its clock: a withdrawn consent
    changes no more (not even back to active), purposes only narrow, and the time it was
    given never moves earlier. Never skips a write (returns False)."""
    if row is None:
        return False
    changed = changed_fields(row, sent)
    if row.withdrawn_at is not None and changed:
        raise _refused("forbidden", changed,
                       "Persetujuan yang sudah dicabut tidak dapat diubah; catat persetujuan "
                       "baru.",
                       "A withdrawn consent cannot change; record a new consent.")
    if "purposes" in changed and set(sent["purposes"]) - set(row.purposes):
        raise _refused("forbidden", ["purposes"],
                       "Tujuan persetujuan tidak dapat ditambah; catat persetujuan baru.",
                       "A consent's purposes cannot be widened; record a new consent.")
    if "given_at" in changed and _utc(sent["given_at"]) < _utc(row.given_at):
        raise _refused("invalid", ["given_at"],
                       "Waktu persetujuan tidak dapat dimundurkan; catat persetujuan baru.",
                       "The time of consent cannot move earlier; record a new consent.")
    return False
