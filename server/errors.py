"""JSON errors for the API: each names the problem in Bahasa Indonesia and English."""

import uuid

from flask import Flask
from flask import current_app
from flask import request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from .extensions import db

# Bahasa Indonesia first, English second, for the standard HTTP errors.
MESSAGES = {
    400: ("Permintaan tidak valid", "Bad request"),
    401: ("Silakan masuk terlebih dahulu", "Please log in first"),
    403: ("Anda tidak berwenang melakukan ini", "You are not allowed to do this"),
    404: ("Tidak ditemukan", "Not found"),
    405: ("Metode tidak diizinkan", "Method not allowed"),
    409: ("Data bertabrakan dengan perubahan lain", "Conflicts with another change"),
    413: ("Data terlalu besar", "Request too large"),
    415: ("Kirim data sebagai JSON", "Send the body as JSON"),
    422: ("Data tidak valid", "Invalid data"),
    429: ("Terlalu banyak percobaan", "Too many attempts"),
    500: ("Terjadi kesalahan di server", "Something went wrong on the server"),
    503: ("Layanan sedang tidak tersedia", "Service unavailable"),
}


class ApiError(Exception):
    """An error with a status, a bilingual message and optional per-field details."""

    def __init__(self, status: int, message_id: str | None = None,
                 message_en: str | None = None, fields: dict | None = None, **extra):
        super().__init__(message_en or MESSAGES.get(status, ("", ""))[1])
        default_id, default_en = MESSAGES.get(status, ("Kesalahan", "Error"))
        self.status = status
        self.message_id = message_id or default_id
        self.message_en = message_en or default_en
        self.fields = fields
        self.extra = extra


def error_body(status: int, message_id: str, message_en: str, fields=None, **extra) -> dict:
    body = {"error": {"status": status, "message": {"id": message_id, "en": message_en}}}
    if fields:
        body["error"]["fields"] = fields
    body["error"].update(extra)
    return body


def _wants_json() -> bool:
    return request.path.startswith("/api") or request.path in ("/healthz",)


def register(app: Flask) -> None:
    """Install the handlers."""

    @app.errorhandler(ApiError)
    def api_error(e: ApiError):
        db.session.rollback()
        return error_body(e.status, e.message_id, e.message_en, e.fields, **e.extra), e.status

    @app.errorhandler(ValidationError)
    def validation_error(e: ValidationError):
        # Nothing partial is written: the whole request's changes are dropped.
        db.session.rollback()
        from .validation import bilingual_fields

        fields = bilingual_fields(e.messages)
        mid, men = MESSAGES[422]
        return error_body(422, mid, men, fields), 422

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        if not _wants_json():
            return e
        db.session.rollback()
        mid, men = MESSAGES.get(e.code or 500, (e.name, e.name))
        response = e.get_response()
        headers = {k: v for k, v in response.headers.items() if k.lower() == "allow"}
        return error_body(e.code or 500, mid, men), e.code or 500, headers

    @app.errorhandler(Exception)
    def unexpected_error(e: Exception):
        db.session.rollback()
        error_id = uuid.uuid4().hex[:12]
        # The id ties the user's report to the full traceback in the log.
        current_app.logger.exception("unexpected error %s on %s %s", error_id,
                                     request.method, request.path)
        mid, men = MESSAGES[500]
        return error_body(500, f"{mid} (kode {error_id})", f"{men} (id {error_id})",
                          error_id=error_id), 500
