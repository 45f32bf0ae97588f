"""NIK and phone numbers: what is an error, what is only a warning, and the stored form.

A NIK is `PPKKCC DDMMYY SSSS`: province, regency and kecamatan of first registration, the
day of birth (+40 for women), month, two-digit year, and a serial that is never 0000.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .validation import fail

NIK_LENGTH = 16
KABUPATEN_NIK_PREFIX = "3209"
# Mobile numbers have 10–13 digits counting the leading 0, so 9–12 after it.
MOBILE_DIGITS_AFTER_ZERO = (9, 12)
# Separators people type inside numbers: spaces, dots, dashes, brackets.
_SEPARATORS = re.compile(r"[\s.\-()]")


@dataclass(frozen=True)
class Nik:
    """What a NIK says about its holder."""

    number: str
    region: str  # PP.KK.CC, the Kemendagri kecamatan code of first registration
    birth_date: dt.date
    sex: str  # L or P
    serial: str


def _century_date(year2: int, month: int, day: int, today: dt.date) -> dt.date:
    # The NIK holds two digits of the year: take the latest century that is not in the future.
    year = 2000 + year2
    if (year, month, day) > (today.year, today.month, today.day):
        year -= 100
    return dt.date(year, month, day)


def parse_nik(raw: str, today: dt.date | None = None) -> Nik:
    """The parts of a NIK; raises a bilingual ValidationError when it cannot be one."""
    today = today or dt.date.today()
    number = _SEPARATORS.sub("", raw)
    if not number.isdigit() or not number.isascii():
        raise fail("NIK hanya berisi angka.", "A NIK has digits only.")
    if len(number) != NIK_LENGTH:
        raise fail(f"NIK harus {NIK_LENGTH} angka (ada {len(number)}).",
                   f"A NIK has {NIK_LENGTH} digits (this has {len(number)}).")
    province, regency, kecamatan = number[0:2], number[2:4], number[4:6]
    if "00" in (province, regency, kecamatan):
        raise fail("Kode wilayah pada NIK (6 angka pertama) tidak valid.",
                   "The region code in the NIK (first 6 digits) is not valid.")
    day, month, year2 = int(number[6:8]), int(number[8:10]), int(number[10:12])
    sex = "P" if day > 40 else "L"
    if sex == "P":
        day -= 40
    try:
        birth_date = _century_date(year2, month, day, today)
    except ValueError:
        raise fail("Tanggal lahir pada NIK (angka ke-7 s.d. 12) tidak mungkin.",
                   "The birth date in the NIK (digits 7 to 12) is impossible.") from None
    serial = number[12:16]
    if serial == "0000":
        raise fail("Nomor urut NIK (4 angka terakhir) tidak boleh 0000.",
                   "The NIK serial (last 4 digits) cannot be 0000.")
    return Nik(number, f"{province}.{regency}.{kecamatan}", birth_date, sex, serial)


def nik_warnings(nik: Nik, sex: str | None, birth_date: dt.date | None) -> list[dict]:
    """Disagreements between a valid NIK and the form: worth a second look, not a refusal."""
    warnings = []
    if sex and sex != nik.sex:
        said = "perempuan" if nik.sex == "P" else "laki-laki"
        warnings.append({
            "field": "nik",
            "id": f"Menurut NIK, jenis kelaminnya {said}; periksa NIK atau jenis kelamin.",
            "en": f"The NIK says {'female' if nik.sex == 'P' else 'male'}; "
                  "check the NIK or the sex.",
        })
    # Only day, month and two-digit year are in the NIK: compare those.
    if birth_date and (birth_date.day, birth_date.month, birth_date.year % 100) != (
        nik.birth_date.day, nik.birth_date.month, nik.birth_date.year % 100
    ):
        warnings.append({
            "field": "nik",
            "id": "Tanggal lahir pada NIK berbeda dengan tanggal lahir yang diisi.",
            "en": "The birth date in the NIK differs from the birth date entered.",
        })
    if not nik.number.startswith(KABUPATEN_NIK_PREFIX):
        warnings.append({
            "field": "nik",
            "id": "NIK ini pertama kali terdaftar di luar Kabupaten Cirebon.",
            "en": "This NIK was first registered outside Kabupaten Cirebon.",
        })
    return warnings


def normalise_phone(raw: str) -> str:
    """An Indonesian mobile number in E.164 (`+628…`); accepts 08…, 628… and +62 8…."""
    number = _SEPARATORS.sub("", raw)
    if number.startswith("+62"):
        national = number[3:]
    elif number.startswith("62"):
        national = number[2:]
    elif number.startswith("0"):
        national = number[1:]
    else:
        raise fail("Tulis nomor HP diawali 08, 628 atau +62.",
                   "Write the mobile number starting with 08, 628 or +62.")
    if not national.isdigit() or not national.isascii():
        raise fail("Nomor HP hanya berisi angka.", "A phone number has digits only.")
    if not national.startswith("8"):
        raise fail("Bukan nomor HP Indonesia (08…).", "Not an Indonesian mobile number (08…).")
    low, high = MOBILE_DIGITS_AFTER_ZERO
    if not low <= len(national) <= high:
        raise fail(f"Nomor HP terdiri dari {low + 1}–{high + 1} angka (termasuk 0 di depan).",
                   f"A mobile number has {low + 1}–{high + 1} digits (counting the leading 0).")
    return "+62" + national
