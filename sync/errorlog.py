"""What a log may say about an unexpected error: its class and where it happened, never its
message.

A database error's message holds the statement's values (PostgreSQL's "Failing row
contains (…)" and "Key (nik)=(…) already exists" name them even with SQLAlchemy's
`hide_parameters`), and other errors may quote the value they choke on: a name, a NIK, a
phone number. The class chain and the code locations are enough to find the bug; the
error id ties them to what the user saw.
"""

from __future__ import annotations

import traceback

# Frames kept: the project's own (which of its lines led there), and the innermost few of
# the libraries (where it broke); at most MAX_FRAMES.
INNERMOST = 3
MAX_FRAMES = 20
LIBRARIES = ("site-packages", "dist-packages", "/lib/python")


def error_classes(error: BaseException) -> str:
    """The error's class and those of its causes, outermost first:
    `sqlalchemy.exc.IntegrityError <- psycopg.errors.UniqueViolation`."""
    names, seen = [], set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = type(current)
        module = kind.__module__
        names.append(kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}")
        current = current.__cause__ or current.__context__
    return " <- ".join(names)


def error_summary(error: BaseException) -> str:
    """The class chain and the code locations of the error's traceback (file, line,
    function; no source values, no message)."""
    frames = traceback.extract_tb(error.__traceback__)
    last = len(frames) - INNERMOST
    frames = [f for i, f in enumerate(frames)
              if i >= last or not any(part in f.filename for part in LIBRARIES)][-MAX_FRAMES:]
    where = "".join(f"\n  {f.filename}:{f.lineno} in {f.name}" for f in frames)
    return error_classes(error) + where
