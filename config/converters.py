"""The `code` path converter: where a join code is normalised, once, for every page and socket.

A code is CODE_LENGTH characters of CODE_ALPHABET. People type them in lowercase too: the
converter matches either case and hands the view or consumer the code upper-cased, so that
nothing after it upper-cases again. A NUL, a non-ASCII letter or 300 characters never reach
a view, the database or a consumer (where PostgreSQL refused a NUL with an error page or a
4503 close): they are a plain 404, or 4404 on a socket (workshop/unrouted.py).
"""

from __future__ import annotations

import re

from django.urls import register_converter

from workshop.models import CODE_ALPHABET, CODE_LENGTH


class JoinCodeConverter:
    regex = f"[{re.escape(CODE_ALPHABET + CODE_ALPHABET.lower())}]{{{CODE_LENGTH}}}"

    def to_python(self, value: str) -> str:
        return value.upper()

    def to_url(self, value: str) -> str:
        return value


register_converter(JoinCodeConverter, "code")
