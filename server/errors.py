"""One vocabulary of refusals for the API and sync, and the JSON errors of the API.

Every refusal carries a stable `code` from `CODES`, with its HTTP status and default
messages in Bahasa Indonesia and English. The API answers it as `error.code`; a refused
sync mutation carries it as `reason`. Clients decide by code, never by the message text.
"""

import uuid

from flask import Flask
from flask import current_app
from flask import request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from sync.errorlog import error_summary

from .extensions import db

# code: (HTTP status, Bahasa Indonesia, English)
CODES = {
    "bad_request": (400, "Permintaan tidak valid", "Bad request"),
    "unauthorized": (401, "Silakan masuk terlebih dahulu", "Please log in first"),
    "session_expired": (401, "Sesi berakhir karena lama tidak dipakai. Silakan masuk lagi — "
                             "data di HP ini tetap aman.",
                        "The session ended after a long time unused. Please log in again — "
                        "the data on this phone is safe."),
    "device_revoked": (401, "Akses HP ini sudah dicabut oleh admin. Data Jangkau di HP ini "
                            "sudah dihapus.",
                       "An admin has revoked this phone's access. The Jangkau data on this "
                       "phone has been erased."),
    "forbidden": (403, "Anda tidak berwenang melakukan ini", "You are not allowed to do this"),
    "not_found": (404, "Tidak ditemukan", "Not found"),
    "method_not_allowed": (405, "Metode tidak diizinkan", "Method not allowed"),
    "conflict": (409, "Data bertabrakan dengan perubahan lain", "Conflicts with another change"),
    "id_taken": (409, "ID ini sudah dipakai data lain.",
                 "This id is already used by another record."),
    "transition_not_allowed": (409, "Status rujukan tidak dapat berubah seperti ini.",
                               "The referral cannot change its status this way."),
    "archived": (409, "Warga ini sudah diarsipkan.", "This person is archived."),
    "processing_stopped": (409, "Data warga ini tidak diproses lagi: persetujuannya ditarik "
                                "atau datanya dihapus.",
                           "This person's data is no longer processed: consent was withdrawn "
                           "or the data erased."),
    "client_mismatch": (409, "client_id ini milik akun lain; keluar lalu masuk lagi.",
                        "This client_id belongs to another account; log out and in again."),
    "client_outdated": (426, "Perbarui aplikasi: versi ini tidak bisa lagi bertukar data dengan "
                             "server. Muat ulang aplikasi; data di HP ini tetap aman.",
                        "Update the app: this version can no longer exchange data with the "
                        "server. Reload the app; the data on this phone is safe."),
    "too_large": (413, "Data terlalu besar", "Request too large"),
    "unsupported_media_type": (415, "Kirim data sebagai JSON", "Send the body as JSON"),
    "invalid": (422, "Data tidak valid", "Invalid data"),
    "consent_missing": (422, "Warga belum memberi persetujuan untuk ini.",
                        "The person has not consented to this."),
    "invalid_batch": (422, "Sebagian perubahan tidak valid; tidak ada yang disimpan.",
                      "Some changes are invalid; nothing was saved."),
    "rate_limited": (429, "Terlalu banyak percobaan", "Too many attempts"),
    "server_error": (500, "Terjadi kesalahan di server", "Something went wrong on the server"),
    "unavailable": (503, "Layanan sedang tidak tersedia", "Service unavailable"),
}
# The code of an HTTP status that names no code of its own (a werkzeug error, say).
STATUS_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
    422: "invalid", 426: "client_outdated", 429: "rate_limited", 500: "server_error",
    503: "unavailable",
}


def code_of_status(status: int) -> str:
    return STATUS_CODES.get(status, "server_error" if status >= 500 else "bad_request")


class Refused(Exception):
    """A refusal with a code from CODES: the domain raises it on both paths.

    The API answers it with the code's HTTP status; the sync registry turns it into the
    refusal of one mutation (`reason` = code). `fields` names the fields at fault:
    {field: [{"id": ..., "en": ...}]}.
    """

    def __init__(self, code: str | int, message_id: str | None = None,
                 message_en: str | None = None, fields: dict | None = None, **extra):
        if isinstance(code, int):
            code = code_of_status(code)
        if code not in CODES:
            raise ValueError(f"unknown refusal code {code!r}")
        status, default_id, default_en = CODES[code]
        super().__init__(message_en or default_en)
        self.code = code
        self.status = status
        self.message_id = message_id or default_id
        self.message_en = message_en or default_en
        self.fields = fields
        self.extra = extra


class ApiError(Refused):
    """A refusal made by the API itself (a bad request, a missing login ...).

    Takes a code or an HTTP status, whose code is then the status's own (422 -> invalid).
    """


def invalid(field: str, message_id: str, message_en: str, code: str = "invalid") -> Refused:
    """A refusal naming one field, in both languages."""
    return Refused(code, fields={field: [{"id": message_id, "en": message_en}]})


def error_body(status: int, message_id: str, message_en: str, fields=None, *,
               code: str | None = None, **extra) -> dict:
    body = {"error": {"status": status, "code": code or code_of_status(status),
                      "message": {"id": message_id, "en": message_en}}}
    if fields:
        body["error"]["fields"] = fields
    body["error"].update(extra)
    return body


def _default_messages(status: int) -> tuple[str, str]:
    _, message_id, message_en = CODES[code_of_status(status)]
    return message_id, message_en


def _wants_json() -> bool:
    return request.path.startswith("/api") or request.path in ("/healthz",)


def register(app: Flask) -> None:
    """Install the handlers."""

    @app.errorhandler(Refused)
    def refused(e: Refused):
        db.session.rollback()
        return error_body(e.status, e.message_id, e.message_en, e.fields, code=e.code,
                          **e.extra), e.status

    @app.errorhandler(ValidationError)
    def validation_error(e: ValidationError):
        # Nothing partial is written: the whole request's changes are dropped.
        db.session.rollback()
        from .validation import bilingual_fields

        fields = bilingual_fields(e.messages)
        mid, men = _default_messages(422)
        return error_body(422, mid, men, fields, code="invalid"), 422

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        if not _wants_json():
            return e
        db.session.rollback()
        status = e.code or 500
        mid, men = _default_messages(status)
        response = e.get_response()
        headers = {k: v for k, v in response.headers.items() if k.lower() == "allow"}
        return error_body(status, mid, men), status, headers

    @app.errorhandler(Exception)
    def unexpected_error(e: Exception):
        db.session.rollback()
        error_id = uuid.uuid4().hex[:12]
        # The id ties the user's report to the log entry: the error's class and code
        # locations, and the path without its query string; never the error's message
        # or the request's values (a database error quotes the row: name, NIK, phone).
        current_app.logger.error("unexpected error %s on %s %s: %s", error_id,
                                 request.method, request.path, error_summary(e))
        mid, men = _default_messages(500)
        return error_body(500, f"{mid} (kode {error_id})", f"{men} (id {error_id})",
                          code="server_error", error_id=error_id), 500
