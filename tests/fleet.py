"""A fleet of simulated phones and dashboards over real sockets, and the faults the fault suite injects.

The phones follow static/workshop/participant.js: reconnect with backoff and
jitter, resend unacknowledged sets after every welcome, and again 2-4 s after a
`not_stored`. The dashboards follow dashboard.js: confirm every aggregate with
`seen`, reconnect at most 2 s apart.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import websockets

from bench.local import free_port

SLIDERS = ["sturing", "aanpak", "verankering", "regie", "horizon"]
ORIGIN = "http://127.0.0.1"


POSITIONS_SQL = """
SELECT p.token_hash, s.key, pos.value FROM workshop_position pos
JOIN workshop_participant p ON p.id = pos.participant_id
JOIN workshop_session ses ON ses.id = p.session_id
JOIN workshop_slider s ON s.id = pos.slider_id
WHERE ses.code = %s AND pos.round = 1
"""


def backoff(attempt: int, rng: random.Random, *, cap: float) -> float:
    """socket.js: half the base plus up to half again, the base doubling from 0.5 s to the cap."""
    base = min(cap, 0.5 * 2**attempt)
    return base / 2 + rng.random() * base / 2


class Phone:
    def __init__(self, url: str, rng: random.Random) -> None:
        self.url, self.rng = url, rng
        self.token: str | None = None
        self.seq = 0
        self.unacked: dict[str, tuple[int, int]] = {}  # slider -> (seq, value)
        self.acked: dict[str, int] = {}
        self.welcomes: list[float] = []
        self.not_stored = 0
        self.ack_times: list[float] = []
        self.ws: Any = None

    @property
    def token_hash(self) -> str:
        assert self.token is not None
        return hashlib.sha256(self.token.encode()).hexdigest()

    async def connect(self) -> None:
        attempt = 0
        while True:
            try:
                self.ws = await websockets.connect(self.url, origin=ORIGIN, open_timeout=5)
                await self.ws.send(json.dumps({"type": "hello", "token": self.token}))
                welcome = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
                if welcome["type"] != "welcome":
                    raise ConnectionError(welcome)
                self.token = welcome["token"]
                self.welcomes.append(time.monotonic())
                await self.resend()
                return
            except (TimeoutError, OSError, ConnectionError, websockets.WebSocketException):
                if self.ws is not None:
                    await self.ws.close()
                await asyncio.sleep(backoff(attempt, self.rng, cap=30))  # the page's backoff between attempts
                attempt += 1

    async def resend(self) -> None:
        for slider, (seq, value) in list(self.unacked.items()):
            await self.ws.send(json.dumps({"type": "set", "slider": slider, "value": value, "seq": seq}))

    async def drag_and_set(self, slider: str, value: int) -> None:
        # The finger lands on `value` whatever the connection does meanwhile: a drag cut
        # short by a reconnect is committed by the resend after the welcome.
        start = self.acked.get(slider, 50)
        self.seq += 1
        self.unacked[slider] = (self.seq, value)
        for step in (1, 2, 3):
            await self.ws.send(
                json.dumps({"type": "move", "slider": slider, "value": start + (value - start) * step // 4})
            )
            await asyncio.sleep(0.1)  # a finger's pace: ten moves a second, as the page throttles them
        await self.ws.send(json.dumps({"type": "set", "slider": slider, "value": value, "seq": self.seq}))

    async def run(self, sets: int, progress: Any = None, *, connect: bool = True) -> None:
        if connect:
            await self.connect()
        sent = 0
        retry_at: float | None = None
        while sent < sets or self.unacked:
            try:
                if sent < sets and not self.unacked:
                    sent += 1
                    await self.drag_and_set(self.rng.choice(SLIDERS), self.rng.randint(0, 100))
                wait = None if retry_at is None else max(0.0, retry_at - time.monotonic())
                try:
                    reply = json.loads(await asyncio.wait_for(self.ws.recv(), wait))
                except TimeoutError:
                    retry_at = None
                    await self.resend()
                    continue
                if reply["type"] == "ack":
                    self.ack_times.append(time.monotonic())
                    for slider, (seq, value) in list(self.unacked.items()):
                        if seq == reply["seq"]:
                            del self.unacked[slider]
                            self.acked[slider] = value
                            if progress:
                                progress()
                elif reply["type"] == "error" and reply.get("code") == "not_stored":
                    self.not_stored += 1
                    if retry_at is None:
                        retry_at = time.monotonic() + 2 + self.rng.random() * 2
            except (OSError, websockets.ConnectionClosed):
                retry_at = None
                await self.connect()


class Dashboard:
    """The facilitator's page: keeps the newest aggregate and when it came."""

    def __init__(self, url: str, cookie: str, rng: random.Random) -> None:
        self.url, self.cookie, self.rng = url, cookie, rng
        self.latest: dict[str, Any] | None = None
        self.received: list[float] = []
        self.connects: list[float] = []
        self.changed = asyncio.Event()
        self.stopped = False
        self.mismatch: dict[str, Any] = {}

    async def run(self) -> None:
        attempt = 0
        while not self.stopped:
            try:
                async with websockets.connect(
                    self.url, origin=ORIGIN, additional_headers={"Cookie": f"sessionid={self.cookie}"}, max_size=None
                ) as ws:
                    self.connects.append(time.monotonic())
                    attempt = 0
                    async for raw in ws:
                        message = json.loads(raw)
                        if message["type"] == "aggregate":
                            self.latest = message
                            self.received.append(time.monotonic())
                            self.changed.set()
                            await ws.send('{"type":"seen"}')
            except (OSError, websockets.WebSocketException):
                pass
            if not self.stopped:
                await asyncio.sleep(backoff(attempt, self.rng, cap=2))  # dashboard.js reconnects at most 2 s apart
                attempt += 1

    def first_after(self, moment: float) -> float | None:
        return next((t for t in self.received if t > moment), None)

    async def matches(self, truth: dict[str, list[int]], timeout: float = 10) -> bool:
        """Whether the newest aggregate shows exactly these values per slider, now or within the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if self.latest is not None and shows(self.latest, truth):
                return True

            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), deadline - time.monotonic())
            except TimeoutError:
                self.mismatch = {
                    s["key"]: (s["n"], s["median"], len(truth.get(s["key"], [])), sorted(truth.get(s["key"], [])))
                    for s in (self.latest or {}).get("sliders", [])
                }
                return False


def shows(message: dict[str, Any], truth: dict[str, list[int]]) -> bool:
    import statistics

    for s in message["sliders"]:
        values = truth.get(s["key"], [])
        if s["n"] != len(values) or (values and s["median"] != statistics.median(values)):
            return False
    return True


def truth_of(phones: list[Phone]) -> dict[str, list[int]]:
    truth: dict[str, list[int]] = {}
    for phone in phones:
        for slider, value in phone.acked.items():
            truth.setdefault(slider, []).append(value)
    return truth


def lost_values(phones: list[Phone], database_url: str, code: str) -> int:
    """Acknowledged values that the database does not hold."""
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as conn:
        stored = {(t, s): v for t, s, v in conn.execute(POSITIONS_SQL, (code,))}
    return sum(1 for p in phones for s, v in p.acked.items() if stored.get((p.token_hash, s)) != v)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


class RedisServer:
    """A Redis of the test's own, so that it can be restarted and stalled (DEBUG SLEEP)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--bind", "127.0.0.1", "--port", str(self.port)),
                *("--save", "", "--appendonly", "no", "--enable-debug-command", "yes"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            raise RuntimeError("redis-server did not start")
        threading.Thread(target=self.process.stdout.read, daemon=True).start()  # keep the pipe drained

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def stall(self, seconds: float) -> None:
        import redis

        redis.Redis(port=self.port, socket_timeout=seconds + 10).execute_command("DEBUG", "SLEEP", seconds)


class CuttableLink:
    """A TCP link to a server that the test can cut: open connections are reset and new ones refused."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self._call(self._listen())

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.transport.abort()
                self.writers.discard(sink)

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    def cut(self) -> None:
        async def cut() -> None:
            assert self.server is not None
            self.server.close()
            for writer in list(self.writers):
                writer.transport.abort()
            self.writers.clear()

        self._call(cut())

    def restore(self) -> None:
        self._call(self._listen())

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)


async def _hold_phones(url: str, count: int, tokens: Path) -> None:
    """Phones that join (as the same participants every time), commit a value, say so, then only hold."""
    known = tokens.read_text().split() if tokens.exists() else [None] * count

    async def join(i: int, token: str | None) -> tuple[Any, str]:
        ws = await websockets.connect(url, origin=ORIGIN, max_queue=None)
        await ws.send(json.dumps({"type": "hello", "token": token}))
        welcome = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "set", "slider": SLIDERS[i % 5], "value": i % 101, "seq": 1}))
        await ws.recv()
        return ws, welcome["token"]

    joined = []
    for start in range(0, count, 50):
        joined += await asyncio.gather(*(join(i, known[i]) for i in range(start, min(count, start + 50))))
    tokens.write_text("\n".join(token for _, token in joined))
    print("ready", flush=True)
    await asyncio.Event().wait()


async def _watch(url: str, cookie: str) -> None:
    """A dashboard that prints one line per aggregate: when, participants connected, regie's median."""
    async with websockets.connect(url, origin=ORIGIN, additional_headers={"Cookie": f"sessionid={cookie}"}) as ws:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "aggregate":
                regie = next(s for s in message["sliders"] if s["key"] == "regie")
                print(time.time(), message["connected"], regie["median"], flush=True)
                await ws.send('{"type":"seen"}')


if __name__ == "__main__":
    # A separate process, so that the test can stop it (SIGSTOP) or drop it (SIGKILL) like a phone.
    import sys

    if sys.argv[1] == "phones":
        asyncio.run(_hold_phones(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])))
    else:
        asyncio.run(_watch(sys.argv[2], sys.argv[3]))
