"""NIK and phone numbers: errors, warnings and the stored form."""

import datetime as dt

import pytest
from marshmallow import ValidationError

from server.identity import nik_warnings
from server.identity import normalise_phone
from server.identity import parse_nik
from server.validation import Bilingual

TODAY = dt.date(2026, 6, 1)


@pytest.mark.parametrize(("nik", "region", "birth_date", "sex"), [
    ("3209011505850002", "32.09.01", dt.date(1985, 5, 15), "L"),
    # Women's day of birth is +40.
    ("3209014101900001", "32.09.01", dt.date(1990, 1, 1), "P"),
    ("3209017112990123", "32.09.01", dt.date(1999, 12, 31), "P"),
    # Two-digit years: the latest century that is not in the future.
    ("3209010101100001", "32.09.01", dt.date(2010, 1, 1), "L"),
    ("3209010107260001", "32.09.01", dt.date(1926, 7, 1), "L"),
    ("3209010106260001", "32.09.01", dt.date(2026, 6, 1), "L"),
    # 29 February in a leap year.
    ("3209012902000001", "32.09.01", dt.date(2000, 2, 29), "L"),
    # Spaces and dots typed inside the number are dropped.
    ("3209 0141 0190 0001", "32.09.01", dt.date(1990, 1, 1), "P"),
    ("32.09.01.410190.0001", "32.09.01", dt.date(1990, 1, 1), "P"),
])
def test_valid_nik_is_parsed(nik, region, birth_date, sex):
    parsed = parse_nik(nik, TODAY)
    assert (parsed.region, parsed.birth_date, parsed.sex) == (region, birth_date, sex)
    assert len(parsed.number) == 16 and parsed.number.isdigit()


@pytest.mark.parametrize(("nik", "en"), [
    ("320901150585000", "A NIK has 16 digits (this has 15)."),
    ("32090115058500021", "A NIK has 16 digits (this has 17)."),
    ("", "A NIK has digits only."),
    ("32090115058500O2", "A NIK has digits only."),
    ("３２０９０１１５０５８５０００２", "A NIK has digits only."),
    ("0009011505850002", "The region code in the NIK (first 6 digits) is not valid."),
    ("3200011505850002", "The region code in the NIK (first 6 digits) is not valid."),
    ("3209001505850002", "The region code in the NIK (first 6 digits) is not valid."),
    ("3209013205850002", "The birth date in the NIK (digits 7 to 12) is impossible."),
    ("3209010005850002", "The birth date in the NIK (digits 7 to 12) is impossible."),
    ("3209011513850002", "The birth date in the NIK (digits 7 to 12) is impossible."),
    ("3209013002900002", "The birth date in the NIK (digits 7 to 12) is impossible."),
    ("3209012902010002", "The birth date in the NIK (digits 7 to 12) is impossible."),
    ("3209017205850002", "The birth date in the NIK (digits 7 to 12) is impossible."),
    ("3209014005850002", "The birth date in the NIK (digits 7 to 12) is impossible."),
    ("3209011505850000", "The NIK serial (last 4 digits) cannot be 0000."),
])
def test_invalid_nik_is_an_error_in_both_languages(nik, en):
    with pytest.raises(ValidationError) as error:
        parse_nik(nik, TODAY)
    (message,) = error.value.messages
    assert isinstance(message, Bilingual)
    assert str(message) == en
    assert message.id_text and message.id_text != en


@pytest.mark.parametrize(("nik", "sex", "birth_date", "expected"), [
    ("3209014101900001", "P", dt.date(1990, 1, 1), []),
    ("3209014101900001", None, None, []),
    ("3209014101900001", "L", dt.date(1990, 1, 1), ["The NIK says female"]),
    ("3209011505850002", "P", dt.date(1985, 5, 15), ["The NIK says male"]),
    ("3209014101900001", "P", dt.date(1990, 1, 2), ["The birth date in the NIK differs"]),
    ("3174014101900001", "P", dt.date(1990, 1, 1), ["first registered outside"]),
    ("3174011505850002", "P", dt.date(1986, 5, 15),
     ["The NIK says male", "The birth date in the NIK differs", "first registered outside"]),
])
def test_disagreements_are_warnings(nik, sex, birth_date, expected):
    warnings = nik_warnings(parse_nik(nik, TODAY), sex, birth_date)
    assert len(warnings) == len(expected)
    for warning, text in zip(warnings, expected, strict=True):
        assert warning["field"] == "nik"
        assert text in warning["en"]
        assert warning["id"]


@pytest.mark.parametrize(("raw", "stored"), [
    ("081234567890", "+6281234567890"),
    ("6281234567890", "+6281234567890"),
    ("+6281234567890", "+6281234567890"),
    ("+62 812-3456-7890", "+6281234567890"),
    ("0812 3456 7890", "+6281234567890"),
    ("(0812) 345.678", "+62812345678"),
    # 10 and 13 digits counting the leading 0: the bounds.
    ("0812345678", "+62812345678"),
    ("0812345678901", "+62812345678901"),
])
def test_phone_is_stored_as_e164(raw, stored):
    assert normalise_phone(raw) == stored


@pytest.mark.parametrize(("raw", "en"), [
    ("081234567", "A mobile number has 10–13 digits (counting the leading 0)."),
    ("08123456789012", "A mobile number has 10–13 digits (counting the leading 0)."),
    ("+62812", "A mobile number has 10–13 digits (counting the leading 0)."),
    ("0231123456", "Not an Indonesian mobile number (08…)."),
    ("+62 0812 3456 7890", "Not an Indonesian mobile number (08…)."),
    ("+886912345678", "Write the mobile number starting with 08, 628 or +62."),
    ("812345678", "Write the mobile number starting with 08, 628 or +62."),
    ("0812-ABC-7890", "A phone number has digits only."),
    ("", "Write the mobile number starting with 08, 628 or +62."),
])
def test_bad_phone_is_an_error_in_both_languages(raw, en):
    with pytest.raises(ValidationError) as error:
        normalise_phone(raw)
    (message,) = error.value.messages
    assert str(message) == en and message.id_text
