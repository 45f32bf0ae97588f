"""Password hashing with Argon2id, and the rule a new password must meet."""

import functools
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError

_hasher = PasswordHasher()
# Checked against when the username is unknown, so the answer takes as long either way.
_DUMMY_HASH = _hasher.hash("jangkau-no-such-user")


def hash_password(password: str) -> str:
    """An Argon2id hash of the password, with its own salt and parameters."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; spends the same time for a missing account."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


MIN_PASSWORD_LENGTH = 10
# A username this short ("ab") is part of too many good passwords to forbid containing it.
_MIN_NAME_IN_PASSWORD = 3
_COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt"


@functools.cache
def _common_passwords() -> frozenset[str]:
    """The shipped list of frequent passwords (see data/LICENSE-common-passwords.txt)."""
    text = _COMMON_PASSWORDS_FILE.read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip())


def password_problem(password: str, username: str) -> tuple[str, str] | None:
    """Why `password` may not be set for `username`, as (Bahasa Indonesia, English); None
    when it may. The one rule for every path that sets a password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return (f"Kata sandi minimal {MIN_PASSWORD_LENGTH} karakter.",
                f"Password needs at least {MIN_PASSWORD_LENGTH} characters.")
    folded, name = password.casefold(), username.strip().casefold()
    if name and (folded == name or (len(name) >= _MIN_NAME_IN_PASSWORD and name in folded)):
        return ("Kata sandi tidak boleh memuat nama pengguna.",
                "The password must not contain the username.")
    if folded in _common_passwords():
        return ("Kata sandi ini terlalu umum dan mudah ditebak; pilih yang lain.",
                "This password is too common and easy to guess; choose another.")
    return None
