"""The benchmark's baseline: the phone and dashboard protocol as a raw ASGI app, no Channels, no Django.

Same messages, same validation (workshop.protocol), same statistics and
profile match (workshop.stats, workshop.profiles), latest value per phone and
slider in memory, `set` (and a new participant at `hello`) written to SQLite in a worker thread before the
ack or welcome, one coalesced aggregate per 100 ms tick while something changed. What the
project costs above this is what Channels, Django and our own structure cost.

Run: daphne bench.baseline:app  (BASELINE_DB=path, BASELINE_SLIDERS=a,b,c)
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import secrets
import sqlite3
from typing import Any

from workshop import protocol
from workshop.profiles import ProfileTarget, match_profiles
from workshop.stats import BINS, summarize_counts

# The project's collector settings (config/asgi.py): the baseline is the same server, less the framework.
gc.freeze()
gc.set_threshold(50_000, 20, 20)

SLIDERS = os.environ.get("BASELINE_SLIDERS", "sturing,aanpak,verankering,regie,horizon").split(",")
TICK = 0.1
PROFILES = [ProfileTarget(f"p{i}", {s: (20 * i + 10) % 101 for s in SLIDERS}) for i in range(5)]


class Room:
    def __init__(self) -> None:
        self.positions: dict[tuple[str, str], int] = {}
        self.counts = {s: [0] * BINS for s in SLIDERS}
        self.dashboards: set[Any] = set()
        self.dirty = asyncio.Event()
        self.connected = 0
        self.joined: set[str] = set()
        path = os.environ.get("BASELINE_DB", ":memory:")
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # The project's SQLite settings: WAL, no fsync per commit.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS position (token TEXT, slider TEXT, value INTEGER, PRIMARY KEY (token, slider))"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS participant (token TEXT PRIMARY KEY)")
        self.lock = asyncio.Lock()
        self.ticker: asyncio.Task[None] | None = None

    def put(self, token: str, slider: str, value: int) -> None:
        old = self.positions.get((token, slider))
        if old == value:
            return
        if old is not None:
            self.counts[slider][old] -= 1
        self.positions[(token, slider)] = value
        self.counts[slider][value] += 1
        self.dirty.set()

    def store(self, token: str, slider: str, value: int) -> None:
        self.db.execute(
            "INSERT INTO position VALUES (?, ?, ?) ON CONFLICT (token, slider) DO UPDATE SET value = excluded.value",
            (token, slider, value),
        )

    def join(self, token: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO participant VALUES (?)", (token,))

    def aggregate(self) -> str:
        summaries = {s: summarize_counts(self.counts[s]) for s in SLIDERS}
        matches, best = match_profiles({k: v.median for k, v in summaries.items()}, PROFILES)
        return json.dumps(
            {
                "type": "aggregate",
                "participants": len(self.joined),
                "connected": self.connected,
                "sliders": [{"key": k, **v.as_dict(), "split": v.split} for k, v in summaries.items()],
                "profiles": [{"key": m.key, "distance": m.distance, "match": m.match} for m in matches],
                "best": best,
            },
            separators=(",", ":"),
        )

    async def tick(self) -> None:
        while True:
            await self.dirty.wait()
            self.dirty.clear()
            text = self.aggregate()
            for send in list(self.dashboards):
                try:
                    await send({"type": "websocket.send", "text": text})
                except Exception:
                    self.dashboards.discard(send)
            await asyncio.sleep(TICK)


ROOM: Room | None = None


def room() -> Room:
    global ROOM
    if ROOM is None:
        ROOM = Room()
    if ROOM.ticker is None:
        ROOM.ticker = asyncio.get_running_loop().create_task(ROOM.tick())
    return ROOM


async def phone(receive: Any, send: Any) -> None:
    r = room()
    token: str | None = None
    sliders = set(SLIDERS)

    async def reply(payload: dict[str, Any]) -> None:
        await send({"type": "websocket.send", "text": json.dumps(payload, separators=(",", ":"))})

    try:
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            try:
                message = protocol.parse(event.get("text"), sliders=sliders)
            except protocol.ProtocolError as error:
                await reply(error.as_reply())
                continue
            if isinstance(message, protocol.Hello):
                token = message.token or secrets.token_urlsafe(24)
                # A welcomed participant is durable, as in the project: its token works after a restart.
                await asyncio.to_thread(r.join, token)
                r.joined.add(token)
                r.connected += 1
                r.dirty.set()
                positions = {s: r.positions.get((token, s)) for s in SLIDERS}
                await reply({"type": "welcome", "token": token, "positions": positions})
            elif token is None:
                await reply({"type": "error", "code": "hello_required", "message": "hello first"})
            elif isinstance(message, protocol.Move):
                r.put(token, message.slider, message.value)
            elif isinstance(message, protocol.Set):
                await asyncio.to_thread(r.store, token, message.slider, message.value)
                r.put(token, message.slider, message.value)
                await reply({"type": "ack", "seq": message.seq, "round": 1})
            elif isinstance(message, protocol.Ping):
                await reply({"type": "pong"})
    finally:
        if token is not None:
            r.connected -= 1
            r.dirty.set()


async def dashboard(receive: Any, send: Any) -> None:
    r = room()
    r.dashboards.add(send)
    await send({"type": "websocket.send", "text": r.aggregate()})
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        r.dashboards.discard(send)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    if scope["path"].startswith("/ws/d/"):
        await dashboard(receive, send)
    else:
        await phone(receive, send)
