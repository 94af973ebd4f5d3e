"""A phone's ticket to its own result PDF once the session has closed (docs/protocol.md, `result_ticket`).

When a session closes, the server forgets which phone was whose (archives.py overwrites the token
hashes). So each phone gets, in its last `state`, a ticket signed with SECRET_KEY that names the
session and carries that phone's own positions: the PDF is made from the ticket alone, so nobody
without one (a guessed code, a made-up body) gets anything, not even whether the code exists, and a
ticket cannot be changed to show other positions. No participant, token or pseudonym is in it.
A ticket is good for USES downloads while the session's rows are kept.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing

SALT = "workshop.result_ticket"
MAX_CHARS = 2000
# Downloads per ticket: one, and a retry or two for a download the phone lost.
USES = 3
ABSTAIN = "abstain"

Own = dict[tuple[int, str], int | None]  # (round, slider) -> value, None for "no opinion"; unplaced: absent


def issue(*, code: str, own: dict[int, dict[str, Any] | None]) -> str:
    """A ticket for this phone's own positions per round (as `participation.positions` gives them)."""
    placed = {
        str(round): {key: value for key, value in (positions or {}).items() if value is not None}
        for round, positions in own.items()
    }
    return signing.dumps({"c": code, "n": secrets.token_urlsafe(12), "p": placed}, salt=SALT, compress=True)


def read(ticket: str, *, code: str) -> tuple[str, Own] | None:
    """The ticket's nonce and positions, or None when it is no valid ticket of this session."""
    if not 0 < len(ticket) <= MAX_CHARS:
        return None
    try:
        payload = signing.loads(ticket, salt=SALT, max_age=timedelta(days=settings.SESSION_RETENTION_DAYS))
    except (signing.BadSignature, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("c") != code or not isinstance(payload.get("n"), str):
        return None
    own: Own = {}
    for round, positions in (payload.get("p") or {}).items():
        if round not in ("1", "2") or not isinstance(positions, dict):
            return None
        for key, value in positions.items():
            if value == ABSTAIN:
                own[(int(round), key)] = None
            elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100:
                own[(int(round), key)] = value
            else:
                return None
    return payload["n"], own
