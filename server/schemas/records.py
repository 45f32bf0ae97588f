"""Schemas for regions, organisations, outreach visits, persons, consents, migration plans
and referrals: what the API accepts, and how it shows a record.

Every schema refuses unknown fields (marshmallow's default); fields the server sets
(`created_by_id`, labels, derived age ...) are dump-only, so sending them is an error too.
"""

from __future__ import annotations

import datetime as dt

from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from sync.referral_status import STATUS_LABELS
from sync.referral_status import STATUSES

from .. import identity
from ..domain import followup
from ..domain.common import WIB
from ..domain.common import is_child
from ..domain.common import today
from ..enums import CASE_CATEGORIES
from ..enums import CONSENT_METHODS
from ..enums import CONSENT_PURPOSES
from ..enums import DOCUMENTS
from ..enums import EDUCATION_LEVELS
from ..enums import LAWFUL_BASES
from ..enums import MARITAL_STATUSES
from ..enums import MIGRATION_STATUSES
from ..enums import ORGANISATION_KINDS
from ..enums import ROLES
from ..enums import SCHEMES
from ..enums import SECTORS
from ..enums import SERVICES
from ..enums import SEXES
from ..enums import TOPICS
from ..enums import URGENCIES
from ..enums import VISIT_TYPES
from ..extensions import db
from ..models import Region
from ..models import age_on
from ..validation import Bilingual
from ..validation import fail
from .accounts import OrganisationRefSchema
from .moments import UTCDateTime
from .moments import UTCMoment

REGION_LEVELS = ("kabupaten", "kecamatan", "desa", "kelurahan")
DESA_LEVELS = ("desa", "kelurahan")
# Bounds that catch a slip of the thumb, not real limits of the domain.
MAX_PARTICIPANTS = 10_000
MAX_FEE_RUPIAH = 10**12
MAX_TEXT = 5000
# A phone's clock may run a little ahead of the server's.
CLOCK_SKEW = dt.timedelta(minutes=5)
EARLIEST_BIRTH_DATE = dt.date(1900, 1, 1)
EVENT_KINDS = ("status", "note")
# Who reads a note: the desk side only, or also the village that referred the person.
NOTE_AUDIENCES = ("desk", "village")
MAX_PLACE = 200

# ISO 3166-1 alpha-2 (249 codes, as in Debian's iso-codes).
COUNTRY_CODES = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ
EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW
GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY
KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV
MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG
TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM
ZW
""".split())


def region_name(code: str | None) -> str | None:
    # Regions are few and never change: the session's identity map answers repeats.
    region = db.session.get(Region, code) if code else None
    return region.name if region else None


# Validators -------------------------------------------------------------------------------

def validate_desa(code: str) -> None:
    """A desa or kelurahan of Kabupaten Cirebon."""
    region = db.session.get(Region, code)
    if region is None or region.level not in DESA_LEVELS:
        raise fail("Pilih desa/kelurahan di Kabupaten Cirebon.",
                   "Choose a desa/kelurahan in Kabupaten Cirebon.")


def validate_kecamatan(code: str) -> None:
    """A kecamatan of Kabupaten Cirebon."""
    region = db.session.get(Region, code)
    if region is None or region.level != "kecamatan":
        raise fail("Pilih kecamatan di Kabupaten Cirebon.",
                   "Choose a kecamatan in Kabupaten Cirebon.")


def not_in_future(day: dt.date) -> None:
    if day > today():
        raise fail("Tanggal tidak boleh di masa depan.", "The date cannot be in the future.")


def not_empty(values: list) -> None:
    if not values:
        raise fail("Pilih paling sedikit satu.", "Choose at least one.")


def one_of(codes) -> validate.OneOf:
    return validate.OneOf(list(codes))


def error_at(field: str, id_text: str, en_text: str) -> ValidationError:
    """A bilingual ValidationError on a named field; raise it from a schema validator."""
    return ValidationError(Bilingual(id_text, en_text), field_name=field)


# Fields -----------------------------------------------------------------------------------

class Text(fields.String):
    """A string with surrounding whitespace removed."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class ClientId(fields.UUID):
    """A record id the client may choose (it makes records offline): a UUID, kept as text."""

    def _deserialize(self, value, attr, data, **kwargs):
        return str(super()._deserialize(value, attr, data, **kwargs))


class CodeList(fields.List):
    """Codes of one enumeration, each kept once, in the order given."""

    def __init__(self, codes, **kwargs):
        super().__init__(fields.String(validate=one_of(codes)), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return list(dict.fromkeys(super()._deserialize(value, attr, data, **kwargs)))


class RtRw(fields.String):
    """An RT or RW number: 1–3 digits, stored zero-padded ("3" → "003"); empty if unknown."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs).strip()
        if value == "":
            return ""
        if not (value.isascii() and value.isdigit() and len(value) <= 3) or int(value) == 0:
            raise fail("RT/RW berisi 1–3 angka, misalnya 003.", "RT/RW has 1–3 digits, e.g. 003.")
        return value.zfill(3)


class NikField(fields.String):
    """A NIK, 16 digits; spaces and dots typed inside it are removed."""

    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs)
        return identity.parse_nik(raw, today()).number


class PhoneField(fields.String):
    """An Indonesian mobile number; stored as E.164 (+628…)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return identity.normalise_phone(super()._deserialize(value, attr, data, **kwargs))


class CountryField(fields.String):
    """An ISO 3166-1 alpha-2 country code other than Indonesia, upper-cased."""

    def _deserialize(self, value, attr, data, **kwargs):
        code = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        if code not in COUNTRY_CODES:
            raise fail("Kode negara ISO 3166 dua huruf, misalnya TW, HK, MY.",
                       "A two-letter ISO 3166 country code, e.g. TW, HK, MY.")
        if code == "ID":
            raise fail("Negara tujuan harus di luar Indonesia.",
                       "The destination must be outside Indonesia.")
        return code


def enum_field(codes, **kwargs) -> fields.String:
    """A field holding one code of an enumeration."""
    return fields.String(validate=one_of(codes), **kwargs)


def label(enum: dict, attr: str) -> fields.Function:
    """The Bahasa Indonesia label of the code in `attr` (dump only)."""
    return fields.Function(lambda obj: enum[value][0] if (value := getattr(obj, attr)) in enum
                           else None, metadata={"type": "string", "nullable": True})


class RecordSchema(Schema):
    """Who made a record and when; set by the server."""

    created_by_id = fields.Integer(dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class PageSchema(Schema):
    """One page of a list: `items` (in the subclass), the page, its size and the total."""

    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


# Regions and organisations ----------------------------------------------------------------

class RegionSchema(Schema):
    code = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    level = fields.String(dump_only=True)
    parent_code = fields.String(dump_only=True, allow_none=True)
    parent_name = fields.Function(lambda r: region_name(r.parent_code))


class RegionQuerySchema(Schema):
    level = enum_field(REGION_LEVELS)
    parent = fields.String(validate=validate.Length(max=13))
    q = Text(validate=validate.Length(min=1, max=100),
             metadata={"description": "Part of the name, case-insensitive."})


class RegionListSchema(Schema):
    items = fields.List(fields.Nested(RegionSchema))


class OrganisationSchema(Schema):
    id = fields.Integer(dump_only=True)
    code = fields.String(required=True, validate=[
        validate.Length(min=1, max=40), validate.Regexp(r"^[a-z0-9_]+$")],
        metadata={"description": "Lower-case letters, digits and _; cannot change later."})
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    kind = enum_field(ORGANISATION_KINDS, required=True)
    kind_label = label(ORGANISATION_KINDS, "kind")
    services = CodeList(SERVICES, load_default=list)
    is_active = fields.Boolean(load_default=True)
    created_at = UTCDateTime(dump_only=True)


class OrganisationQuerySchema(Schema):
    kind = enum_field(ORGANISATION_KINDS)
    service = enum_field(SERVICES)
    is_active = fields.Boolean()


class OrganisationListSchema(Schema):
    items = fields.List(fields.Nested(OrganisationSchema))


# Outreach visits --------------------------------------------------------------------------

class VisitSchema(RecordSchema):
    """An outreach visit.

    Participants: men (L) and women (P) are the adults; children are counted on their own,
    not inside men or women, so the total is the sum of the three and no count bounds
    another.
    """

    id = ClientId()
    visit_type = enum_field(VISIT_TYPES, required=True)
    visit_type_label = label(VISIT_TYPES, "visit_type")
    visit_date = fields.Date(required=True, validate=not_in_future)
    desa_code = fields.String(required=True, validate=validate_desa)
    desa_name = fields.Function(lambda v: region_name(v.desa_code))
    dusun = Text(load_default="", validate=validate.Length(max=100))
    rt = RtRw(load_default="")
    rw = RtRw(load_default="")
    community_group_id = fields.String(allow_none=True, load_default=None, metadata={
        "description": "For community members always their own group."})
    topics = CodeList(TOPICS, load_default=list)
    participants_male = fields.Integer(strict=True, load_default=0,
                                       validate=validate.Range(min=0, max=MAX_PARTICIPANTS))
    participants_female = fields.Integer(strict=True, load_default=0,
                                         validate=validate.Range(min=0, max=MAX_PARTICIPANTS))
    participants_children = fields.Integer(strict=True, load_default=0,
                                           validate=validate.Range(min=0, max=MAX_PARTICIPANTS))
    participants_total = fields.Function(
        lambda v: v.participants_male + v.participants_female + v.participants_children)
    notes = Text(load_default="", validate=validate.Length(max=MAX_TEXT))
    withheld = fields.List(fields.String(), dump_only=True, metadata={
        "description": "Fields sent empty because this role does not receive them "
                       "(server/domain/disclosure.py)."})


class VisitQuerySchema(Schema):
    desa_code = fields.String()
    community_group_id = fields.String()
    visit_type = enum_field(VISIT_TYPES)
    date_from = fields.Date()
    date_to = fields.Date()

    @validates_schema
    def _range(self, data, **kwargs):
        if "date_from" in data and "date_to" in data and data["date_from"] > data["date_to"]:
            raise error_at("date_to", "date_to harus sama atau setelah date_from.",
                           "date_to must be on or after date_from.")


class VisitPageSchema(PageSchema):
    items = fields.List(fields.Nested(VisitSchema))


# Persons, consents and migration plans ----------------------------------------------------

class ConsentSchema(RecordSchema):
    """A person's consent, or their parent's or guardian's for a child (UU PDP Pasal 20–25)."""

    id = ClientId()
    person_id = fields.String(dump_only=True)
    purposes = CodeList(CONSENT_PURPOSES, required=True, validate=not_empty)
    notice_version = Text(required=True, validate=validate.Length(min=1, max=20), metadata={
        "description": "Version of the notice read to the person (purpose, data, retention)."})
    method = enum_field(CONSENT_METHODS, required=True)
    method_label = label(CONSENT_METHODS, "method")
    guardian_name = Text(allow_none=True, load_default=None,
                         validate=validate.Length(min=1, max=120),
                         metadata={"description": "Required when the person is under 18."})
    guardian_relation = Text(allow_none=True, load_default=None,
                             validate=validate.Length(max=40))
    given_at = UTCDateTime(load_default=None, metadata={"description": "Default: now."})
    keep_until = fields.Date(allow_none=True, load_default=None)
    withdrawn_at = UTCDateTime(dump_only=True)
    active = fields.Function(lambda c: c.withdrawn_at is None)

    @validates_schema(skip_on_field_errors=False)
    def _dates(self, data, **kwargs):
        given_at = data.get("given_at")
        if given_at and given_at > dt.datetime.now(dt.UTC) + CLOCK_SKEW:
            raise error_at("given_at", "Waktu persetujuan tidak boleh di masa depan.",
                           "The time of consent cannot be in the future.")
        keep_until = data.get("keep_until")
        if keep_until and keep_until < (given_at.astimezone(WIB).date() if given_at else today()):
            raise error_at("keep_until", "Batas simpan harus setelah persetujuan diberikan.",
                           "keep_until must be after the consent was given.")


class ConsentListSchema(Schema):
    items = fields.List(fields.Nested(ConsentSchema))


class WarningSchema(Schema):
    """Something worth a second look that did not stop the request."""

    field = fields.String()
    id = fields.String(metadata={"description": "Bahasa Indonesia"})
    en = fields.String(metadata={"description": "English"})


class PersonSchema(RecordSchema):
    """A warga; `age` and `is_child` (under 18) are derived from the birth date."""

    id = ClientId()
    name = Text(required=True, validate=validate.Length(min=1, max=120))
    nik = NikField(allow_none=True, load_default=None, metadata={
        "description": "16 digits. A NIK disagreeing with sex or birth date, or registered "
                       "outside 32.09, is accepted with a warning. Answered masked "
                       "(3209********0001); POST /persons/{id}/nik answers it in full."})
    sex = enum_field(SEXES, required=True)
    sex_label = label(SEXES, "sex")
    birth_date = fields.Date(allow_none=True, load_default=None, validate=[
        not_in_future, validate.Range(min=EARLIEST_BIRTH_DATE)])
    age = fields.Function(lambda p: age_on(p.birth_date, today()))
    is_child = fields.Function(lambda p: is_child(p.birth_date))
    phone = PhoneField(allow_none=True, load_default=None, metadata={
        "description": "Accepts 08…, 628…, +62 8…; answered as +628…."})
    desa_code = fields.String(required=True, validate=validate_desa)
    desa_name = fields.Function(lambda p: region_name(p.desa_code))
    address = Text(load_default="", validate=validate.Length(max=255))
    marital_status = enum_field(MARITAL_STATUSES, allow_none=True, load_default=None)
    education = enum_field(EDUCATION_LEVELS, allow_none=True, load_default=None)
    disability = fields.Boolean(load_default=False)
    migration_status = enum_field(MIGRATION_STATUSES, required=True)
    migration_status_label = label(MIGRATION_STATUSES, "migration_status")
    lawful_basis = enum_field(LAWFUL_BASES, required=True, metadata={
        "description": "Community members must use persetujuan."})
    lawful_basis_label = label(LAWFUL_BASES, "lawful_basis")
    community_group_id = fields.String(dump_only=True)
    archived_at = UTCDateTime(dump_only=True)
    merged_into_id = fields.String(dump_only=True, metadata={
        "description": "Set when a merge of possible duplicates archived this person: "
                       "the person kept."})
    withheld = fields.List(fields.String(), dump_only=True, metadata={
        "description": "Fields sent empty because this role does not receive them "
                       "(server/domain/disclosure.py)."})


class NikRevealSchema(Schema):
    """A person's NIK in full: shown, never stored on the phone."""

    nik = fields.String(allow_none=True)


class PersonCreateSchema(PersonSchema):
    """A new person, with the consent given in the same visit."""

    consent = fields.Nested(ConsentSchema, load_only=True, metadata={
        "description": "Required when lawful_basis is persetujuan; for a child the consent "
                       "names the parent or guardian."})

    @validates_schema(skip_on_field_errors=False)
    def _consent(self, data, **kwargs):
        # A child's consent names the guardian: checked with the consent itself
        # (server.domain.consents), the error placed under `consent`.
        if data.get("consent") is None and data.get("lawful_basis") == "persetujuan":
            raise error_at("consent", "Dasar hukum persetujuan: catat persetujuannya juga.",
                           "Lawful basis persetujuan: record the consent too.")


class PersonResultSchema(PersonSchema):
    """A person as answered to a create or change, with the warnings that did not stop it."""

    warnings = fields.List(fields.Nested(WarningSchema), dump_only=True)


class PersonQuerySchema(Schema):
    desa_code = fields.String()
    q = Text(validate=validate.Length(min=1, max=120),
             metadata={"description": "Part of the name, case-insensitive."})
    migration_status = enum_field(MIGRATION_STATUSES)
    lawful_basis = enum_field(LAWFUL_BASES)
    is_child = fields.Boolean()
    include_archived = fields.Boolean(load_default=False)


class PersonPageSchema(PageSchema):
    items = fields.List(fields.Nested(PersonSchema))


class DuplicateQuerySchema(Schema):
    """Either a NIK, or a name with a birth date (and optionally the desa)."""

    nik = NikField()
    name = Text(validate=validate.Length(min=1, max=120))
    birth_date = fields.Date()
    desa_code = fields.String()

    @validates_schema
    def _enough(self, data, **kwargs):
        if "nik" not in data and not ("name" in data and "birth_date" in data):
            raise error_at("nik", "Isi NIK, atau nama dan tanggal lahir.",
                           "Give a NIK, or a name and a birth date.")


class DuplicateSchema(Schema):
    match = fields.String(dump_only=True, metadata={"description": "nik or name_birth_date"})
    person = fields.Nested(PersonSchema, dump_only=True)


class DuplicateListSchema(Schema):
    items = fields.List(fields.Nested(DuplicateSchema))


class MigrationPlanSchema(RecordSchema):
    id = ClientId(metadata={"description": "Names the plan to replace; without it the "
                                           "person's current plan is replaced."})
    person_id = fields.String(dump_only=True)
    destination_country = CountryField(allow_none=True, load_default=None)
    sector = enum_field(SECTORS, allow_none=True, load_default=None)
    sector_label = label(SECTORS, "sector")
    scheme = enum_field(SCHEMES, load_default="tidak_diketahui")
    scheme_label = label(SCHEMES, "scheme")
    agency_name = Text(load_default="", validate=validate.Length(max=200))
    informal_recruiter = fields.Boolean(load_default=False,
                                        metadata={"description": "A calo or sponsor is involved."})
    fee_asked = fields.Integer(strict=True, allow_none=True, load_default=None,
                               validate=validate.Range(min=0, max=MAX_FEE_RUPIAH),
                               metadata={"description": "Rupiah."})
    documents = CodeList(DOCUMENTS, load_default=list,
                         metadata={"description": "Documents of UU 18/2017 Pasal 13 held."})


class MigrationPlanListSchema(Schema):
    items = fields.List(fields.Nested(MigrationPlanSchema))


# Referrals --------------------------------------------------------------------------------

class PersonRefSchema(Schema):
    id = fields.String()
    name = fields.String()
    sex = fields.String()
    age = fields.Function(lambda p: age_on(p.birth_date, today()))
    desa_code = fields.String()


class ReferralEventSchema(RecordSchema):
    """One entry in a referral's history: a status change or a note."""

    id = ClientId()
    referral_id = fields.String(dump_only=True)
    kind = enum_field(EVENT_KINDS, required=True)
    status = enum_field(STATUSES, allow_none=True, load_default=None)
    seen_status = enum_field(STATUSES, allow_none=True, load_default=None, metadata={
        "description": "The status the writer saw; a change it had not seen flags the event."})
    status_label = fields.Function(lambda e: STATUS_LABELS.get(e.status))
    note = Text(load_default="", validate=validate.Length(max=MAX_TEXT))
    organisation_id = fields.Integer(strict=True, allow_none=True, load_default=None, metadata={
        "description": "The partner, required with status dirujuk_lanjut."})
    appointment_at = UTCMoment(allow_none=True, load_default=None, metadata={
        "description": "With status dijadwalkan: when the person is expected (ISO 8601)."})
    place = Text(load_default="", validate=validate.Length(max=MAX_PLACE), metadata={
        "description": "With status dijadwalkan: where the person is expected."})
    outcome = Text(load_default="", validate=validate.Length(max=MAX_TEXT), metadata={
        "description": "With status selesai: what came of the referral; becomes its outcome."})
    audience = enum_field(NOTE_AUDIENCES, load_default="desk", metadata={
        "description": "Who reads a note: desk (LTSA, partners, admin) or village (also the "
                       "referring side). Status events are read by all who read the referral."})
    author_role = fields.String(dump_only=True)
    author_role_label = label(ROLES, "author_role")
    hlc = fields.String(dump_only=True)
    flagged = fields.Boolean(dump_only=True, metadata={
        "description": "A late transition from a phone that was kept but not applied."})
    flag_reason = fields.String(dump_only=True)

    @validates_schema
    def _kind(self, data, partial=False, **kwargs):
        if "kind" not in data:
            # A partial load (a sync mutation) checks the kind once the record is whole.
            return
        if data["kind"] == "note":
            if not data.get("note"):
                raise error_at("note", "Tulis catatannya.", "Write the note.")
            for name in ("status", "organisation_id", "appointment_at", "place", "outcome"):
                if data.get(name):
                    raise error_at(name, "Catatan tidak mengubah status.",
                                   "A note does not change the status.")
            return
        if data.get("status") is None:
            raise error_at("status", "Wajib diisi.", "Missing data for required field.")
        scheduling = data["status"] == "dijadwalkan"
        for name in ("appointment_at", "place"):
            if not scheduling and data.get(name):
                raise error_at(name, "Jadwal dan tempat hanya diisi untuk dijadwalkan.",
                               "A date and place go only with dijadwalkan.")
        if data["status"] != "selesai" and data.get("outcome"):
            raise error_at("outcome", "Hasil hanya diisi saat rujukan selesai.",
                           "An outcome goes only with selesai.")
        forwarding = data["status"] == "dirujuk_lanjut"
        if forwarding and data.get("organisation_id") is None:
            raise error_at("organisation_id", "Pilih organisasi mitra tujuan rujukan.",
                           "Choose the partner organisation to forward to.")
        if not forwarding and data.get("organisation_id") is not None:
            raise error_at("organisation_id", "Organisasi hanya diisi untuk dirujuk_lanjut.",
                           "An organisation goes only with dirujuk_lanjut.")


class ReferralEventListSchema(Schema):
    items = fields.List(fields.Nested(ReferralEventSchema))


class ReferralSchema(RecordSchema):
    """A rujukan; its status is derived from its events and changed only through them."""

    id = ClientId()
    person_id = fields.String(required=True)
    person = fields.Nested(PersonRefSchema, dump_only=True)
    services = CodeList(SERVICES, required=True, validate=not_empty)
    reason = Text(load_default="", validate=validate.Length(max=MAX_TEXT))
    case_category = enum_field(CASE_CATEGORIES, allow_none=True, load_default=None)
    case_category_label = label(CASE_CATEGORIES, "case_category")
    urgency = enum_field(URGENCIES, load_default="biasa")
    urgency_label = label(URGENCIES, "urgency")
    status = fields.String(dump_only=True)
    status_label = fields.Function(lambda r: STATUS_LABELS.get(r.status))
    assigned_organisation = fields.Nested(OrganisationRefSchema, dump_only=True, allow_none=True)
    outcome = fields.String(dump_only=True)
    is_child = fields.Boolean(dump_only=True)
    desa_code = fields.String(dump_only=True)
    desa_name = fields.Function(lambda r: region_name(r.desa_code))
    kecamatan_code = fields.Function(lambda r: r.desa_code.rsplit(".", 1)[0])
    kecamatan_name = fields.Function(lambda r: region_name(r.desa_code.rsplit(".", 1)[0]))
    community_group_id = fields.String(dump_only=True)
    appointment_at = UTCDateTime(dump_only=True, metadata={
        "description": "The latest appointment (from the last applied dijadwalkan event)."})
    appointment_place = fields.String(dump_only=True)
    first_action_at = UTCDateTime(dump_only=True, metadata={
        "description": "When LTSA or partner staff first acted (an event); null: not yet."})
    overdue = fields.Function(lambda r: followup.is_overdue(r), metadata={
        "type": "boolean",
        "description": "No desk action within REFERRAL_OVERDUE_WORKING_DAYS working days."})
    due_on = fields.Function(lambda r: followup.due_date(r.created_at).isoformat(), metadata={
        "type": "string", "format": "date",
        "description": "The last day (WIB) on which the desk's first action is on time."})


class ReferralDetailSchema(ReferralSchema):
    """A referral with its whole history, oldest event first."""

    events = fields.List(fields.Nested(ReferralEventSchema), dump_only=True, metadata={
        "description": "The events the reader may read (the village side: status events, "
                       "its own notes and notes meant for the village)."})


class ReferralPatchSchema(Schema):
    """Village side (services, reason, urgency, case_category) only while terkirim;
    the desk (LTSA, partner, admin) sets outcome, urgency and case_category."""

    services = CodeList(SERVICES, validate=not_empty)
    reason = Text(validate=validate.Length(max=MAX_TEXT))
    urgency = enum_field(URGENCIES)
    case_category = enum_field(CASE_CATEGORIES, allow_none=True)
    outcome = Text(validate=validate.Length(max=MAX_TEXT))


class ReferralQuerySchema(Schema):
    """The desk's inbox: filters, all optional, combined with AND; newest first, or with
    `sort=inbox` emergencies (darurat), children and overdue referrals first."""

    status = enum_field(STATUSES)
    urgency = enum_field(URGENCIES)
    service = enum_field(SERVICES)
    desa_code = fields.String()
    kecamatan_code = fields.String(validate=validate_kecamatan)
    person_id = fields.String()
    assigned_organisation_id = fields.Integer()
    is_child = fields.Boolean()
    overdue = fields.Boolean()
    appointment_on = fields.Date(metadata={
        "description": "Referrals with their latest appointment on this day (WIB)."})
    sent_from = fields.Date(metadata={"description": "Sent on or after this day (WIB)."})
    sent_to = fields.Date(metadata={"description": "Sent on or before this day (WIB)."})
    q = Text(validate=validate.Length(min=2, max=120), metadata={
        "description": "Part of the person's name (case-insensitive)."})
    sort = enum_field(("newest", "inbox"), load_default="newest")

    @validates_schema
    def _range(self, data, **kwargs):
        if data.get("sent_from") and data.get("sent_to") and data["sent_from"] > data["sent_to"]:
            raise error_at("sent_to", "Tanggal akhir sebelum tanggal awal.",
                           "The end date is before the start date.")


class ReferralCountsSchema(Schema):
    """How many referrals in the user's scope (and the list's filters) per status."""

    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    overdue = fields.Integer()
    total = fields.Integer()


class ReferralPageSchema(PageSchema):
    items = fields.List(fields.Nested(ReferralSchema))


region_schema = RegionSchema()
region_list_schema = RegionListSchema()
region_query_schema = RegionQuerySchema()
organisation_schema = OrganisationSchema()
organisation_patch_schema = OrganisationSchema(partial=True, exclude=("code",))
organisation_list_schema = OrganisationListSchema()
organisation_query_schema = OrganisationQuerySchema()
visit_schema = VisitSchema()
visit_patch_schema = VisitSchema(partial=True, exclude=("id",))
visit_page_schema = VisitPageSchema()
visit_query_schema = VisitQuerySchema()
consent_schema = ConsentSchema()
consent_list_schema = ConsentListSchema()
person_schema = PersonSchema()
person_create_schema = PersonCreateSchema()
person_patch_schema = PersonSchema(partial=True, exclude=("id",))
person_result_schema = PersonResultSchema()
person_page_schema = PersonPageSchema()
person_query_schema = PersonQuerySchema()
duplicate_query_schema = DuplicateQuerySchema()
duplicate_list_schema = DuplicateListSchema()
migration_plan_schema = MigrationPlanSchema()
migration_plan_list_schema = MigrationPlanListSchema()
referral_schema = ReferralSchema()
referral_detail_schema = ReferralDetailSchema()
referral_patch_schema = ReferralPatchSchema()
referral_page_schema = ReferralPageSchema()
referral_query_schema = ReferralQuerySchema()
referral_counts_schema = ReferralCountsSchema()
referral_event_schema = ReferralEventSchema()
referral_event_list_schema = ReferralEventListSchema()
