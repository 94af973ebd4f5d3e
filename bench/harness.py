"""Load harness: simulated phones against the project or the raw-ASGI baseline, measured end to end.

One run: start the server(s) pinned to core 0, pin this generator to core 1,
connect N phones and one dashboard, drive every phone on a fixed schedule
(no coordinated omission), measure the lag from a probe phone's `move` to the
first dashboard aggregate that reflects it, then check exactness: the final
aggregate equals the truth from each phone's last value, and every
acknowledged `set` is in the database. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The phones are the test suite's own simulator, so the benchmark measures the client the fault suite proves.
from tests.phones import ORIGIN, SLIDERS, Phone  # noqa: E402
from tests.servers import SESSION_SETUP, Daphne, local_env, manage  # noqa: E402
from workshop.stats import summarize  # noqa: E402

PROBE_SLIDER = SLIDERS[-1]
DRAG_SLIDERS = [s for s in SLIDERS if s != PROBE_SLIDER]  # the probe alone moves its slider: its median is the probe's
# Phones of a loaded benchmark: slow handshakes are measured, not abandoned; no keepalive traffic of their own.
PHONE_OPTIONS = {"open_timeout": 60, "max_queue": None, "ping_interval": None}
PG_URL = "postgres://postgres@127.0.0.1:5432/schuif_bench"
REDIS_URL = "redis://127.0.0.1:6379/0"
SERVER_CORE = 0
GENERATOR_CORE = 1


@dataclass
class Options:
    target: str = "project"  # project | baseline
    topology: str = "embedded"  # embedded | redis | two
    phones: int = 100
    duty: float = 1.0
    seconds: float = 10.0
    warmup: float = 3.0
    rate: float = 10.0
    burst: bool = False
    idle: bool = False
    flood: int = 0  # messages a second from one extra, abusive socket (0: none)
    storm: float = 0.0  # a join storm: every phone opens its socket and says hello within this many seconds
    cpu: float = 0.0  # each server process's share of the server core (a CPU quota; 0: the whole core)
    label: str = ""
    metrics: bool = False  # METRICS_ENABLED in the project's server: the hooks' cost on the hot path
    profile: str = ""  # a path: sample the (first) server with py-spy during the measured window; .svg, .txt or .json


def pin(pid: int, core: int) -> None:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(pid, {core})


def project_env(options: Options, workdir: Path) -> dict[str, str]:
    env = local_env(
        SECRET_KEY="bench-" + "x" * 50,
        LOG_LEVEL="WARNING",
        # A phone that sends nothing for a while still counts as connected during a run.
        CONNECTED_TTL_S="600",
        METRICS_ENABLED="1" if options.metrics else "0",
    )
    if options.topology == "embedded":
        env["SQLITE_PATH"] = str(workdir / "db.sqlite3")
    else:
        env.update(DATABASE_URL=PG_URL, REDIS_URL=REDIS_URL, REDIS_PREFIX=f"bench-{secrets.token_hex(3)}")
    return env


def ensure_pg_database() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'schuif_bench'").fetchone():
            conn.execute("CREATE DATABASE schuif_bench")


CGROUP_CPU = Path("/sys/fs/cgroup/cpu")  # cgroup v1; the quota is how a 2-core machine shows "two cores"


class Server(Daphne):
    """A daphne process pinned to the server core, with its CPU and memory in reach.

    With `cpu`, the process gets that share of the core (a CFS quota per 10 ms period), so that two
    processes of half a core each can be set against one of half a core while the generator keeps
    its own core.
    """

    def __init__(self, app: str, env: dict[str, str], cpu: float = 0.0) -> None:
        super().__init__(env, app=app, core=SERVER_CORE)
        self.ps = psutil.Process(self.process.pid)
        self.cgroup: Path | None = None
        if cpu:
            self.cgroup = CGROUP_CPU / f"schuif-bench-{self.process.pid}"
            self.cgroup.mkdir()
            (self.cgroup / "cpu.cfs_period_us").write_text("10000")
            (self.cgroup / "cpu.cfs_quota_us").write_text(str(int(10000 * cpu)))
            (self.cgroup / "cgroup.procs").write_text(str(self.process.pid))

    def stop(self) -> None:
        super().stop()
        if self.cgroup is not None:
            self.cgroup.rmdir()


SERVICES = ("redis-server", "postgres")


@contextlib.contextmanager
def services_on_server_core(enabled: bool) -> Any:
    """With a CPU quota, Redis and PostgreSQL run on the server core too, beside the quota'd servers.

    The server core is then the server machine (daphne processes, Redis, PostgreSQL) and the other core
    is the phones' alone; otherwise Redis shares the generator's core and its schedule slips first.
    Their own affinity is restored afterwards.
    """
    saved: dict[psutil.Process, list[int]] = {}
    if enabled:
        for process in psutil.process_iter(["name"]):
            if process.info["name"] in SERVICES:
                with contextlib.suppress(psutil.Error):
                    saved[process] = process.cpu_affinity()
                    process.cpu_affinity([SERVER_CORE])
    try:
        yield
    finally:
        for process, cores in saved.items():
            with contextlib.suppress(psutil.Error):
                process.cpu_affinity(cores)


PROFILE_FORMATS = {".svg": "flamegraph", ".txt": "raw", ".json": "speedscope"}


def start_profiler(path: str, server: Server, seconds: float) -> None:
    """py-spy samples the server from outside (on the generator's core), without pausing it."""
    kind = PROFILE_FORMATS[Path(path).suffix]
    command = [
        str(Path(sys.executable).parent / "py-spy"),
        "record",
        "--pid",
        str(server.process.pid),
        "--rate",
        "250",
        "--nonblocking",
    ]
    command += ["--duration", str(int(seconds)), "--format", kind, "--output", path]
    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def service_counters(options: Options) -> dict[str, float]:
    """Redis commands and PostgreSQL transactions so far (server-wide), for the load a topology puts on them."""
    if options.topology == "embedded" or options.target != "project":
        return {}
    import psycopg
    import redis

    with psycopg.connect(PG_URL.replace("postgres://", "postgresql://")) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'schuif_bench'"
        ).fetchone()
    stats = redis.Redis.from_url(REDIS_URL).info("stats")
    return {"redis_commands": float(stats["total_commands_processed"]), "pg_transactions": float(row[0])}


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def sleep_until(loop: asyncio.AbstractEventLoop, when: float) -> None:
    delay = when - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def run(options: Options) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    pin(0, GENERATOR_CORE)
    workdir = Path(tempfile.mkdtemp(prefix="schuif-bench-"))
    servers: list[Server] = []
    report: dict[str, Any] = {"label": options.label, **{k: v for k, v in vars(options).items() if k != "label"}}
    try:
        if options.target == "project":
            if options.topology != "embedded":
                ensure_pg_database()
            env = project_env(options, workdir)
            manage("migrate", "--noinput", "-v", "0", env=env, timeout=300)
            code, cookie = manage("shell", "-c", SESSION_SETUP, env=env, timeout=300).split()[-2:]
            count = 2 if options.topology == "two" else 1
            servers = [Server("config.asgi:application", env, options.cpu) for _ in range(count)]
        else:
            env = {**os.environ, "BASELINE_DB": str(workdir / "baseline.sqlite3"), "PYTHONPATH": str(ROOT)}
            code, cookie = "BENCH1", ""
            servers = [Server("bench.baseline:app", env, options.cpu)]
        with services_on_server_core(bool(options.cpu)):
            report.update(await drive(options, servers, code, cookie, loop))
        if options.target == "project":
            report["lost_acks"] = lost_acks_project(options, env, report.pop("_phones"))
        else:
            report["lost_acks"] = lost_acks_baseline(workdir / "baseline.sqlite3", report.pop("_phones"))
        for server in servers:
            report["server_tracebacks"] = report.get("server_tracebacks", 0) + server.tracebacks
    finally:
        for server in servers:
            server.stop()
            if os.environ.get("BENCH_DEBUG"):
                print("".join(server.output[-200:]), file=sys.stderr)
    return report


async def drive(
    options: Options, servers: list[Server], code: str, cookie: str, loop: asyncio.AbstractEventLoop
) -> dict[str, Any]:
    rng = random.Random(42)
    phone_server = servers[0]
    dash_server = servers[-1]
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
    base_rss = sum(s.ps.memory_info().rss for s in servers)

    # The dashboard, on the last process (the other one in the two-process topology).
    aggregates: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
    latest: dict[str, Any] = {}
    dashboard = await websockets.connect(
        f"{dash_server.ws_url}/ws/d/{code}/", origin=ORIGIN, additional_headers=headers, max_queue=None, max_size=None
    )

    async def read_dashboard() -> None:
        try:
            async for raw in dashboard:
                message = json.loads(raw)
                if message.get("type") == "aggregate":
                    latest["aggregate"] = message
                    await aggregates.put((loop.time(), message))
                    await dashboard.send('{"type":"seen"}')  # as the page confirms each one
        except websockets.ConnectionClosed:
            pass

    readers = [asyncio.create_task(read_dashboard())]
    # Spread over the processes in turn (the two-process topology).
    phones = [Phone(f"{servers[i % len(servers)].ws_url}/ws/p/{code}/", **PHONE_OPTIONS) for i in range(options.phones)]
    if options.storm:
        result = await join_storm(options, servers, phones, rng, loop)
        await close_all(phones, Phone(""), dashboard, readers)
        result["_phones"] = []
        return result
    connect_times = []
    for start in range(0, len(phones), 100):
        connect_times += await asyncio.gather(*(p.join() for p in phones[start : start + 100]))
    probe = Phone(f"{phone_server.ws_url}/ws/p/{code}/", **PHONE_OPTIONS)
    await probe.join()
    readers += [asyncio.create_task(p.listen()) for p in [*phones, probe]]
    connected_rss = sum(s.ps.memory_info().rss for s in servers)
    result: dict[str, Any] = {
        "connect_ms_p50": round(1000 * statistics.median(connect_times), 1) if connect_times else None,
        "connect_ms_p95": round(1000 * percentile(connect_times, 95), 1) if connect_times else None,
        "rss_per_connection_kb": round((connected_rss - base_rss) / max(1, options.phones) / 1024, 1),
    }
    if options.idle:
        await asyncio.sleep(2)  # let the server settle before reading its memory
        result["server_rss_mb"] = round(sum(s.ps.memory_info().rss for s in servers) / 2**20, 1)
        result["held"] = sum(1 for p in phones if p.ws.state.name == "OPEN")
        await close_all(phones, probe, dashboard, readers)
        result["_phones"] = []
        return result

    interval = 1 / options.rate
    start = loop.time() + 0.5
    measure_from = start + options.warmup
    stop = measure_from + options.seconds
    send_lags: list[float] = []
    counters = {"moves": 0, "sets": 0}
    probe_sent: dict[int, float] = {}
    lags: list[float] = []

    async def drive_phone(phone: Phone) -> None:
        period = 2.0
        offset = 0.0 if options.burst else rng.random() * period
        t = start + (0.0 if options.burst else rng.random() * interval)
        slider: str | None = None
        while t < stop:
            await sleep_until(loop, t)
            if t >= measure_from:
                send_lags.append(loop.time() - t)
            dragging = ((t - start + offset) % period) < options.duty * period
            if dragging:
                if slider is None:
                    slider = rng.choice(DRAG_SLIDERS)
                value = max(0, min(100, phone.last.get(slider, rng.randint(0, 100)) + rng.randint(-6, 6)))
                await phone.move(slider, value)
                counters["moves"] += 1
            elif slider is not None:
                await phone.set(slider)
                counters["sets"] += 1
                slider = None
            t += interval

    async def drive_probe() -> None:
        t, value = start, 0
        while t < stop:
            await sleep_until(loop, t)
            value = (value + 37) % 101
            now = loop.time()
            if t >= measure_from:
                probe_sent[value] = now
            await probe.move(PROBE_SLIDER, value)
            counters["moves"] += 1
            t += interval

    async def watch() -> None:
        while True:
            received, message = await aggregates.get()
            median = next(s["median"] for s in message["sliders"] if s["key"] == PROBE_SLIDER)
            if median is not None and int(median) in probe_sent:
                sent = probe_sent.pop(int(median))
                lags.append(received - sent)
                # Older probe values were overtaken before a dashboard saw them.
                for value, at in list(probe_sent.items()):
                    if at < sent:
                        del probe_sent[value]

    watcher = asyncio.create_task(watch())
    cpu_before = [s.ps.cpu_times() for s in servers]
    me = psutil.Process()
    my_cpu_before = me.cpu_times()
    wall_before = loop.time()
    moves_before = 0

    services_before: dict[str, float] = {}

    async def mark_window() -> None:
        nonlocal cpu_before, my_cpu_before, wall_before, moves_before, services_before
        await sleep_until(loop, measure_from)
        services_before = service_counters(options)
        if options.profile:
            start_profiler(options.profile, servers[0], options.seconds)
        cpu_before = [s.ps.cpu_times() for s in servers]
        my_cpu_before = me.cpu_times()
        wall_before = loop.time()
        moves_before = counters["moves"] + counters["sets"]

    flood = {"sent": 0, "closed": 0}
    # The moves the flooder gets in within its burst count like anyone's: its value is in the truth.
    flooder = Phone(f"{phone_server.ws_url}/ws/p/{code}/", **PHONE_OPTIONS)
    flooder.last["sturing"] = 50

    async def drive_flooder() -> None:
        """One socket sending `options.flood` moves a second; when closed for it, it comes straight back."""
        t = start
        while t < stop:
            await flooder.join()  # as the same participant each time
            reader = asyncio.create_task(flooder.listen())
            try:
                while t < stop:
                    await sleep_until(loop, t)
                    for _ in range(max(1, options.flood // 100)):  # in slices of 10 ms
                        await flooder.ws.send('{"type":"move","slider":"sturing","value":50}')
                        flood["sent"] += 1
                    t += 0.01
            except websockets.ConnectionClosed:
                flood["closed"] += 1
            finally:
                reader.cancel()
        await flooder.ws.close()

    drivers = [mark_window(), drive_probe(), *(drive_phone(p) for p in phones)]
    if options.flood:
        drivers.append(drive_flooder())
    await asyncio.gather(*drivers)
    wall = loop.time() - wall_before
    cpu = sum(
        (a.user + a.system) - (b.user + b.system)
        for a, b in zip([s.ps.cpu_times() for s in servers], cpu_before, strict=True)
    )
    my_now = me.cpu_times()
    my_cpu = (my_now.user + my_now.system) - (my_cpu_before.user + my_cpu_before.system)
    sent = counters["moves"] + counters["sets"] - moves_before
    result.update(
        {
            "offered_msgs_per_s": round(sent / wall, 1),
            "server_cpu_pct": round(100 * cpu / wall, 1),
            "server_cpu_ms_per_msg": round(1000 * cpu / max(1, sent), 4),
            "server_rss_mb": round(sum(s.ps.memory_info().rss for s in servers) / 2**20, 1),
            "generator_cpu_pct": round(100 * my_cpu / wall, 1),
            "send_lag_p99_ms": round(1000 * (percentile(send_lags, 99) or 0), 1),
            "probe_samples": len(lags),
            "lag_ms_p50": round(1000 * (percentile(lags, 50) or 0), 1),
            "lag_ms_p95": round(1000 * (percentile(lags, 95) or 0), 1),
            "lag_ms_p99": round(1000 * (percentile(lags, 99) or 0), 1),
            "lag_ms_max": round(1000 * max(lags, default=0), 1),
        }
    )
    if services_before:
        services_after = service_counters(options)
        for name, before in services_before.items():
            result[f"{name}_per_s"] = round((services_after[name] - before) / wall, 1)
    if options.flood:
        result["flood_sent_per_s"] = round(flood["sent"] / (stop - start), 1)
        result["flooder_closed"] = flood["closed"]
    reasons = []
    if result["generator_cpu_pct"] > 85:
        reasons.append("generator over 85% CPU")
    if result["send_lag_p99_ms"] > 20:
        reasons.append("generator send lag p99 over 20 ms")
    result["valid"] = not reasons
    result["invalid_because"] = reasons

    # Every phone releases what it still holds (as a finger lifting off), then the final
    # aggregate must equal the truth. Sliders committed at an earlier release are not sent again.
    for phone in [*phones, probe]:
        for slider, value in phone.last.items():
            if phone.acked.get(slider) != value and phone.unacked.get(slider, (0, None))[1] != value:
                await phone.set(slider)
    await asyncio.wait_for(asyncio.gather(*(p.settled.wait() for p in [*phones, probe])), 180)
    everyone = [*phones, probe, *([flooder] if options.flood else [])]
    truth = {key: summarize([p.last[key] for p in everyone if key in p.last]).as_dict() for key in SLIDERS}
    watcher.cancel()
    result["exact"] = await converges(aggregates, latest, truth, loop)
    await close_all(phones, probe, dashboard, readers)
    result["_phones"] = [*phones, probe]
    return result


async def join_storm(
    options: Options, servers: list[Server], phones: list[Phone], rng: random.Random, loop: asyncio.AbstractEventLoop
) -> dict[str, Any]:
    """A hall scanning the QR code at once: each phone opens and says hello at a random moment of the window."""
    start = loop.time() + 0.5
    moments = sorted(start + rng.random() * options.storm for _ in phones)
    welcomes: list[float] = []
    refused: dict[str, int] = {}
    cpu_before = [s.ps.cpu_times() for s in servers]
    if options.profile:
        start_profiler(options.profile, servers[0], options.storm + 1)

    async def arrive(phone: Phone, at: float) -> None:
        await sleep_until(loop, at)
        try:
            welcomes.append(await phone.join())
        except websockets.ConnectionClosed as closed:
            code = str(closed.rcvd.code if closed.rcvd else "no close frame")
            refused[code] = refused.get(code, 0) + 1
        except Exception as error:
            refused[type(error).__name__] = refused.get(type(error).__name__, 0) + 1

    await asyncio.gather(*(arrive(p, at) for p, at in zip(phones, moments, strict=True)))
    wall = loop.time() - start
    cpu = sum(
        (a.user + a.system) - (b.user + b.system)
        for a, b in zip([s.ps.cpu_times() for s in servers], cpu_before, strict=True)
    )
    await asyncio.sleep(2)  # let the server settle before reading its memory
    return {
        "welcomed": len(welcomes),
        "refused": refused,
        "welcome_ms_p50": round(1000 * (percentile(welcomes, 50) or 0), 1),
        "welcome_ms_p95": round(1000 * (percentile(welcomes, 95) or 0), 1),
        "welcome_ms_p99": round(1000 * (percentile(welcomes, 99) or 0), 1),
        "welcome_ms_max": round(1000 * max(welcomes, default=0), 1),
        "server_cpu_pct": round(100 * cpu / wall, 1),
        "server_rss_mb": round(sum(s.ps.memory_info().rss for s in servers) / 2**20, 1),
        "held": sum(1 for p in phones if p.ws is not None and p.ws.state.name == "OPEN"),
        "valid": True,
    }


async def converges(
    aggregates: asyncio.Queue[tuple[float, dict[str, Any]]],
    latest: dict[str, Any],
    truth: dict[str, dict[str, Any]],
    loop: Any,
) -> bool:
    """Whether the dashboard's newest aggregate equals the truth, now or within 10 s."""
    deadline = loop.time() + 10
    fields = ("n", "median", "q1", "q3", "histogram")
    last: dict[str, Any] = {}
    message = latest.get("aggregate")
    while loop.time() < deadline:
        if message is not None:
            got = {s["key"]: s for s in message["sliders"]}
            if all(got[k][f] == truth[k][f] for k in SLIDERS for f in fields):
                return True
            last = {k: [(f, got[k][f], truth[k][f]) for f in fields if got[k][f] != truth[k][f]] for k in SLIDERS}
        try:
            _, message = await asyncio.wait_for(aggregates.get(), deadline - loop.time())
        except TimeoutError:
            break
    if os.environ.get("BENCH_DEBUG"):
        print("not exact:", {k: v for k, v in last.items() if v}, file=sys.stderr)
    return False


async def close_all(phones: list[Phone], probe: Phone, dashboard: Any, readers: list[asyncio.Task[None]]) -> None:
    opened = [p for p in [*phones, probe] if p.ws is not None]
    await asyncio.gather(*(p.ws.close() for p in opened), dashboard.close(), return_exceptions=True)
    for reader in readers:
        reader.cancel()


def lost_acks_project(options: Options, env: dict[str, str], phones: list[Phone]) -> int:
    if options.topology == "embedded":
        conn = sqlite3.connect(env["SQLITE_PATH"])
        rows = conn.execute(SQL_POSITIONS).fetchall()
    else:
        import psycopg

        with psycopg.connect(PG_URL.replace("postgres://", "postgresql://")) as conn:
            rows = conn.execute(SQL_POSITIONS).fetchall()
    stored = {(token_hash, key): value for token_hash, key, value in rows}
    return sum(1 for p in phones for slider, value in p.acked.items() if stored.get((p.token_hash, slider)) != value)


SQL_POSITIONS = """
SELECT p.token_hash, s.key, pos.value FROM workshop_position pos
JOIN workshop_participant p ON p.id = pos.participant_id
JOIN workshop_slider s ON s.id = pos.slider_id
WHERE pos.round = 1
"""


def lost_acks_baseline(path: Path, phones: list[Phone]) -> int:
    stored = {(t, s): v for t, s, v in sqlite3.connect(path).execute("SELECT token, slider, value FROM position")}
    return sum(1 for p in phones for slider, value in p.acked.items() if stored.get((p.token, slider)) != value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name, default in vars(Options()).items():
        kind = type(default)
        if kind is bool:
            parser.add_argument(f"--{name}", action="store_true")
        else:
            parser.add_argument(f"--{name}", type=kind, default=default)
    options = Options(**vars(parser.parse_args()))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(run(options))), flush=True)


if __name__ == "__main__":
    main()
