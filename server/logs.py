"""What the server's own logs may hold: never a query string.

Flask's development server (`make run`) logs every request line with its query string;
gunicorn's format is set in gunicorn.conf.py. A URL's query could carry a name, a NIK or a
phone number (the app sends such values only in bodies, but an old client or a mistyped
link may not), so the development server's lines keep the path alone.
"""

import logging
import re

# A path followed by its query, inside a request line or an error message quoting one.
QUERY = re.compile(r"(/[^\s?\"']*)\?[^\s\"']*")


def strip_query(text: str) -> str:
    """The text with every URL's query string removed (the `?` included)."""
    return QUERY.sub(r"\1", text)


class NoQueryStrings(logging.Filter):
    """Rewrite a record so that no URL in it keeps its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Werkzeug formats the line itself and logs it without arguments; a record that
        # still has arguments is formatted here first, so no argument escapes the rewrite.
        record.msg = strip_query(record.getMessage())
        record.args = None
        return True


def install() -> None:
    """Filter the development server's request log (once per process)."""
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, NoQueryStrings) for f in werkzeug.filters):
        werkzeug.addFilter(NoQueryStrings())
