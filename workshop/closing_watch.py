"""A session closed elsewhere reaches this process's phones: the idle-closing command (cron, another
process) broadcasts the close, but on the embedded in-memory channel layer that broadcast cannot leave its
own process. So each process that holds phones looks every CLOSED_CHECK_SECONDS which of their sessions
are closed as stored, and announces those: every phone hears it within that time, whatever it sends.

With Redis the command's broadcast reaches every process itself; the look is one small query per process
and period, and finds nothing to do.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings

from workshop.announce import announce_current
from workshop.models import Session
from workshop.runtime import runtime
from workshop.websocket import UNAVAILABLE, service_name

log = logging.getLogger(__name__)


def watch() -> None:
    """Start this process's look if it is not running (a phone joined); it stops when no phone is left."""
    live, loop = runtime(), asyncio.get_running_loop()
    running = live.closing_watch
    if running is None or running.done() or running.get_loop() is not loop:
        live.closing_watch = loop.create_task(_watch())


async def _watch() -> None:
    told: set[str] = set()
    while True:
        await asyncio.sleep(settings.CLOSED_CHECK_SECONDS)  # a period, not a wait for an event
        if not runtime().presence:
            return
        try:
            await look(told)
        except UNAVAILABLE as error:
            # The database or Redis is away: the next look tries again. One line a while, no traceback.
            runtime().warnings.warn(
                log,
                socket="closing_watch",
                reason="unavailable",
                message="could not look for sessions closed elsewhere: %s",
                args=(service_name(error),),
            )
        except Exception:
            log.exception("could not look for sessions closed elsewhere")


async def look(told: set[str]) -> None:
    """One look: announce each session of this process's phones that is closed as stored (once: `told`)."""
    codes = {code for code, _participant in runtime().presence} - told
    for code in await _closed_among(codes) if codes else []:
        told.add(code)
        await _aannounce(code=code)


def _closed(codes: set[str]) -> list[str]:
    return list(Session.objects.filter(code__in=codes, status=Session.Status.CLOSED).values_list("code", flat=True))


_closed_among = database_sync_to_async(_closed)
_aannounce = database_sync_to_async(announce_current)
