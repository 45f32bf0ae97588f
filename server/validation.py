"""Bilingual validation messages: marshmallow's English, with Bahasa Indonesia beside it."""

import re

from marshmallow import ValidationError


class Bilingual(str):
    """An error message in English that carries its Bahasa Indonesia twin."""

    def __new__(cls, id_text: str, en_text: str):
        obj = super().__new__(cls, en_text)
        obj.id_text = id_text
        return obj


def fail(id_text: str, en_text: str) -> ValidationError:
    """A ValidationError whose message is bilingual; raise it from a validator."""
    return ValidationError(Bilingual(id_text, en_text))


# marshmallow's built-in messages, matched in order; groups are carried into the translation.
_TRANSLATIONS = [
    (r"Missing data for required field\.", "Wajib diisi."),
    (r"Field may not be null\.", "Tidak boleh kosong."),
    (r"Unknown field\.", "Kolom tidak dikenal."),
    (r"Not a valid string\.", "Harus berupa teks."),
    (r"Not a valid integer\.", "Harus berupa bilangan bulat."),
    (r"Not a valid number\.", "Harus berupa angka."),
    (r"Not a valid boolean\.", "Harus ya atau tidak (true/false)."),
    (r"Not a valid date\.", "Tanggal tidak valid (format TTTT-BB-HH)."),
    (r"Not a valid datetime\.", "Waktu tidak valid (format ISO 8601)."),
    (r"Not a valid UUID\.", "UUID tidak valid."),
    (r"Not a valid list\.", "Harus berupa daftar."),
    (r"Not a valid mapping type\.", "Harus berupa objek."),
    (r"Invalid input type\.", "Jenis data tidak valid."),
    (r"Invalid input\.", "Isian tidak valid."),
    (r"Invalid value\.", "Nilai tidak valid."),
    (r"Must be one of: (.*)\.", r"Harus salah satu dari: \1."),
    (r"Shorter than minimum length (\d+)\.", r"Terlalu pendek, minimal \1 karakter."),
    (r"Longer than maximum length (\d+)\.", r"Terlalu panjang, maksimal \1 karakter."),
    (r"Length must be between (\d+) and (\d+)\.", r"Panjang harus antara \1 dan \2."),
    (r"Length must be (\d+)\.", r"Panjang harus \1."),
    (r"Must be greater than or equal to (\S+)\.", r"Harus paling sedikit \1."),
    (r"Must be less than or equal to (\S+)\.", r"Harus paling banyak \1."),
    (r"Must be greater than or equal to (\S+) and less than or equal to (\S+)\.",
     r"Harus antara \1 dan \2."),
    (r"String does not match expected pattern\.", "Format tidak sesuai."),
    (r"Invalid JSON input\.", "Data JSON tidak valid."),
    # The sync protocol's own messages.
    (r"Unknown entity\.", "Jenis data tidak dikenal."),
    (r"Mutation refused \((\w+)\)\.", r"Perubahan ditolak (\1)."),
    (r"At most (\d+) fields per mutation\.", r"Paling banyak \1 kolom per perubahan."),
    (r"mutation_id must increase within a batch\.",
     "mutation_id harus naik di dalam satu kiriman."),
    (r"Must be equal to (\S+)\.", r"Harus sama dengan \1."),
]


def translate(message: str) -> str:
    """The Bahasa Indonesia text for a validation message."""
    if isinstance(message, Bilingual):
        return message.id_text
    for pattern, repl in _TRANSLATIONS:
        if re.fullmatch(pattern, message):
            return re.sub(pattern, repl, message)
    return message


def bilingual_fields(messages) -> dict | list:
    """Turn marshmallow's error messages into {field: [{"id": ..., "en": ...}]}."""
    if isinstance(messages, dict):
        if set(messages) == {"id", "en"} and all(isinstance(v, str) for v in messages.values()):
            return messages  # already bilingual
        return {str(k): bilingual_fields(v) for k, v in messages.items()}
    if isinstance(messages, list):
        return [bilingual_fields(m) for m in messages]
    return {"id": translate(str(messages)) if not isinstance(messages, Bilingual)
            else messages.id_text, "en": str(messages)}
