"""A session's timer runs out as a server event: every process that holds sockets of the session arms one
call for the moment the timer ends; the first to run writes the expiry (session_control.expire_timer,
under the session's row lock) and announces it, so the control panel, the screen and the phones all hear
it at once. The others find nothing left to expire.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from channels.db import database_sync_to_async

from workshop import session_control
from workshop.runtime import runtime
from workshop.session_info import SessionInfo

log = logging.getLogger(__name__)

# A call may run a little before the wall clock agrees that the timer has ended.
MARGIN = 0.05


def arm(info: SessionInfo) -> None:
    """Expire the session's running timer when it ends (called with every new state; cheap when nothing
    changed)."""
    session = info.session
    end = session.timer_ends_at if session.timer_ends_at is not None and not session.timer_expired else None
    armed = runtime().timers
    current = armed.get(info.code)
    if current is not None:
        if current[0] == end:
            return
        current[1].cancel()
        del armed[info.code]
    if end is None or not session.is_open:
        return
    loop = asyncio.get_running_loop()
    delay = max(0.0, (end - datetime.now(UTC)).total_seconds()) + MARGIN
    armed[info.code] = (end, loop.call_later(delay, lambda: loop.create_task(_expire(info.code, end))))


_aexpire = database_sync_to_async(session_control.expire_timer)


async def _expire(code: str, end: datetime) -> None:
    armed = runtime().timers
    if armed.get(code, (None,))[0] == end:
        del armed[code]
    try:
        await _aexpire(code=code)
    except Exception:
        log.exception("could not expire the timer of session=%s", code)
