"""The HTTP fallback under load: N phones on plain HTTP (an event stream each, POSTs for their
messages) against one daphne, and a dashboard on its websocket. Prints one JSON line.

Measured: the lag from a probe phone's `move` POST to the first dashboard aggregate that shows
it (p50/p95/p99), the lag from a facilitator's phase change to every phone's `state` on its
stream (p95, max), and exactness: the dashboard's final numbers equal every phone's last set.

    python bench/fallback.py --phones 50 --seconds 20

With `--drag`: the websocket benchmark's own load (bench/harness.py, d = 1) over HTTP instead. N phones,
each dragging one slider at 10 Hz for the whole run, as the page's HTTP transport sends it
(static/workshop/live/http-transport.js): one POST out at a time on a kept-alive connection, the moves
queued meanwhile folded to the newest per slider; and a probe phone moving its own slider at 10 Hz.
Measured like the harness: from the probe's move to the first dashboard aggregate whose median is
that value (server on core 0, this generator on core 1, 3 s warm-up, then the measured seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets

from tests.phones import SLIDERS, Dashboard, Http, HttpPhone, control
from tests.servers import SESSION_SETUP, Daphne, local_env, manage


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    env = local_env(
        **({"DATABASE_URL": args.database_url} if args.database_url else {}),
        **({"REDIS_URL": args.redis_url} if args.redis_url else {}),
    )
    manage("migrate", "--noinput", env=env)
    code, cookie = manage("shell", "-c", SESSION_SETUP, env=env).split()[-2:]
    server = Daphne(env)
    rng = random.Random(16)
    try:
        dashboard = Dashboard(f"{server.ws_url}/ws/d/{code}/", cookie, rng)
        watching = asyncio.create_task(dashboard.run())
        phones = [HttpPhone(server.port, code) for _ in range(args.phones)]
        listening = [asyncio.create_task(p.listen()) for p in phones]
        await asyncio.wait_for(asyncio.gather(*(p.welcomed.wait() for p in phones)), 60)
        probe, crowd = phones[0], phones[1:]
        lags: list[float] = []
        deadline = time.monotonic() + args.seconds

        async def drag(phone: HttpPhone) -> None:
            while time.monotonic() < deadline:
                await phone.set(rng.choice(SLIDERS), rng.randint(0, 100))
                await asyncio.sleep(rng.uniform(0.5, 1.5))  # a person's pace between two values

        crowd_task = asyncio.gather(*(drag(p) for p in crowd))
        while time.monotonic() < deadline:
            # A value nobody else uses, so the aggregate that shows it is unmistakable.
            value = rng.randint(0, 100)
            slider = "horizon"
            before = {s["key"]: (s["n"], s["median"]) for s in (dashboard.latest or {}).get("sliders", [])}
            sent = time.monotonic()
            await probe.set(slider, value)
            for _ in range(200):
                await dashboard.changed.wait()
                dashboard.changed.clear()
                latest = {s["key"]: (s["n"], s["median"]) for s in dashboard.latest["sliders"]}
                if dashboard.received[-1] > sent and latest != before:
                    lags.append(dashboard.received[-1] - sent)
                    break
            await asyncio.sleep(0.5)
        await crowd_task
        truth = {s: [p.last[s] for p in phones if s in p.last] for s in SLIDERS}
        exact = await dashboard.matches(truth, timeout=10)
        # A phase change by the facilitator: every phone's stream carries the new state.
        marks = [len(p.states) for p in phones]
        changed = time.monotonic()
        await control(server.port, code, cookie, "discussion")
        answered = time.monotonic()
        for phone, mark in zip(phones, marks, strict=True):
            while len(phone.states) <= mark:
                await asyncio.sleep(0.02)  # polling our own list; the phones' streams fill it
        phase = [phone.states[mark][0] - changed for phone, mark in zip(phones, marks, strict=True)]
        dashboard.stopped = True
        for task in [watching, *listening]:
            task.cancel()
        return {
            "label": args.label,
            "phones": args.phones,
            "seconds": args.seconds,
            "probe_samples": len(lags),
            "lag_ms_p50": round(statistics.median(lags) * 1000),
            "lag_ms_p95": round(percentile(lags, 0.95) * 1000),
            "lag_ms_p99": round(percentile(lags, 0.99) * 1000),
            "phase_ms_p95": round(percentile(phase, 0.95) * 1000),
            "phase_ms_max": round(max(phase) * 1000),
            "phase_post_ms": round((answered - changed) * 1000),
            "exact": exact,
        }
    finally:
        server.stop()


class PagePhone:
    """One phone on the fallback as the page drives it: an event stream, and its messages POSTed one
    request at a time, with a queued move replaced by a newer one of the same slider."""

    def __init__(self, port: int, code: str) -> None:
        self.code = code
        self.stream, self.sender = Http(port), Http(port)
        self.token: str | None = None
        self.welcomed = asyncio.Event()
        self.queue: list[dict[str, Any]] = []
        self.sending: asyncio.Task[None] | None = None
        self.last: dict[str, int] = {}
        self.acked: dict[str, int] = {}
        self.seq = 0
        self.unacked: dict[int, tuple[str, int]] = {}
        self.settled = asyncio.Event()
        self.posts = 0
        self.post_times: list[float] = []

    async def listen(self) -> None:
        hello = json.dumps({"type": "hello", "token": None}).encode()
        async for message in self.stream.stream(f"/p/{self.code}/stream/", hello):
            if message["type"] == "welcome":
                self.token = message["token"]
                self.welcomed.set()

    def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "move":
            self.queue = [m for m in self.queue if not (m["type"] == "move" and m["slider"] == message["slider"])]
        self.queue.append(message)
        if self.sending is None:
            self.sending = asyncio.get_running_loop().create_task(self._flush())

    def move(self, slider: str, value: int) -> None:
        self.last[slider] = value
        self.send({"type": "move", "slider": slider, "value": value})

    def set_all(self) -> None:
        """Every finger lifts: what each slider shows is committed."""
        for slider, value in self.last.items():
            self.seq += 1
            self.unacked[self.seq] = (slider, value)
            self.send({"type": "set", "slider": slider, "value": value, "seq": self.seq})
        if not self.unacked:
            self.settled.set()

    async def _flush(self) -> None:
        while self.queue:
            batch, self.queue = self.queue[:50], self.queue[50:]
            body = json.dumps({"token": self.token, "messages": batch}).encode()
            sent = time.monotonic()
            status, raw = await self.sender.request(f"/p/{self.code}/send/", body)
            self.post_times.append(time.monotonic() - sent)
            assert status == 200, (status, raw[:200])
            self.posts += 1
            for reply in json.loads(raw)["replies"]:
                if reply["type"] == "ack" and reply["seq"] in self.unacked:
                    slider, value = self.unacked.pop(reply["seq"])
                    self.acked[slider] = value
                    if not self.unacked:
                        self.settled.set()
        self.sending = None


async def drag(args: argparse.Namespace) -> dict[str, Any]:
    """500 phones dragging over HTTP, measured as the websocket harness measures its phones."""
    import psutil

    from bench.harness import (
        DRAG_SLIDERS,
        GENERATOR_CORE,
        PROBE_SLIDER,
        SERVER_CORE,
        converges,
        pin,
        sleep_until,
    )
    from bench.harness import percentile as at
    from workshop.stats import summarize

    loop = asyncio.get_running_loop()
    pin(0, GENERATOR_CORE)
    workdir = Path(tempfile.mkdtemp(prefix="schuif-fallback-"))
    env = local_env(
        SECRET_KEY="bench-" + "x" * 50,
        LOG_LEVEL="WARNING",
        CONNECTED_TTL_S="600",
        SQLITE_PATH=str(workdir / "db.sqlite3"),
        FALLBACK_STREAMS_PER_ADDRESS=str(args.phones + 10),  # every phone of the run comes from 127.0.0.1
    )
    manage("migrate", "--noinput", "-v", "0", env=env, timeout=300)
    code, cookie = manage("shell", "-c", SESSION_SETUP, env=env, timeout=300).split()[-2:]
    server = Daphne(env, core=SERVER_CORE)
    ps = psutil.Process(server.process.pid)
    rng = random.Random(42)
    aggregates: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
    latest: dict[str, Any] = {}
    try:
        dashboard = await websockets.connect(
            f"{server.ws_url}/ws/d/{code}/",
            origin="http://127.0.0.1",
            additional_headers={"Cookie": f"sessionid={cookie}"},
            max_queue=None,
            max_size=None,
        )

        async def read_dashboard() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in dashboard:
                    message = json.loads(raw)
                    if message.get("type") == "aggregate":
                        latest["aggregate"] = message
                        await aggregates.put((loop.time(), message))
                        await dashboard.send('{"type":"seen"}')

        readers = [asyncio.create_task(read_dashboard())]
        base_rss = ps.memory_info().rss
        phones = [PagePhone(server.port, code) for _ in range(args.phones)]
        probe = PagePhone(server.port, code)
        opened = time.monotonic()
        for start in range(0, len(phones) + 1, 100):
            batch = [*phones, probe][start : start + 100]
            readers += [asyncio.create_task(p.listen()) for p in batch]
            await asyncio.wait_for(asyncio.gather(*(p.welcomed.wait() for p in batch)), 120)
        welcome_seconds = time.monotonic() - opened
        await asyncio.sleep(1)  # let the server settle before reading its memory
        per_stream_kb = (ps.memory_info().rss - base_rss) / (args.phones + 1) / 1024

        interval = 0.1
        start = loop.time() + 0.5
        measure_from = start + 3.0
        stop = measure_from + args.seconds
        send_lags: list[float] = []
        probe_sent: dict[int, float] = {}
        lags: list[float] = []
        offered = {"moves": 0}

        async def drive_phone(phone: PagePhone) -> None:
            t = start + rng.random() * interval
            slider = rng.choice(DRAG_SLIDERS)
            while t < stop:
                await sleep_until(loop, t)
                if t >= measure_from:
                    send_lags.append(loop.time() - t)
                    offered["moves"] += 1
                phone.move(slider, max(0, min(100, phone.last.get(slider, rng.randint(0, 100)) + rng.randint(-6, 6))))
                t += interval

        async def drive_probe() -> None:
            t, value = start, 0
            while t < stop:
                await sleep_until(loop, t)
                value = (value + 37) % 101
                if t >= measure_from:
                    probe_sent[value] = loop.time()
                    offered["moves"] += 1
                probe.move(PROBE_SLIDER, value)
                t += interval

        async def watch() -> None:
            while True:
                received, message = await aggregates.get()
                median = next(s["median"] for s in message["sliders"] if s["key"] == PROBE_SLIDER)
                if median is not None and int(median) in probe_sent:
                    sent = probe_sent.pop(int(median))
                    lags.append(received - sent)
                    for value, at_time in list(probe_sent.items()):
                        if at_time < sent:
                            del probe_sent[value]  # overtaken before a dashboard saw it (or folded on the phone)

        watcher = asyncio.create_task(watch())
        me = psutil.Process()

        async def window() -> tuple[Any, Any, float, int]:
            await sleep_until(loop, measure_from)
            return ps.cpu_times(), me.cpu_times(), loop.time(), sum(p.posts for p in [*phones, probe])

        marks, *_ = await asyncio.gather(window(), drive_probe(), *(drive_phone(p) for p in phones))
        cpu_before, my_before, wall_before, posts_before = marks
        wall = loop.time() - wall_before
        cpu, mine = ps.cpu_times(), me.cpu_times()
        server_cpu = (cpu.user + cpu.system) - (cpu_before.user + cpu_before.system)
        my_cpu = (mine.user + mine.system) - (my_before.user + my_before.system)
        posts = sum(p.posts for p in [*phones, probe]) - posts_before
        post_times = [t for p in [*phones, probe] for t in p.post_times[len(p.post_times) // 4 :]]
        result: dict[str, Any] = {
            "label": args.label,
            "transport": "http",
            "phones": args.phones,
            "seconds": args.seconds,
            "welcome_s": round(welcome_seconds, 1),
            "rss_per_connection_kb": round(per_stream_kb, 1),
            "offered_msgs_per_s": round(offered["moves"] / wall, 1),
            "posts_per_s": round(posts / wall, 1),
            "post_ms_p50": round(1000 * (at(post_times, 50) or 0), 1),
            "post_ms_p95": round(1000 * (at(post_times, 95) or 0), 1),
            "server_cpu_pct": round(100 * server_cpu / wall, 1),
            "server_cpu_ms_per_post": round(1000 * server_cpu / max(1, posts), 4),
            "server_rss_mb": round(ps.memory_info().rss / 2**20, 1),
            "generator_cpu_pct": round(100 * my_cpu / wall, 1),
            "send_lag_p99_ms": round(1000 * (at(send_lags, 99) or 0), 1),
            "probe_samples": len(lags),
            "lag_ms_p50": round(1000 * (at(lags, 50) or 0), 1),
            "lag_ms_p95": round(1000 * (at(lags, 95) or 0), 1),
            "lag_ms_p99": round(1000 * (at(lags, 99) or 0), 1),
            "lag_ms_max": round(1000 * max(lags, default=0), 1),
        }
        reasons = []
        if result["generator_cpu_pct"] > 85:
            reasons.append("generator over 85% CPU")
        if result["send_lag_p99_ms"] > 20:
            reasons.append("generator send lag p99 over 20 ms")
        result["valid"], result["invalid_because"] = not reasons, reasons
        # Every finger lifts: each phone commits where its sliders are; the dashboard must then show exactly that.
        everyone = [*phones, probe]
        for phone in everyone:
            phone.set_all()
        await asyncio.wait_for(asyncio.gather(*(p.settled.wait() for p in everyone)), 180)
        truth = {key: summarize([p.last[key] for p in everyone if key in p.last]).as_dict() for key in SLIDERS}
        watcher.cancel()
        result["exact"] = await converges(aggregates, latest, truth, loop)
        result["lost_acks"] = lost_acks(workdir / "db.sqlite3", everyone)
        await dashboard.close()
        for task in readers:
            task.cancel()
        result["server_tracebacks"] = server.tracebacks
        return result
    finally:
        server.stop()


def lost_acks(database: Path, phones: list[PagePhone]) -> int:
    """Acknowledged values the database does not hold (tokens as the server hashes them)."""
    import hashlib
    import sqlite3

    from bench.harness import SQL_POSITIONS

    stored = {(t, s): v for t, s, v in sqlite3.connect(database).execute(SQL_POSITIONS)}
    return sum(
        1
        for p in phones
        for slider, value in p.acked.items()
        if stored.get((hashlib.sha256(str(p.token).encode()).hexdigest(), slider)) != value
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--label", default="fallback")
    parser.add_argument("--drag", action="store_true", help="every phone dragging at 10 Hz, as bench/harness.py")
    args = parser.parse_args()
    try:
        # The generator runs on uvloop, as bench/harness.py's does: at 3,000+ responses a second the
        # default loop fell behind its own schedule (send lag p99 over 20 ms) with its core half idle.
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(drag(args) if args.drag else run(args))))


if __name__ == "__main__":
    main()
