"""The deployment in deploy/, run as documented: Debian's nginx with deploy/nginx.conf in front of two
daphne processes started by deploy/schuifoefening@.service's command line, with deploy/env.example's
environment, on PostgreSQL and Redis.

Only what a loopback test must change is replaced: ports, paths, the secret key, the database, the
Redis key prefix, the host name and plain HTTP (see deploy/env.example's "test:" notes). 200 phones
join through nginx by the link the QR code shows, a dashboard watches through nginx; one daphne is
killed with kill -9 mid-session and its phones come back through nginx to the other.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from tests.conftest import need, port_open
from tests.phones import Dashboard, Phone, lost_values, p99, truth_of
from tests.servers import ROOT, SESSION_SETUP, Daphne, free_port, manage, new_prefix
from workshop.models import CODE_ALPHABET

pytestmark = [pytest.mark.services, pytest.mark.faults]

DEPLOY = ROOT / "deploy"


def database_of_own(suffix: str) -> str:
    """A database beside the run's own (DATABASE_URL's name and a suffix): test runs side by side share none."""
    name = os.environ.get("DATABASE_URL", "").rpartition("/")[2].partition("?")[0]
    return f"{name or 'schuif'}_{suffix}"


def ensure_database(name: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f"CREATE DATABASE {name}")


DATABASE = database_of_own("deploy")
PHONES = 200
SETS_PER_PHONE = 6
# Seconds between one of a phone's values and its next drag, on average: 200 people placing a
# value every two seconds or so, about 100 committed values a second in all, still far more than
# a room produces, while back to back they would commit about 500 a second.
THINK_SECONDS = 1.5
# Every phone of the killed daphne is welcomed again by the other within this many seconds. (Once a
# rejoin cost a database round trip per phone for the session, the slowest took up to 10.2 s on a
# busy CI machine; with the session shared per process it is about 2 s.)
RECONNECT_LIMIT = 5.0
# As deploy/ writes them for production; the test puts its own ports and paths in their place.
SITE_PORTS = {"listen 80;": "listen", "127.0.0.1:8001": "a", "127.0.0.1:8002": "b"}
SITE_STATIC_ROOT = "/srv/schuifoefening/staticfiles/"
UNIT_CHECKOUT = "/srv/schuifoefening"
# deploy/env.example's values that a plain-HTTP test on loopback must replace (its "test:" notes).
ENV_REPLACED = {
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "PUBLIC_URL",
    "DATABASE_URL",
    "REDIS_PREFIX",
    "SECURE_SSL_REDIRECT",
    "SECURE_COOKIES",
    "SECURE_HSTS_SECONDS",
}


def env_file(path: Path) -> dict[str, str]:
    """systemd's EnvironmentFile format, as far as deploy/env.example uses it."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def unit_command(port: int) -> list[str]:
    """The unit's ExecStart for instance `port`, with the checkout's virtualenv for /srv/schuifoefening's."""
    unit = (DEPLOY / "schuifoefening@.service").read_text()
    (line,) = (x for x in unit.splitlines() if x.startswith("ExecStart="))
    venv_bin = str(Path(sys.executable).parent)
    executable, *args = line.removeprefix("ExecStart=").replace("%i", str(port)).split()
    assert executable == f"{UNIT_CHECKOUT}/.venv/bin/daphne"
    return [f"{venv_bin}/daphne", *args]


def site_config(ports: dict[str, int], static_root: Path) -> str:
    site = (DEPLOY / "nginx.conf").read_text()
    for old, name in SITE_PORTS.items():
        assert site.count(old) == 1, old
        new = f"listen 127.0.0.1:{ports[name]};" if name == "listen" else f"127.0.0.1:{ports[name]}"
        site = site.replace(old, new)
    assert site.count(SITE_STATIC_ROOT) == 1
    return site.replace(SITE_STATIC_ROOT, f"{static_root}/")


class Nginx:
    """Debian's nginx binary with a main config of the test's own that includes the site, as Debian's does."""

    def __init__(self, site: str, port: int, prefix: Path, address: str = "127.0.0.1") -> None:
        self.port, self.url = port, f"http://{address}:{port}"
        (prefix / "site.conf").write_text(site)
        # Workers would drop to `nobody`, who may not read a checkout under /root or /work.
        user = "user root;" if os.geteuid() == 0 else ""
        temp = " ".join(
            f"{kind}_temp_path {prefix}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (prefix / "main.conf").write_text(
            f"{user} worker_processes 1; error_log {prefix}/error.log warn; pid {prefix}/nginx.pid;\n"
            "events { worker_connections 4096; }\n"
            f"http {{ include /etc/nginx/mime.types; default_type application/octet-stream; {temp}\n"
            f"  include {prefix}/site.conf; }}\n"
        )
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        test = subprocess.run([binary, "-t", "-c", f"{prefix}/main.conf", "-p", str(prefix)], capture_output=True)
        assert test.returncode == 0, test.stderr.decode()
        self.process = subprocess.Popen(
            [binary, "-c", f"{prefix}/main.conf", "-p", str(prefix), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not port_open(address, port):  # nginx says nothing when it is ready
            assert self.process.poll() is None, (prefix / "error.log").read_text()
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def get(port: int, path: str, *, source: str = "127.0.0.1", headers: dict[str, str] | None = None):
    """One GET to nginx from a loopback address of the test's choosing."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def nginx_available() -> bool:
    return shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()


@pytest.fixture
def deployment(tmp_path):
    need(nginx_available(), "nginx is not installed (apt-get install nginx)")
    need(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    need(port_open("127.0.0.1", 5432), "PostgreSQL is not running on 127.0.0.1:5432")
    ensure_database(DATABASE)
    ports = {"listen": free_port(), "a": free_port(), "b": free_port()}
    nginx_url = f"http://127.0.0.1:{ports['listen']}"
    database_url = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
    example = env_file(DEPLOY / "env.example")
    assert example["TRUSTED_PROXIES"] == "127.0.0.1"
    assert example.keys() >= ENV_REPLACED
    # The machine's own environment stands in for what systemd gives a service (PATH, HOME, LANG);
    # nothing the application reads comes from it.
    inherited = {k: v for k, v in os.environ.items() if k not in example and k != "DJANGO_SETTINGS_MODULE"}
    env = {
        **inherited,
        **example,
        "SECRET_KEY": "deploy-test-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": "",
        "PUBLIC_URL": nginx_url,
        "DATABASE_URL": database_url,
        "REDIS_PREFIX": new_prefix(),
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECURE_HSTS_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    # As docs/deployment.md deploys: migrate and collectstatic once, then the processes.
    manage("migrate", "--noinput", env=env)
    manage("collectstatic", "--noinput", "--verbosity", "0", env=env, timeout=300)
    code, cookie = manage("shell", "-c", SESSION_SETUP, env=env).split()[-2:]
    servers = [Daphne(env, port=ports[name], command=unit_command(ports[name])) for name in ("a", "b")]
    nginx = Nginx(site_config(ports, ROOT / "staticfiles"), ports["listen"], tmp_path)
    try:
        yield nginx, servers, code, cookie, database_url, env
    finally:
        nginx.stop()
        for server in servers:
            if server.process.poll() is None:
                server.stop()
        if artifacts := os.environ.get("ARTIFACTS_DIR"):
            path = Path(artifacts) / "deploy-nginx.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            error_log = tmp_path / "error.log"
            path.write_text(
                "".join(line for server in servers for line in server.output)
                + (error_log.read_text() if error_log.exists() else "")
            )


def connections_to(server: Daphne) -> int:
    """Sockets open on this daphne's port: nginx holds one per phone or dashboard it passed there."""
    return sum(
        1
        for c in psutil.Process(server.process.pid).net_connections("tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == server.port
    )


def test_two_daphnes_behind_nginx_serve_200_phones_and_one_killed_loses_nothing(deployment, figure):
    nginx, servers, code, cookie, database_url, _env = deployment
    port = nginx.port

    # The join link, as the control panel's QR panel shows it: nginx's host and port, not daphne's.
    status, _, page = get(port, f"/f/s/{code}/", headers={"Cookie": f"sessionid={cookie}"})
    assert status == 200
    shown = re.search(rb'<p class="short-url"><span>([^<]+)</span><wbr><span>([^<]+)</span></p>', page)
    assert shown is not None
    assert shown.group(1).decode() == f"127.0.0.1:{port}"
    join_url = f"http://{shown.group(1).decode()}{shown.group(2).decode()}/"
    join_path = join_url.removeprefix(nginx.url)
    assert join_path == f"/j/{code}/"

    # A static file, served by nginx from STATIC_ROOT (its 30-day expiry; whitenoise's would be longer).
    status, _, page = get(port, join_path)
    assert status == 200
    script = re.search(rb'src="(/static/workshop/phone/main[^"]*\.js)"', page)
    assert script is not None
    status, headers, body = get(port, script.group(1).decode())
    assert status == 200
    assert headers["Cache-Control"] == "max-age=2592000"
    # A module script runs only when served as JavaScript.
    assert headers["Content-Type"] in {"application/javascript", "text/javascript"}
    assert body == (ROOT / "staticfiles" / script.group(1).decode().removeprefix("/static/")).read_bytes()

    # The client's address arrives: wrong codes from 127.0.0.2 are counted against 127.0.0.2
    # (and not against nginx's 127.0.0.1, which every phone shares), whatever X-Forwarded-For it
    # writes itself; 127.0.0.3 still has its own allowance.
    wrong = next(c for c in CODE_ALPHABET if c != code[0]) + code[1:]
    spoofed = {"X-Forwarded-For": "127.0.0.9"}
    # Each guess another code: over the limit an address learns at most one code a second (issue 23).
    guesses = [c + code[1:] for c in CODE_ALPHABET if c != code[0]][:24]
    answers = [get(port, f"/j/{guess}/", source="127.0.0.2", headers=spoofed)[0] for guess in guesses]
    assert answers[:20] == [404] * 20, answers
    # The rest within a second or two: one lookup a second answered (404), every other refused.
    assert answers[20:].count(429) >= len(answers) - 20 - 2, answers
    assert get(port, f"/j/{wrong}/", source="127.0.0.3")[0] == 404
    assert get(port, f"/j/{wrong}/", source="127.0.0.9")[0] == 404

    # Every phone loads the join page first, as a phone that scanned the QR code does.
    with ThreadPoolExecutor(16) as pool:
        loaded = list(pool.map(lambda _: get(port, join_path)[0], range(PHONES)))
    assert loaded == [200] * PHONES, sorted(set(loaded))

    async def scenario() -> dict:
        rng = random.Random(15)
        socket_url = f"ws://127.0.0.1:{port}/ws/p/{code}/"
        phones = [Phone(socket_url, random.Random(rng.random()), origin=nginx.url) for _ in range(PHONES)]
        dashboard = Dashboard(f"ws://127.0.0.1:{port}/ws/d/{code}/", cookie, random.Random(1), origin=nginx.url)
        dashboard_task = asyncio.create_task(dashboard.run())
        enough = asyncio.Event()

        def progress() -> None:
            if sum(len(p.acked) for p in phones) >= PHONES * 2:
                enough.set()

        tasks = [asyncio.create_task(p.run(SETS_PER_PHONE, progress, think=THINK_SECONDS)) for p in phones]
        await enough.wait()
        victim = max(servers, key=connections_to)
        on_victim = connections_to(victim)
        killed_at = time.monotonic()
        victim.kill()
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        exact = await dashboard.matches(truth_of(phones))
        dashboard.stopped = True
        dashboard_task.cancel()
        back = [next(t for t in p.welcomes if t > killed_at) - killed_at for p in phones if p.welcomes[-1] > killed_at]
        return {
            "on_victim": on_victim,
            "back": back,
            "dashboard_back": any(t > killed_at for t in dashboard.connects),
            "exact": exact,
            "mismatch": dashboard.mismatch,
            "acked": sum(len(p.acked) for p in phones),
            "lost": await asyncio.to_thread(lost_values, phones, database_url, code),
        }

    outcome = asyncio.run(scenario())
    back = outcome["back"]
    survivor = next(s for s in servers if s.process.poll() is None)
    figure(
        f"deploy nginx + 2 daphne: {PHONES} phones joined by the QR link; kill -9 of the daphne holding "
        f"{outcome['on_victim']} sockets: {len(back)} phones reconnected through nginx to the other, "
        f"median {statistics.median(back or [0]):.2f} s, p99 {p99(back or [0]):.2f} s, "
        f"slowest {max(back, default=0):.2f} s; "
        f"dashboard {'reconnected' if outcome['dashboard_back'] else 'stayed'}, exact: {outcome['exact']}; "
        f"{outcome['acked']} acknowledged values, {outcome['lost']} lost; survivor tracebacks {survivor.tracebacks}"
    )
    # Every socket the dead daphne held came back: each phone's, and the dashboard's if it was there.
    assert len(back) + outcome["dashboard_back"] == outcome["on_victim"]
    assert 0 < len(back) < PHONES
    assert max(back) <= RECONNECT_LIMIT
    assert outcome["exact"], outcome["mismatch"]
    assert outcome["lost"] == 0
    assert survivor.tracebacks == 0, "".join(survivor.output)


def test_the_unit_runs_daphne_with_the_procfiles_options():
    # The Procfile is the one place the options are argued for; the unit may differ only in
    # where it listens (loopback, one port per instance).
    (procfile,) = (x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
    procfile_args = procfile.removeprefix("web:").split()[1:]
    unit_args = unit_command(8001)[1:]

    def without_address(args: list[str]) -> list[str]:
        return [
            a for i, a in enumerate(args) if a not in ("--bind", "--port") and args[i - 1] not in ("--bind", "--port")
        ]

    assert without_address(unit_args) == without_address(procfile_args)
    assert unit_args[unit_args.index("--bind") + 1] == "127.0.0.1"


# The documented rolling restart (docs/deployment.md, "Upgrading during a workshop"): after a
# process is back, wait until /healthz answers and then this long before the next one, so that the
# phones that moved hold their new socket longer than the page's SHORT_LIVED_MS (5 s): a socket
# that dies sooner counts as a sign of a network that blocks websockets.
RESTART_SETTLE_SECONDS = 10.0


def healthy(port: int, timeout: float = 30) -> float:
    """Poll the process's own /healthz (database and channel layer) until it answers 200; when it did."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if get(port, "/healthz")[0] == 200:
                return time.monotonic()
        except OSError:
            pass
        assert time.monotonic() < deadline, f"daphne on {port} is not healthy"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_rolling_restart_of_both_daphnes_during_a_workshop_loses_nothing(deployment, figure):
    from tests.page_phones import PagePhone, back_after, summary

    nginx, servers, code, cookie, database_url, env = deployment
    port = nginx.port

    async def scenario() -> dict:
        rng = random.Random(26)
        socket_url = f"ws://127.0.0.1:{port}/ws/p/{code}/"
        phones = [PagePhone(socket_url, random.Random(rng.random()), origin=nginx.url) for _ in range(PHONES)]
        dashboard = Dashboard(f"ws://127.0.0.1:{port}/ws/d/{code}/", cookie, random.Random(2), origin=nginx.url)
        dashboard_task = asyncio.create_task(dashboard.run())
        enough = asyncio.Event()

        def progress() -> None:
            if sum(len(p.acked) for p in phones) >= PHONES * 2:
                enough.set()

        # Every phone keeps placing values, THINK_SECONDS apart, until both processes are back.
        finished = asyncio.Event()
        tasks = [
            asyncio.create_task(p.run(SETS_PER_PHONE, progress, think=THINK_SECONDS, until=finished)) for p in phones
        ]
        await enough.wait()
        restarts = []
        for index in range(len(servers)):
            old = servers[index]
            held = connections_to(old)
            stopped_at = time.monotonic()
            # As `systemctl stop schuifoefening@<port>`: SIGTERM; later the unit's command again.
            await asyncio.to_thread(old.stop)
            exit_code = old.process.returncode
            # Its phones move to the other process first; the new one starts when they are there, so
            # that its start (seconds of CPU) does not slow their return (docs/deployment.md).
            deadline = time.monotonic() + 3 * RECONNECT_LIMIT
            while time.monotonic() < deadline and (
                len(back_after(phones, stopped_at)) + any(t > stopped_at for t in dashboard.connects) < held
            ):
                await asyncio.sleep(0.1)
            # The new release: the same code with a marker in its environment, as a changed env file would be.
            release = {**env, "RELEASE": f"after-{index}"}
            servers[index] = await asyncio.to_thread(Daphne, release, port=old.port, command=unit_command(old.port))
            healthy_at = await asyncio.to_thread(healthy, old.port)
            restarts.append({"held": held, "stopped": stopped_at, "healthy": healthy_at, "exit": exit_code, "old": old})
            await asyncio.sleep(RESTART_SETTLE_SECONDS)
        finished.set()
        _, pending = await asyncio.wait(tasks, timeout=120)
        stuck = [
            (p.ws.state.name if p.ws else None, len(p.welcomes), dict(p.unacked), len(p.acked), p.errors[-3:])
            for p, t in zip(phones, tasks, strict=True)
            if t in pending
        ]
        assert not stuck, f"{len(stuck)} phones did not finish: {stuck[:5]}"
        exact = await dashboard.matches(truth_of(phones))
        dashboard.stopped = True
        dashboard_task.cancel()
        for restart, until in zip(restarts, [r["stopped"] for r in restarts[1:]] + [float("inf")], strict=True):
            restart["back"] = back_after(phones, restart["stopped"], until)
            restart["dashboard_back"] = any(restart["stopped"] < t < until for t in dashboard.connects)
        return {
            "restarts": restarts,
            "placing_after": sum(1 for p in phones if p.ack_times and p.ack_times[-1] > restarts[-1]["healthy"]),
            "exact": exact,
            "mismatch": dashboard.mismatch,
            "acked": sum(len(p.ack_times) for p in phones),
            "final": sum(len(p.acked) for p in phones),
            "not_stored": sum(p.not_stored for p in phones),
            "lost": await asyncio.to_thread(lost_values, phones, database_url, code),
        }

    started = time.monotonic()
    outcome = asyncio.run(scenario())
    restarts = outcome["restarts"]
    figure(
        "deploy nginx + 2 daphne, rolling restart (SIGTERM, its phones back, start, /healthz, "
        f"{RESTART_SETTLE_SECONDS:.0f} s, next) "
        f"with {PHONES} phones placing: "
        + "; ".join(
            f"process {i + 1} held {r['held']} sockets, back: {summary(r['back'])}, "
            f"healthy {r['healthy'] - r['stopped']:.1f} s after its stop"
            for i, r in enumerate(restarts)
        )
        + f"; dashboard exact: {outcome['exact']}; {outcome['acked']} acknowledgements ({outcome['final']} final "
        f"values), {outcome['lost']} lost, "
        f"{outcome['not_stored']} not_stored; {outcome['placing_after']} phones placed values after both were back; "
        f"test {time.monotonic() - started:.0f} s"
    )
    for restart in restarts:
        # Every socket the stopped process held came back (through the other), each within the limit.
        assert len(restart["back"]) + restart["dashboard_back"] == restart["held"], restart
        assert restart["back"] and max(restart["back"]) <= RECONNECT_LIMIT
        assert restart["exit"] == 0
    # The second process held (nearly) every phone by then: they all came back to the restarted first.
    assert len(restarts[1]["back"]) > PHONES // 2
    assert outcome["placing_after"] > PHONES * 9 // 10
    assert outcome["exact"], outcome["mismatch"]
    assert outcome["lost"] == 0
    for server in [*servers, *(r["old"] for r in restarts)]:
        assert server.tracebacks == 0, "".join(server.output)
