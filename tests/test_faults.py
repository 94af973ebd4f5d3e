"""The fault suite: crash, stop, cut and stall what the server stands on while a fleet of phones works.

Each scenario runs a real daphne on PostgreSQL and a Redis of the test's own,
with 30 phones that follow the page's client logic (tests/phones.py) and a
dashboard. Afterwards the database holds every acknowledged value and the
dashboard shows exactly the phones' last acknowledged values.

CI runs the long versions; to try a change quickly, shorten them from the environment:
FAULT_OUTAGE_SECONDS (PostgreSQL away, default 30) and FAULT_CYCLES (drop and
half-open cycles, default 8, even, at least 6).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import psutil
import pytest
import websockets

from tests.conftest import need, port_open
from tests.phones import ORIGIN, Dashboard, Phone, lost_values, p99, truth_of
from tests.servers import ROOT, SESSION_SETUP, CuttableLink, Daphne, RedisServer, base_env, manage
from workshop.consumers import UNSEEN_LIMIT
from workshop.websocket import CLOSE_POLICY, CLOSE_TOO_BIG

pytestmark = [pytest.mark.faults, pytest.mark.services]


def env_int(name: str, default: int, *, minimum: int) -> int:
    value = int(os.environ.get(name, default))
    if value < minimum:
        raise ValueError(f"{name}={value}: at least {minimum}")
    return value


PHONES = 30
SETS_PER_PHONE = 10
DATABASE = "schuif_faults"
PG_OUTAGE_SECONDS = env_int("FAULT_OUTAGE_SECONDS", 30, minimum=3)
HELD_PHONES = 200
WARM_UP_CYCLES = 4  # two of each kind
# Each measured cycle of each kind is compared with that kind's warm-up: at least two more of each,
# so that a leak of one object per connection shows as 400 objects by the second.
CYCLES = env_int("FAULT_CYCLES", 8, minimum=WARM_UP_CYCLES + 4)
# What a cycle may end with above its kind's warm-up. Some runs keep up to about 200 dead weak
# references once, after one cycle past the warm-up (111-194 seen; they never grow in later cycles);
# a leak of one object per connection is 400 by the second measured cycle of its kind.
EXTRA_OBJECTS = 250
if CYCLES % 2:
    raise ValueError(f"FAULT_CYCLES={CYCLES}: an even number, as many drops as stops")
DRAGGING_PHONES = 20
DASHBOARD_STOP_SECONDS = 8


@dataclass
class Rig:
    redis: RedisServer
    link: CuttableLink
    env: dict[str, str]
    database_url: str
    code: str
    cookie: str
    server: Daphne
    servers: list[Daphne] = field(default_factory=list)

    def restart(self) -> None:
        self.server = Daphne(self.env, port=self.server.port)
        self.servers.append(self.server)

    @property
    def tracebacks(self) -> int:
        return sum(s.tracebacks for s in self.servers)

    @property
    def warnings(self) -> int:
        return sum(1 for s in self.servers for line in s.output if " WARNING " in line)


@pytest.fixture
def rig():
    need(shutil.which("redis-server") is not None, "redis-server is not installed")
    need(port_open("127.0.0.1", 5432), "PostgreSQL is not running on 127.0.0.1:5432")
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            conn.execute(f"CREATE DATABASE {DATABASE}")
    redis = RedisServer()
    link = CuttableLink(5432)
    direct = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
    env = base_env(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{link.port}/{DATABASE}",
        REDIS_URL=redis.url,
        SECRET_KEY="faults-" + "x" * 50,
    )
    manage("migrate", "--noinput", env={**env, "DATABASE_URL": direct})
    code, cookie = manage("shell", "-c", SESSION_SETUP, env={**env, "DATABASE_URL": direct}).split()[-2:]
    server = Daphne(env)
    rig = Rig(redis=redis, link=link, env=env, database_url=direct, code=code, cookie=cookie, server=server)
    rig.servers.append(server)
    try:
        yield rig
    finally:
        rig.server.stop()
        link.close()
        redis.stop()
        if artifacts := os.environ.get("ARTIFACTS_DIR"):
            # What daphne logged, for a failure in CI: one file per scenario.
            path = Path(artifacts) / f"faults-{code}.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(line for server in rig.servers for line in server.output))


@dataclass
class Outcome:
    phones: list[Phone]
    dashboard: Dashboard
    fault_at: float
    back_at: float
    exact: bool
    lost: int

    @property
    def acked(self) -> int:
        return sum(len(p.acked) for p in self.phones)

    def reconnected(self) -> list[float]:
        return [
            next(t for t in p.welcomes if t > self.fault_at) - self.fault_at for p in self.phones if self.came_back(p)
        ]

    def came_back(self, phone: Phone) -> bool:
        return any(t > self.fault_at for t in phone.welcomes)


Fault = Callable[[Rig, Dashboard, list[Phone]], Awaitable[Any]]


def run(rig: Rig, fault: Fault) -> Outcome:
    """Phones work; once some values are acknowledged the fault strikes; then everyone finishes."""

    async def scenario() -> Outcome:
        rng = random.Random(6)
        url = f"{rig.server.ws_url}/ws/p/{rig.code}/"
        phones = [Phone(url, random.Random(rng.random())) for _ in range(PHONES)]
        dashboard = Dashboard(f"{rig.server.ws_url}/ws/d/{rig.code}/", rig.cookie, random.Random(rng.random()))
        dashboard_task = asyncio.create_task(dashboard.run())
        enough = asyncio.Event()

        def progress() -> None:
            if sum(len(p.acked) for p in phones) >= PHONES * 2:
                enough.set()

        tasks = [asyncio.create_task(p.run(SETS_PER_PHONE, progress)) for p in phones]
        await enough.wait()  # the fault comes once values have been acknowledged
        fault_at = time.monotonic()
        extra_phones = await fault(rig, dashboard, phones) or []
        back_at = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*tasks), 180)
        everyone = phones + extra_phones
        exact = await dashboard.matches(truth_of(everyone))
        dashboard.stopped = True
        dashboard_task.cancel()
        lost = await asyncio.to_thread(lost_values, everyone, rig.database_url, rig.code)
        return Outcome(everyone, dashboard, fault_at, back_at, exact, lost)

    return asyncio.run(scenario())


async def kill_9(rig: Rig, dashboard: Dashboard, phones: list[Phone]) -> None:
    rig.server.kill()
    await asyncio.to_thread(rig.restart)


async def sigterm(rig: Rig, dashboard: Dashboard, phones: list[Phone]) -> None:
    await asyncio.to_thread(rig.server.stop)
    await asyncio.to_thread(rig.restart)


@pytest.mark.parametrize(("fault", "name"), [(kill_9, "kill -9"), (sigterm, "SIGTERM")], ids=["kill-9", "sigterm"])
def test_a_server_killed_or_restarted_mid_session_loses_nothing(rig, figure, fault, name):
    # A value is acknowledged only once it is in the database and the live store, so
    # even a graceful restart cannot leave one half-applied: the dashboard is exact.
    outcome = run(rig, fault)
    back = outcome.reconnected()
    figure(
        f"fault {name}: {len(back)}/{PHONES} phones back by themselves, p99 {p99(back):.1f} s; "
        f"{outcome.acked} acknowledged values, {outcome.lost} lost; dashboard exact: {outcome.exact}; "
        f"tracebacks {rig.tracebacks}"
    )
    assert len(back) == PHONES
    assert p99(back) <= 10
    assert outcome.lost == 0
    assert outcome.exact, outcome.dashboard.mismatch
    assert rig.tracebacks == 0


async def redis_restart(rig: Rig, dashboard: Dashboard, phones: list[Phone]) -> None:
    await asyncio.to_thread(rig.redis.stop)
    await asyncio.sleep(1)  # Redis stays away for a second
    await asyncio.to_thread(rig.redis.start)


async def redis_stall(rig: Rig, dashboard: Dashboard, phones: list[Phone]) -> None:
    await asyncio.to_thread(rig.redis.stall, 3)


@pytest.mark.parametrize("fault", [redis_restart, redis_stall], ids=["restart", "stall"])
def test_redis_going_away_loses_nothing_and_dashboards_resume_within_3_s(rig, figure, fault):
    outcome = run(rig, fault)
    resumed = outcome.dashboard.first_after(outcome.back_at)
    resume = None if resumed is None else resumed - outcome.back_at
    figure(
        f"fault Redis {fault.__name__.removeprefix('redis_')}: dashboard resumed "
        f"{'never' if resume is None else f'{resume:.2f} s'} after Redis was back; "
        f"{outcome.acked} acknowledged values, {outcome.lost} lost; dashboard exact: {outcome.exact}; "
        f"daphne alive: {rig.server.process.poll() is None}, tracebacks {rig.tracebacks}"
    )
    assert rig.server.process.poll() is None  # no crash, so no crash loop
    assert rig.tracebacks == 0
    assert resume is not None and resume <= 3
    assert outcome.lost == 0
    assert outcome.exact, outcome.dashboard.mismatch


def test_postgresql_down_for_a_long_outage_keeps_dragging_live_and_acknowledges_only_durable_values(rig, figure):
    during: dict[str, int] = {}

    async def postgresql_down(rig: Rig, dashboard: Dashboard, phones: list[Phone]) -> list[Phone]:
        dragger = Phone(f"{rig.server.ws_url}/ws/p/{rig.code}/", random.Random(1))
        await dragger.connect()
        rig.link.cut()
        cut_at = time.monotonic()
        shown: set[tuple[int, ...]] = set()
        value = 5
        while time.monotonic() - cut_at < PG_OUTAGE_SECONDS:
            value = 100 - value
            await dragger.move("regie", value)
            await asyncio.sleep(0.5)  # the dragger's pace
            if dashboard.latest is not None:
                shown.add(tuple(next(s for s in dashboard.latest["sliders"] if s["key"] == "regie")["histogram"]))
        restored_at = time.monotonic()
        rig.link.restore()
        during["aggregates"] = sum(1 for t in dashboard.received if cut_at < t < restored_at)
        during["shown"] = len(shown)
        # A set already committed when the link went may still be acknowledged in the first moment.
        during["acks"] = sum(1 for p in phones for t in p.ack_times if cut_at + 1 < t < restored_at)
        await dragger.drag_and_set("regie", value)
        await dragger.run(0, connect=False)
        return [dragger]

    outcome = run(rig, postgresql_down)
    not_stored = sum(p.not_stored for p in outcome.phones)
    figure(
        f"fault PostgreSQL down {PG_OUTAGE_SECONDS} s: {during['aggregates']} dashboard updates during the outage "
        f"({during['shown']} different), {during['acks']} acknowledgements during it, {not_stored} sets answered "
        f"not_stored and resent; {outcome.acked} acknowledged values, {outcome.lost} lost; "
        f"dashboard exact: {outcome.exact}; tracebacks {rig.tracebacks}; {rig.warnings} warning lines"
    )
    # One warning per socket and reason, not one per refused set.
    assert rig.warnings < not_stored, rig.warnings
    # Live dragging went on: one move each half second, at least one update each 3 s on the dashboard.
    assert during["aggregates"] >= PG_OUTAGE_SECONDS / 3 and during["shown"] >= 2
    assert during["acks"] == 0
    assert not_stored > 0
    assert rig.tracebacks == 0
    assert outcome.lost == 0
    assert outcome.exact, outcome.dashboard.mismatch


class Process:
    """A fleet process of tests/phones.py whose printed lines arrive on a queue."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.phones", *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.put(line)

        threading.Thread(target=read, daemon=True).start()

    def next_line(self, timeout: float = 30) -> str:
        return self.lines.get(timeout=timeout)

    def drain(self) -> None:
        while not self.lines.empty():
            self.lines.get_nowait()

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def connected_reaches(watcher: Process, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        _, connected, _ = watcher.next_line(max(0.1, deadline - time.monotonic())).split()
        if int(connected) == count:
            return


@pytest.fixture
def embedded(tmp_path):
    env = base_env(SQLITE_PATH=str(tmp_path / "db.sqlite3"), SECRET_KEY="faults-" + "x" * 50, LOG_LEVEL="WARNING")
    manage("migrate", "--noinput", env=env)
    code, cookie = manage("shell", "-c", SESSION_SETUP, env=env).split()[-2:]
    return env, code, cookie


class Cycle(NamedTuple):
    mode: str  # "dropped" (process killed) or "half-open" (process stopped)
    peak: int  # server memory with the phones connected
    gone: float  # seconds until the dashboard no longer counted them as connected
    rss: int  # server memory afterwards
    objects: int  # live Python objects in the server afterwards


def test_dropped_and_half_open_phones_leave_no_ghosts_and_memory_returns_to_baseline(embedded, figure, tmp_path):
    env, code, cookie = embedded
    tokens = tmp_path / "tokens"  # the same 200 participants come back every cycle
    # Short keepalive so that the test need not wait the production 20 + 30 s for a stopped phone.
    server = Daphne(env, args=("--ping-interval", "1", "--ping-timeout", "2"), module="tests.counting_daphne")

    def count() -> int:
        """Once daphne holds only the watcher's connection: its live objects."""
        for _ in range(100):
            seen = len(server.output)
            server.process.send_signal(signal.SIGUSR1)
            _, objects, _, connections = server.line_after(seen, "OBJECTS").split()
            if int(connections) == 1:
                return int(objects)
            time.sleep(0.1)  # daphne reaps closed connections on its own clock; ask again
        raise AssertionError("daphne kept connections of phones that are gone")

    def live_objects() -> int:
        """The fewest of three counts half a second apart. A count can land while daphne is busy
        (the closing watch's look every few seconds, a dashboard's redraw in a worker thread), and
        that work's own objects are counted with it: up to some hundreds, once. What leaks stays
        in every count."""
        counts = [count()]
        for _ in range(2):
            time.sleep(0.5)  # spreads the counts out; not waiting for anything
            counts.append(count())
        return min(counts)

    rss = psutil.Process(server.process.pid).memory_info
    watcher = Process("watch", f"{server.ws_url}/ws/d/{code}/", cookie)
    results: list[Cycle] = []
    try:
        watcher.next_line()
        for mode in ("dropped", "half-open") * (CYCLES // 2):
            phones = Process("phones", f"{server.ws_url}/ws/p/{code}/", str(HELD_PHONES), str(tokens))
            assert phones.next_line().strip() == "ready"
            connected_reaches(watcher, HELD_PHONES)
            peak = rss().rss
            gone_from = time.monotonic()
            phones.signal(signal.SIGSTOP if mode == "half-open" else signal.SIGKILL)
            connected_reaches(watcher, 0)
            gone = time.monotonic() - gone_from
            phones.kill()
            results.append(Cycle(mode, peak, gone, rss().rss, live_objects()))
    finally:
        watcher.kill()
        server.stop()
    # The first cycles of each kind warm up: caches, pools and CPython's allocator reach
    # their high-water mark. From there on every cycle must end where the warm-up ended,
    # in live objects (up to EXTRA_OBJECTS) and in memory. A leak of one object per
    # connection would add 200 objects per measured cycle of its kind; CPython keeps freed
    # memory for reuse rather than return it, so memory may rise only as fragmentation does.
    # Each kind of cycle ends with its own small set of objects, so each is compared with
    # the last warm-up cycle of its kind.
    warm = {c.mode: c.objects for c in results[:WARM_UP_CYCLES]}
    cycles = results[WARM_UP_CYCLES:]
    extra_objects = max(c.objects - warm[c.mode] for c in cycles)
    extra_rss = max(c.rss for c in cycles) - results[WARM_UP_CYCLES - 1].rss
    one_cycle = max(c.peak for c in results) - results[0].rss
    mib = 2**20
    figure(
        f"fault dropped and half-open phones: {len(results)} cycles of {HELD_PHONES} phones; gone from 'connected' "
        f"after a drop in {max(c.gone for c in results if c.mode == 'dropped'):.1f} s, after a stop (half-open) in "
        f"{max(c.gone for c in results if c.mode == 'half-open'):.1f} s; live objects after each cycle "
        f"{', '.join(str(c.objects) for c in results)} ({extra_objects:+d} over the last {len(cycles)}); "
        f"memory after each cycle {', '.join(f'{c.rss / mib:.1f}' for c in results)} MiB "
        f"({extra_rss / mib:+.1f} MiB over the last {len(cycles)}); tracebacks {server.tracebacks}"
    )
    assert all(c.gone <= 10 for c in results)
    assert extra_objects <= EXTRA_OBJECTS
    assert extra_rss <= max(one_cycle, 2 * mib)
    assert server.tracebacks == 0


def test_a_stopped_dashboard_holds_no_backlog_and_gets_the_current_snapshot_on_resume(embedded, figure):
    env, code, cookie = embedded
    server = Daphne(env)
    rss = psutil.Process(server.process.pid).memory_info
    watcher = Process("watch", f"{server.ws_url}/ws/d/{code}/", cookie)

    async def scenario() -> dict[str, float]:
        phones = [Phone(f"{server.ws_url}/ws/p/{code}/", random.Random(i)) for i in range(DRAGGING_PHONES)]
        await asyncio.gather(*(p.connect() for p in phones))
        await asyncio.to_thread(connected_reaches, watcher, DRAGGING_PHONES)
        watcher.signal(signal.SIGSTOP)
        before = rss().rss
        stopped_at = time.monotonic()
        value = 0
        while time.monotonic() - stopped_at < DASHBOARD_STOP_SECONDS:
            value = (value + 7) % 101
            for phone in phones:
                await phone.ws.send(json.dumps({"type": "move", "slider": "regie", "value": value}))
            await asyncio.sleep(0.1)  # ten moves a second per phone
        grown = rss().rss - before
        for phone in phones:
            await phone.ws.send(json.dumps({"type": "set", "slider": "regie", "value": 77, "seq": 1}))
            assert json.loads(await phone.ws.recv())["type"] == "ack"
        watcher.drain()
        resumed_at = time.monotonic()
        watcher.signal(signal.SIGCONT)
        backlog = 0
        while True:
            _, _, median = (await asyncio.to_thread(watcher.next_line, 10)).split()
            if median != "None" and float(median) == 77:
                break
            backlog += 1
        current_after = time.monotonic() - resumed_at
        for phone in phones:
            await phone.ws.close()
        return {"grown": grown, "backlog": backlog, "current_after": current_after}

    try:
        measured = asyncio.run(scenario())
    finally:
        watcher.kill()
        server.stop()
    figure(
        f"fault stopped dashboard: {DASHBOARD_STOP_SECONDS} s stopped while {DRAGGING_PHONES} phones dragged; "
        f"server memory {measured['grown'] / 2**20:+.1f} MiB meanwhile; on resume {measured['backlog']} stale "
        f"aggregates, then the current one after {measured['current_after']:.2f} s"
    )
    assert measured["backlog"] <= UNSEEN_LIMIT
    assert measured["current_after"] <= 3
    assert measured["grown"] <= 5 * 2**20


def test_real_daphne_closes_oversized_and_flooding_sockets_with_their_codes(embedded):
    env, code, _ = embedded
    server = Daphne(env)
    url = f"{server.ws_url}/ws/p/{code}/"

    async def closed_with(frames: list[str | bytes]) -> int | None:
        async with websockets.connect(url, origin=ORIGIN, max_size=None) as ws:
            await ws.send(json.dumps({"type": "hello", "token": None}))
            await ws.recv()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                for frame in frames:
                    await ws.send(frame, text=True)
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            return closed.value.rcvd.code if closed.value.rcvd else None

    async def scenario() -> dict[str, int | None]:
        codes = {
            "oversized": await closed_with(["x" * 5000]),
            "flooding": await closed_with(['{"type":"move","slider":"regie","value":5}'] * 400),
            # A text frame that is not UTF-8: autobahn drops the connection (1007 on its side).
            "invalid UTF-8": await closed_with([b'{"type":"ping","x":"\xff\xfe"}']),
            # Past daphne's 128 KiB, long before the application would see it: autobahn
            # drops the connection (no close frame on the wire).
            "huge": await closed_with(["x" * 200_000]),
        }
        async with websockets.connect(url, origin=ORIGIN) as ws:  # and it serves on
            await ws.send(json.dumps({"type": "hello", "token": None}))
            assert json.loads(await ws.recv())["type"] == "welcome"
        return codes

    try:
        codes = asyncio.run(scenario())
    finally:
        server.stop()
    assert codes == {"oversized": CLOSE_TOO_BIG, "flooding": CLOSE_POLICY, "invalid UTF-8": None, "huge": None}
    assert server.tracebacks == 0, "".join(server.output)
