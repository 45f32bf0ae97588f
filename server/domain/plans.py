"""Migration plans: written by whoever may change the person, while not archived."""

from __future__ import annotations

from . import persons


def authorize(user, row, values: dict) -> None:
    persons.check_child_write(user, row, values)
