"""The `code` path converter: only what a join code can be, so anything else is a plain 404.

A code is CODE_LENGTH characters of CODE_ALPHABET; people type them in lowercase
too, and the views upper-case them. A NUL, a non-ASCII letter or 300 characters
never reach a view, the database or a consumer (where PostgreSQL refused a NUL
with an error page or a 4503 close).
"""

from __future__ import annotations

import re

from django.urls import register_converter

from workshop.models import CODE_ALPHABET, CODE_LENGTH


class JoinCodeConverter:
    regex = f"[{re.escape(CODE_ALPHABET + CODE_ALPHABET.lower())}]{{{CODE_LENGTH}}}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(JoinCodeConverter, "code")
