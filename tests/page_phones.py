"""Phones that notice a closed socket as the page does, for the deployment tests that time reconnects.

tests/phones.Phone notices a closed socket only when it next sends or reads, so a phone whose
person is thinking would be timed from the end of the thought. The page (static/workshop/live/
socket.js) hears `onclose` at once and, after a socket that had been open a while, reconnects
after the first backoff step (0.25-0.5 s): so does this phone, and its welcome after a restart
is timed from the restart.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

import websockets

from tests.phones import SLIDERS, Phone, backoff


class PagePhone(Phone):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.drops: list[float] = []  # when it heard its socket close
        self.errors: list[tuple[float, str]] = []  # when an attempt to join failed, and why

    async def connect(self) -> None:
        """Phone.connect, keeping what went wrong."""
        attempt = 0
        while True:
            try:
                await self.join()
                return
            except (TimeoutError, OSError, ConnectionError, websockets.WebSocketException) as error:
                self.errors.append((time.monotonic(), repr(error)[:120]))
                if self.ws is not None:
                    await self.ws.close()
                await asyncio.sleep(backoff(attempt, self.rng, cap=30))
                attempt += 1

    async def pause(self, seconds: float) -> None:
        """A person's pause; a socket that closes meanwhile ends it, as the page's onclose would."""
        try:
            await asyncio.wait_for(self.ws.wait_closed(), seconds)
        except TimeoutError:
            return
        raise websockets.ConnectionClosedError(None, None)

    async def run(
        self,
        sets: int,
        progress: Any = None,
        *,
        connect: bool = True,
        think: float = 0,
        until: asyncio.Event | None = None,
    ) -> None:
        """Phone.run, with the page's reaction to a closed socket (see the module's docstring); with
        `until`, it keeps placing values after the first `sets` until that event is set."""
        if connect:
            await self.connect()
        sent = 0
        retry_at: float | None = None

        def more() -> bool:
            return sent < sets or (until is not None and not until.is_set())

        while more() or self.unacked:
            try:
                if more() and not self.unacked:
                    if think and sent:
                        await self.pause(think * (0.5 + self.rng.random()))
                    sent += 1
                    await self.drag_and_set(self.rng.choice(SLIDERS), self.rng.randint(0, 100))
                wait = None if retry_at is None else max(0.0, retry_at - time.monotonic())
                try:
                    reply = json.loads(await asyncio.wait_for(self.ws.recv(), wait))
                except TimeoutError:
                    retry_at = None
                    await self.resend()
                    continue
                not_stored = self.not_stored
                if self.receive(reply) and progress:
                    progress()
                if self.not_stored > not_stored and retry_at is None:
                    retry_at = time.monotonic() + 2 + self.rng.random() * 2
            except (OSError, websockets.ConnectionClosed):
                self.drops.append(time.monotonic())
                retry_at = None
                await asyncio.sleep(backoff(0, self.rng, cap=30))
                await self.connect()


def back_after(phones: list[Phone], moment: float, until: float = float("inf")) -> list[float]:
    """Per phone welcomed again after `moment` (and before `until`): seconds until that welcome."""
    return [
        next(t for t in p.welcomes if t > moment) - moment
        for p in phones
        if p.welcomes and p.welcomes[0] < moment < p.welcomes[-1] and any(moment < t < until for t in p.welcomes)
    ]


def heard_after(phones: list[PagePhone], moment: float) -> list[float]:
    """Per phone whose socket closed after `moment`: seconds until it heard so."""
    return [min(t for t in p.drops if t > moment) - moment for p in phones if any(t > moment for t in p.drops)]


def summary(seconds: list[float]) -> str:
    if not seconds:
        return "none"
    return f"{len(seconds)} phones, median {statistics.median(seconds):.2f} s, slowest {max(seconds):.2f} s"
