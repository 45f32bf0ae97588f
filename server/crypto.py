"""Personal fields encrypted at rest, and the keyed hash that finds a NIK without reading it.

A stored value is `e1:<key id>:<base64url(nonce + ciphertext)>`: AES-256-GCM with a random
96-bit nonce, the version, key id and column (`persons.nik`) authenticated as associated
data, so a value cannot be moved to another column nor claim another key. Reading a value
under an unknown key, or one that fails authentication, raises DecryptError: never a
wrong value. No value, plain or encrypted, goes into an error message or a log.

Keys: DATA_KEYS is `<id>:<base64 32-byte key>[,<id>:<key>...]`, the first encrypts and
the others only decrypt (`flask rotate-keys` moves every value to the first); DATA_HMAC_KEY
(base64) keys the NIK hash. `init_app` reads them from the app's config; values are
encrypted and decrypted under the keys of the current app, or of the last app built when
none is active.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from dataclasses import field

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask
from flask import current_app
from flask import has_app_context

VERSION = "e1"
NONCE_BYTES = 12
KEY_BYTES = 32
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_EXTENSION = "jangkau_crypto"


class KeyConfigError(ValueError):
    """DATA_KEYS or DATA_HMAC_KEY cannot be used (the message names which, never the key)."""


class DecryptError(ValueError):
    """A stored value that cannot be read: not encrypted, unknown key, or tampered with."""


def _key_bytes(name: str, text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyConfigError(f"{name}: a key is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise KeyConfigError(f"{name}: a key must be {KEY_BYTES} bytes (base64 of 32 random bytes)")
    return raw


@dataclass(frozen=True)
class Keyring:
    """The data keys by id (the current one first) and the keyed-hash key."""

    current: str
    keys: dict[str, AESGCM] = field(repr=False)
    hmac_key: bytes = field(repr=False)

    @classmethod
    def parse(cls, data_keys: str, hmac_key: str) -> Keyring:
        keys: dict[str, AESGCM] = {}
        for part in (p.strip() for p in (data_keys or "").split(",")):
            if not part:
                continue
            key_id, sep, key = part.partition(":")
            if not sep or not _KEY_ID.fullmatch(key_id):
                raise KeyConfigError("DATA_KEYS: each entry is <id>:<base64 key>, the id of "
                                "1-16 letters, digits, '-' or '_'")
            if key_id in keys:
                raise KeyConfigError(f"DATA_KEYS: the key id {key_id} is given twice")
            keys[key_id] = AESGCM(_key_bytes("DATA_KEYS", key))
        if not keys:
            raise KeyConfigError("DATA_KEYS: no key given")
        return cls(next(iter(keys)), keys, _key_bytes("DATA_HMAC_KEY", hmac_key or ""))

    def encrypt(self, plaintext: bytes, column: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.keys[self.current].encrypt(nonce, plaintext, _aad(self.current, column))
        return f"{VERSION}:{self.current}:" + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, stored: str, column: str) -> bytes:
        key_id = key_id_of(stored)
        if key_id is None:
            raise DecryptError(f"{column}: a stored value is not encrypted in the form "
                               f"{VERSION}:<key id>:<data>")
        if key_id not in self.keys:
            raise DecryptError(f"{column}: a value is encrypted under key {key_id!r}, "
                               "which DATA_KEYS does not hold")
        try:
            sealed = base64.urlsafe_b64decode(stored.split(":", 2)[2])
            if len(sealed) < NONCE_BYTES + 16:
                raise InvalidTag
            return self.keys[key_id].decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:],
                                             _aad(key_id, column))
        except (InvalidTag, binascii.Error, ValueError):
            raise DecryptError(f"{column}: a value under key {key_id!r} fails authentication "
                               "(altered, or moved from another column)") from None

    def nik_hash(self, nik: str | None) -> str | None:
        if not nik:
            return None
        return hmac.digest(self.hmac_key, normalised_nik(nik).encode(), hashlib.sha256).hex()


@functools.lru_cache(maxsize=1024)
def _aad(key_id: str, column: str) -> bytes:
    # Made once per key and column: a pull page decrypts a thousand values.
    return f"{VERSION}:{key_id}:{column}".encode()


def key_id_of(stored: str) -> str | None:
    """The key id of a stored value, or None when it is not one of ours."""
    version, sep, rest = stored.partition(":")
    key_id, sep2, _ = rest.partition(":")
    if version != VERSION or not sep or not sep2 or not _KEY_ID.fullmatch(key_id):
        return None
    return key_id


def normalised_nik(nik: str) -> str:
    """The NIK as hashed: the separators people type (spaces, dots, dashes) do not count,
    as the schemas store it (server.identity.parse_nik)."""
    return "".join(ch for ch in nik if ch.isdigit())


_fallback: Keyring | None = None


def init_app(app: Flask) -> None:
    """Read the app's keys; a bad key stops the app at start, not at the first write."""
    global _fallback
    ring = Keyring.parse(app.config.get("DATA_KEYS", ""), app.config.get("DATA_HMAC_KEY", ""))
    app.extensions[_EXTENSION] = ring
    _fallback = ring


def keyring() -> Keyring:
    """The keys of the current app, else of the last app built (a script's engine)."""
    if has_app_context():
        # The app itself, not through its proxy at each look (once per value decrypted).
        ring = current_app._get_current_object().extensions.get(_EXTENSION)
        if ring is not None:
            return ring
    if _fallback is None:
        raise RuntimeError("server.crypto has no keys: build the app first (create_app)")
    return _fallback


def encrypt_text(value: str | None, column: str) -> str | None:
    return None if value is None else keyring().encrypt(value.encode(), column)


def decrypt_text(stored: str | None, column: str) -> str | None:
    return None if stored is None else keyring().decrypt(stored, column).decode()


def encrypt_json(value, column: str) -> str | None:
    if value is None:
        return None
    return keyring().encrypt(json.dumps(value, separators=(",", ":")).encode(), column)


def decrypt_json(stored: str | None, column: str):
    return None if stored is None else json.loads(keyring().decrypt(stored, column))


def nik_hash(nik: str | None) -> str | None:
    """HMAC-SHA256 (hex) of a NIK: equal NIKs, equal hashes; compare NIKs only through it."""
    return keyring().nik_hash(nik)


class EncryptedText(sa.types.TypeDecorator):
    """A str (or None) stored encrypted; `column` (`table.column`) is authenticated with it."""

    impl = sa.Text
    cache_ok = True

    def __init__(self, column: str):
        super().__init__()
        self.column = column

    def process_bind_param(self, value, dialect):
        return encrypt_text(value, self.column)

    def process_result_value(self, value, dialect):
        return decrypt_text(value, self.column)


class EncryptedJSON(EncryptedText):
    """Any JSON value (None: SQL NULL) stored encrypted."""

    # SQLAlchemy reads cache_ok from each class itself, not from its bases.
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return encrypt_json(value, self.column)

    def process_result_value(self, value, dialect):
        return decrypt_json(value, self.column)


def encrypted_columns(metadata: sa.MetaData) -> list[tuple[sa.Table, sa.Column]]:
    """Every encrypted column of the models, checked to name its own table and column (the
    associated data must say where a value belongs)."""
    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedText):
                if column.type.column != f"{table.name}.{column.name}":
                    raise RuntimeError(f"{table.name}.{column.name} is encrypted as "
                                       f"{column.type.column}")
                found.append((table, column))
    return found
