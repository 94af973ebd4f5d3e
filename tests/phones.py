"""The one phone simulator, shared by the fault suite and the load benchmark (bench/harness.py),
and a dashboard that behaves like the facilitator's page.

The phones follow static/workshop/phone/ (timings: workshop/page_constants.py): hello with
the token they were given, `move` while dragging, `set` with a sequence number when the finger lifts, an `ack` per
stored value; after every welcome they resend what is unacknowledged, and again 2-4 s
after a `not_stored`; they reconnect with backoff and jitter. The dashboards follow
dashboard.js: confirm every aggregate with `seen`, reconnect at most 2 s apart.

Run as `python -m tests.phones phones|watch ...`, so that a test can stop (SIGSTOP) or
drop (SIGKILL) a fleet of phones or a dashboard like a real device.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import websockets

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EXERCISE = ROOT / "workshop" / "data" / "wijkgericht-werken.json"
# Read from the exercise rather than copied, so that a renamed slider fails loudly here.
SLIDERS: list[str] = [s["key"] for s in json.loads(DEFAULT_EXERCISE.read_text())["sliders"]]
ORIGIN = "http://127.0.0.1"


POSITIONS_SQL = """
SELECT p.token_hash, s.key, pos.value FROM workshop_position pos
JOIN workshop_participant p ON p.id = pos.participant_id
JOIN workshop_session ses ON ses.id = p.session_id
JOIN workshop_slider s ON s.id = pos.slider_id
WHERE ses.code = %s AND pos.round = 1
"""


def backoff(attempt: int, rng: random.Random, *, cap: float) -> float:
    """static/workshop/live/backoff.js: half the base plus up to half again, the base doubling from 0.5 s to the cap."""
    base = min(cap, 0.5 * 2**attempt)
    return base / 2 + rng.random() * base / 2


class Phone:
    """One participant's page on one socket."""

    def __init__(self, url: str, rng: random.Random | None = None, *, open_timeout: float = 5, **options: Any) -> None:
        self.url, self.rng = url, rng or random.Random()
        self.open_timeout = open_timeout
        self.options = {"origin": ORIGIN, "open_timeout": open_timeout, **options}
        self.token: str | None = None
        self.seq = 0
        self.last: dict[str, int] = {}  # slider -> where the finger is
        self.unacked: dict[str, tuple[int, int]] = {}  # slider -> (seq, value); the newest set per slider
        self.acked: dict[str, int] = {}
        self.settled = asyncio.Event()  # set whenever nothing is unacknowledged
        self.settled.set()
        self.welcomes: list[float] = []
        self.not_stored = 0
        self.ack_times: list[float] = []
        self.ws: Any = None

    @property
    def token_hash(self) -> str:
        assert self.token is not None
        return hashlib.sha256(self.token.encode()).hexdigest()

    async def join(self) -> float:
        """One attempt: open, hello (as the same participant after the first welcome), welcome, resend.

        Returns the seconds it took; raises when the server is not there or does not welcome.
        """
        started = time.perf_counter()
        self.ws = await websockets.connect(self.url, **self.options)
        await self.ws.send(json.dumps({"type": "hello", "token": self.token}))
        welcome = json.loads(await asyncio.wait_for(self.ws.recv(), self.open_timeout * 2))
        if welcome["type"] != "welcome":
            raise ConnectionError(welcome)
        self.token = welcome["token"]
        self.welcomes.append(time.monotonic())
        await self.resend()
        return time.perf_counter() - started

    async def connect(self) -> None:
        """Join, and keep trying with the page's backoff until it works."""
        attempt = 0
        while True:
            try:
                await self.join()
                return
            except (TimeoutError, OSError, ConnectionError, websockets.WebSocketException):
                if self.ws is not None:
                    await self.ws.close()
                await asyncio.sleep(backoff(attempt, self.rng, cap=30))
                attempt += 1

    async def resend(self) -> None:
        for slider, (seq, value) in list(self.unacked.items()):
            await self._send_set(slider, value, seq)

    async def move(self, slider: str, value: int) -> None:
        self.last[slider] = value
        # Formatted by hand: the benchmark sends thousands a second from one core.
        await self.ws.send(f'{{"type":"move","slider":"{slider}","value":{value}}}')

    async def set(self, slider: str, value: int | None = None) -> None:
        """The finger lifts: commit `value` (by default where the finger is) under a new sequence number."""
        value = self.last[slider] if value is None else value
        await self._send_set(slider, value, self._outstanding(slider, value))

    def _outstanding(self, slider: str, value: int) -> int:
        self.last[slider] = value
        self.seq += 1
        self.unacked[slider] = (self.seq, value)
        self.settled.clear()
        return self.seq

    async def _send_set(self, slider: str, value: int, seq: int) -> None:
        await self.ws.send(f'{{"type":"set","slider":"{slider}","value":{value},"seq":{seq}}}')

    def receive(self, message: dict[str, Any]) -> bool:
        """Ack bookkeeping for one message from the server; whether it acknowledged an outstanding set."""
        if message.get("type") == "ack":
            self.ack_times.append(time.monotonic())
            for slider, (seq, value) in list(self.unacked.items()):
                if seq == message["seq"]:
                    del self.unacked[slider]
                    self.acked[slider] = value
                    if not self.unacked:
                        self.settled.set()
                    return True
        elif message.get("type") == "error" and message.get("code") == "not_stored":
            self.not_stored += 1
        return False

    async def listen(self) -> None:
        """Read until the socket closes (the benchmark's phones: no faults, no reconnect)."""
        try:
            async for raw in self.ws:
                self.receive(json.loads(raw))
        except websockets.ConnectionClosed:
            pass

    async def drag_and_set(self, slider: str, value: int) -> None:
        # The finger lands on `value` whatever the connection does meanwhile: the value is
        # outstanding from the first move, so a drag cut short by a reconnect is committed
        # by the resend after the welcome (and the live value it left behind is replaced).
        start = self.acked.get(slider, 50)
        seq = self._outstanding(slider, value)
        for step in (1, 2, 3):
            await self.ws.send(f'{{"type":"move","slider":"{slider}","value":{start + (value - start) * step // 4}}}')
            await asyncio.sleep(0.1)  # a finger's pace: ten moves a second, as the page throttles them
        await self._send_set(slider, value, seq)

    async def run(self, sets: int, progress: Any = None, *, connect: bool = True, think: float = 0) -> None:
        """Commit `sets` values one after another, riding out whatever the server does, until all are acked.

        `think`: on average this many seconds between an acknowledged value and the next drag, as a
        person reads and thinks (0: back to back, a load no room produces).
        """
        if connect:
            await self.connect()
        sent = 0
        retry_at: float | None = None
        while sent < sets or self.unacked:
            try:
                if sent < sets and not self.unacked:
                    if think and sent:
                        await asyncio.sleep(think * (0.5 + self.rng.random()))  # a person's pace, not a wait
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
                retry_at = None
                await self.connect()


class Dashboard:
    """The facilitator's page: keeps the newest aggregate and when it came."""

    def __init__(self, url: str, cookie: str, rng: random.Random, *, origin: str = ORIGIN) -> None:
        self.url, self.cookie, self.rng, self.origin = url, cookie, rng, origin
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
                cookie = {"Cookie": f"sessionid={self.cookie}"}
                async with websockets.connect(
                    self.url, origin=self.origin, additional_headers=cookie, max_size=None
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


# Phones on the HTTP fallback (workshop/fallback.py): the same messages over plain HTTP.


class Http:
    """A minimal HTTP/1.1 client on one kept-alive connection (the standard library has no async one)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, path: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST"
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        await self._send(path, body, headers, method)
        status, length, chunked = await self._head()
        assert self.reader is not None
        if not chunked:
            return status, await self.reader.readexactly(length)
        body_parts = []
        while (size := int((await self.reader.readline()).strip(), 16)) != 0:
            body_parts.append((await self.reader.readexactly(size + 2))[:-2])
        await self.reader.readline()
        return status, b"".join(body_parts)

    async def stream(self, path: str, body: bytes):
        """POST, then yield each server-sent event's message as it arrives."""
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        await self._send(path, body, None)
        status, _length, chunked = await self._head()
        assert status == 200 and chunked, status
        buffer = ""
        while True:
            size = int((await self.reader.readline()).strip(), 16)
            if size == 0:
                return
            buffer += (await self.reader.readexactly(size + 2))[:-2].decode()
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                if block.startswith("data: "):
                    yield json.loads(block[6:])

    async def _send(self, path: str, body: bytes, headers: dict[str, str] | None, method: str = "POST") -> None:
        assert self.writer is not None
        headers = {"Content-Type": "application/json", **(headers or {})}
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()

    async def _head(self) -> tuple[int, int, bool]:
        assert self.reader is not None
        # The whole head at once: a line at a time cost the benchmark's generator a loop turn per header.
        status_line, *lines = (await self.reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        status = int(status_line.split()[1])
        length, chunked = 0, False
        self.cookies: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            name = name.lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "set-cookie":
                key, _, rest = value.strip().partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return status, length, chunked


async def control(port: int, code: str, cookie: str, action: str) -> None:
    """A facilitator's button on the control panel: the page's CSRF token, then the htmx POST."""
    panel = Http(port)
    status, _page = await panel.request(f"/f/s/{code}/", b"", {"Cookie": f"sessionid={cookie}"}, method="GET")
    assert status == 200, status
    token = panel.cookies["csrftoken"]
    headers = {
        "Cookie": f"sessionid={cookie}; csrftoken={token}",
        "X-CSRFToken": token,
        "HX-Request": "true",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    status, _answer = await panel.request(f"/f/s/{code}/do/{action}/", b"confirm=", headers)
    assert status == 200, status


class HttpPhone:
    def __init__(self, port: int, code: str) -> None:
        self.port, self.code = port, code
        self.stream = Http(port)
        self.sender = Http(port)
        self.token: str | None = None
        self.welcomed = asyncio.Event()
        self.states: list[tuple[float, dict[str, Any]]] = []
        self.seq = 0
        self.last: dict[str, int] = {}

    async def listen(self) -> None:
        hello = json.dumps({"type": "hello", "token": None}).encode()
        async for message in self.stream.stream(f"/p/{self.code}/stream/", hello):
            if message["type"] == "welcome":
                self.token = message["token"]
                self.welcomed.set()
            elif message["type"] == "state":
                self.states.append((time.monotonic(), message))

    async def send(self, *messages: dict[str, Any]) -> list[dict[str, Any]]:
        body = json.dumps({"token": self.token, "messages": list(messages)}).encode()
        status, raw = await self.sender.request(f"/p/{self.code}/send/", body)
        assert status == 200, (status, raw[:200])
        return json.loads(raw)["replies"]

    async def set(self, slider: str, value: int) -> None:
        self.seq += 1
        replies = await self.send(
            {"type": "move", "slider": slider, "value": value},
            {"type": "set", "slider": slider, "value": value, "seq": self.seq},
        )
        assert replies and replies[-1]["type"] == "ack", replies
        self.last[slider] = value


def shows(message: dict[str, Any], truth: dict[str, list[int]]) -> bool:
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


async def _hold_phones(url: str, count: int, tokens: Path) -> None:
    """Phones that join (as the same participants every time), commit a value, say so, then only hold."""
    known = tokens.read_text().split() if tokens.exists() else [None] * count

    async def join(i: int, token: str | None) -> Phone:
        phone = Phone(url, max_queue=None)
        phone.token = token
        await phone.join()
        await phone.set(SLIDERS[i % len(SLIDERS)], i % 101)
        phone.receive(json.loads(await phone.ws.recv()))
        return phone

    joined: list[Phone] = []
    for start in range(0, count, 50):
        joined += await asyncio.gather(*(join(i, known[i]) for i in range(start, min(count, start + 50))))
    tokens.write_text("\n".join(str(phone.token) for phone in joined))
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
    import sys

    if sys.argv[1] == "phones":
        asyncio.run(_hold_phones(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])))
    else:
        asyncio.run(_watch(sys.argv[2], sys.argv[3]))
