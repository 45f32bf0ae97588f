"""Fail when a log file holds a NIK or an Indonesian mobile number.

    .venv/bin/python tools/check_logs.py instance/test-suite.log [--expect-requests]

Prints the line numbers and what kind of value each holds, never the value itself (the
report must not leak what it found). A candidate counts when the project's own rules
(server/identity.py) accept it: 16 digits with a possible birth date for a NIK, spaces,
dots or dashes between groups allowed; 08…, 628… or +62 8… with 10 to 13 digits for a
phone. URL-encoded lines are decoded first; UUIDs are skipped (their digit runs are ids).
`--expect-requests` also fails when the file logs no request at all: a check of an empty
log proves nothing.

Exit status: 0 clean, 1 personal values found (or no request logged), 2 unreadable file.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from urllib.parse import unquote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from marshmallow import ValidationError  # noqa: E402

from server.identity import normalise_phone  # noqa: E402
from server.identity import parse_nik  # noqa: E402

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Runs of digit groups joined by one separator, not glued to a word (hex ids, names).
RUN = re.compile(r"(?<![\w+])(\+?)(\d+(?:[ .\-]\d+)*)(?!\w)")
SEPARATOR = re.compile(r"([ .\-])")
REQUEST = re.compile(r'"(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /')
NIK_DIGITS = 16
PHONE_DIGITS = (10, 14)  # 08 + 8..11 digits; 62 + 8..12 digits


def _valid(check, text: str) -> bool:
    try:
        check(text)
    except (ValidationError, ValueError):
        return False
    return True


def findings(line: str) -> set[str]:
    """The kinds of personal value in a line: "NIK", "phone"."""
    text = UUID.sub(" ", unquote(line))
    found = set()
    for match in RUN.finditer(text):
        plus, parts = match.group(1), SEPARATOR.split(match.group(2))
        groups, separators = parts[0::2], parts[1::2]
        # Any stretch of consecutive groups may be the value: "200 3209…" is a status
        # and a NIK, "0812-3456-7890" one phone number.
        for start in range(len(groups)):
            digits = plus if start == 0 else ""
            used = set()
            for end in range(start, len(groups)):
                if end > start:
                    used.add(separators[end - 1])
                digits += groups[end]
                count = len(digits.lstrip("+"))
                # A NIK is written with one kind of separator ("3209 0141 …",
                # "32.09.01.410190.0001"); two desa codes in a row are not one.
                if count == NIK_DIGITS and len(used) <= 1 and not digits.startswith("+") \
                        and _valid(parse_nik, digits):
                    found.add("NIK")
                if (PHONE_DIGITS[0] <= count <= PHONE_DIGITS[1]
                        and digits.lstrip("+").startswith(("08", "628"))
                        and _valid(normalise_phone, digits)):
                    found.add("phone")
                if count > NIK_DIGITS:
                    break
    return found


def check(path: Path, expect_requests: bool) -> int:
    bad = requests = number = 0
    with path.open(encoding="utf-8", errors="replace") as log:
        for number, line in enumerate(log, 1):
            requests += bool(REQUEST.search(line))
            kinds = findings(line)
            if kinds:
                bad += 1
                print(f"{path}:{number}: {' and '.join(sorted(kinds))} in this line")
    print(f"{path}: {number} lines, {requests} requests, {bad} with a NIK or phone number")
    if expect_requests and not requests:
        print(f"{path}: no request logged; the check proves nothing", file=sys.stderr)
        return 1
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--expect-requests", action="store_true",
                        help="fail when the log holds no request line")
    args = parser.parse_args(argv)
    if not args.log.is_file():
        print(f"{args.log}: no such file", file=sys.stderr)
        return 2
    return check(args.log, args.expect_requests)


if __name__ == "__main__":
    sys.exit(main())
