"""Several application hosts behind one load balancer, as docs/deployment.md describes them, on loopback.

Two "hosts", each Debian's nginx with deploy/nginx.conf (listening on 127.0.0.2 and 127.0.0.3) in
front of two daphne processes started by deploy/schuifoefening@.service's command line, behind a
third nginx with deploy/loadbalancer.conf; every daphne reaches PostgreSQL through PgBouncer in
transaction mode (DATABASE_POOLER=pgbouncer) and shares one Redis. 200 phones and a dashboard
work through the balancer; one whole host is stopped (its nginx and both daphnes) and its phones
come back through the other, nothing acknowledged lost, the dashboard exact.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import need, port_open
from tests.page_phones import PagePhone, back_after, heard_after, summary
from tests.phones import Dashboard, lost_values, truth_of
from tests.servers import ROOT, SESSION_SETUP, Daphne, free_port, manage, new_prefix
from tests.test_deploy_nginx import (
    DEPLOY,
    ENV_REPLACED,
    PHONES,
    RECONNECT_LIMIT,
    SETS_PER_PHONE,
    THINK_SECONDS,
    Nginx,
    connections_to,
    database_of_own,
    ensure_database,
    env_file,
    get,
    nginx_available,
    site_config,
    unit_command,
)
from workshop.models import CODE_ALPHABET

pytestmark = [pytest.mark.services, pytest.mark.slow]

DATABASE = database_of_own("hosts")
HOST_ADDRESSES = ("127.0.0.2", "127.0.0.3")
# As deploy/loadbalancer.conf writes them; the test puts its own in their place.
BALANCER_LISTEN = "listen 80;"
BALANCER_HOSTS = ("10.0.1.11:80", "10.0.1.12:80")
# The hosts' nginx and the balancer as one network, as a private network of a real estate would be;
# the test's "clients" come from outside it (127.0.1.x).
TRUSTED_NETWORK = "127.0.0.0/29"
POOL_SIZE = 10


class PgBouncer:
    """Debian's pgbouncer binary with a config of the test's own: transaction pooling, trust."""

    def __init__(self, database: str) -> None:
        self.port = free_port()
        # Not under pytest's tmp_path: pgbouncer refuses to run as root and drops to `postgres`,
        # who must read its config and may not enter root's directories.
        self.dir = Path(tempfile.mkdtemp(prefix="pgbouncer-", dir="/tmp"))
        self.dir.chmod(0o755)
        (self.dir / "userlist.txt").write_text('"postgres" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            f"[databases]\n{database} = host=127.0.0.1 port=5432 dbname={database}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.dir}/userlist.txt\n"
            f"pool_mode = transaction\nmax_client_conn = 2000\ndefault_pool_size = {POOL_SIZE}\n"
        )
        for path in self.dir.iterdir():
            path.chmod(0o644)
        user = ["-u", "postgres"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            [shutil.which("pgbouncer") or "/usr/sbin/pgbouncer", *user, str(self.dir / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "pgbouncer.log", "w"),  # noqa: SIM115 - closed with the process
        )
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", self.port):
            assert self.process.poll() is None, self.log
            assert time.monotonic() < deadline, "pgbouncer did not start"
            time.sleep(0.05)

    @property
    def log(self) -> str:
        return (self.dir / "pgbouncer.log").read_text()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Host:
    """One application host: its nginx (deploy/nginx.conf) on its own address and two daphnes."""

    def __init__(self, address: str, port: int, env: dict[str, str], prefix: Path) -> None:
        self.address = address
        ports = {"listen": port, "a": free_port(), "b": free_port()}
        self.servers = [Daphne(env, port=ports[n], command=unit_command(ports[n])) for n in ("a", "b")]
        site = site_config(ports, ROOT / "staticfiles")
        # A host behind the balancer: its own address, and the scheme the balancer saw passed on
        # (docs/deployment.md, "Several application hosts").
        site = site.replace(f"listen 127.0.0.1:{port};", f"listen {address}:{port};")
        assert site.count("X-Forwarded-Proto $scheme;") == 4  # every location that proxies
        site = site.replace("X-Forwarded-Proto $scheme;", "X-Forwarded-Proto $http_x_forwarded_proto;")
        prefix.mkdir()
        self.nginx = Nginx(site, port, prefix, address=address)

    def connections(self) -> int:
        return sum(connections_to(s) for s in self.servers if s.process.poll() is None)

    def stop(self) -> None:
        """The whole host at once, as when it is shut down: SIGTERM to its nginx and both daphnes."""
        processes = [self.nginx.process, *(s.process for s in self.servers)]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(20)


def balancer_config(port: int, hosts: list[str]) -> str:
    site = (DEPLOY / "loadbalancer.conf").read_text()
    assert site.count(BALANCER_LISTEN) == 1
    site = site.replace(BALANCER_LISTEN, f"listen 127.0.0.1:{port};")
    for old, new in zip(BALANCER_HOSTS, hosts, strict=True):
        assert site.count(f"server {old} ") == 2, old
        site = site.replace(f"server {old} ", f"server {new} ")
    return site


@pytest.fixture
def estate(tmp_path):
    need(nginx_available(), "nginx is not installed (apt-get install nginx)")
    need(shutil.which("pgbouncer") or Path("/usr/sbin/pgbouncer").exists(), "pgbouncer is not installed")
    need(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    need(port_open("127.0.0.1", 5432), "PostgreSQL is not running on 127.0.0.1:5432")
    ensure_database(DATABASE)
    pooler = PgBouncer(DATABASE)
    balancer_port, host_port = free_port(), free_port()
    public_url = f"http://127.0.0.1:{balancer_port}"
    direct_url = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
    example = env_file(DEPLOY / "env.example")
    assert example.keys() >= ENV_REPLACED
    inherited = {k: v for k, v in os.environ.items() if k not in example and k != "DJANGO_SETTINGS_MODULE"}
    env = {
        **inherited,
        **example,
        "SECRET_KEY": "deploy-hosts-test-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": "",
        "PUBLIC_URL": public_url,
        "DATABASE_URL": direct_url,
        "REDIS_PREFIX": new_prefix(),
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECURE_HSTS_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
        # What docs/deployment.md changes for several hosts.
        "TRUSTED_PROXIES": TRUSTED_NETWORK,
    }
    # Migrations go straight to PostgreSQL (docs/deployment.md); the processes through PgBouncer.
    manage("migrate", "--noinput", env=env)
    manage("collectstatic", "--noinput", "--verbosity", "0", env=env, timeout=300)
    code, cookie = manage("shell", "-c", SESSION_SETUP, env=env).split()[-2:]
    pooled = {
        **env,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{pooler.port}/{DATABASE}",
        "DATABASE_POOLER": "pgbouncer",
    }
    hosts: list[Host] = []
    balancer = None
    try:
        for index, address in enumerate(HOST_ADDRESSES):
            hosts.append(Host(address, host_port, pooled, tmp_path / f"host-{index}"))
        (tmp_path / "balancer").mkdir()
        site = balancer_config(balancer_port, [f"{a}:{host_port}" for a in HOST_ADDRESSES])
        balancer = Nginx(site, balancer_port, tmp_path / "balancer")
        yield balancer, hosts, pooler, code, cookie, direct_url
    finally:
        for nginx in [balancer, *(h.nginx for h in hosts)]:
            if nginx is not None and nginx.process.poll() is None:
                nginx.stop()
        for server in (s for h in hosts for s in h.servers):
            if server.process.poll() is None:
                server.stop()
        if artifacts := os.environ.get("ARTIFACTS_DIR"):
            path = Path(artifacts) / "deploy-hosts.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            logs = [p.read_text() for p in tmp_path.glob("*/error.log")]
            path.write_text("".join(x for h in hosts for s in h.servers for x in s.output) + "".join(logs) + pooler.log)
        pooler.stop()


def test_two_hosts_behind_a_balancer_and_pgbouncer_serve_200_phones_and_one_host_stopped_loses_nothing(estate, figure):
    balancer, hosts, pooler, code, cookie, database_url = estate
    port = balancer.port
    started = time.monotonic()

    # The join link on the control panel is the balancer's address, through two proxies.
    status, _, page = get(port, f"/f/s/{code}/", headers={"Cookie": f"sessionid={cookie}"})
    assert status == 200
    shown = re.search(rb'<p class="short-url"><span>([^<]+)</span><wbr><span>([^<]+)</span></p>', page)
    assert shown is not None and shown.group(1).decode() == f"127.0.0.1:{port}"

    # A phone's own address arrives through both (TRUSTED_PROXIES as a network), and the join guard
    # counts it once over every host (the count is in the shared Redis): 20 wrong codes from
    # 127.0.1.9, spread over both hosts, and the 21st is refused; 127.0.1.10 still has its own.
    wrong = next(c for c in CODE_ALPHABET if c != code[0]) + code[1:]
    spoofed = {"X-Forwarded-For": "127.0.1.99"}
    # Each guess another code: over the limit an address learns at most one code a second (issue 23).
    guesses = [c + code[1:] for c in CODE_ALPHABET if c != code[0]][:24]
    answers = [get(port, f"/j/{guess}/", source="127.0.1.9", headers=spoofed)[0] for guess in guesses]
    assert answers[:20] == [404] * 20, answers
    # The rest within a second or two: one lookup a second answered (404), every other refused.
    assert answers[20:].count(429) >= len(answers) - 20 - 2, answers
    assert get(port, f"/j/{wrong}/", source="127.0.1.10")[0] == 404

    with ThreadPoolExecutor(16) as pool:
        loaded = list(pool.map(lambda _: get(port, f"/j/{code}/")[0], range(PHONES)))
    assert loaded == [200] * PHONES, sorted(set(loaded))

    async def scenario() -> dict:
        rng = random.Random(8)
        socket_url = f"ws://127.0.0.1:{port}/ws/p/{code}/"
        phones = [PagePhone(socket_url, random.Random(rng.random()), origin=balancer.url) for _ in range(PHONES)]
        dashboard = Dashboard(f"ws://127.0.0.1:{port}/ws/d/{code}/", cookie, random.Random(3), origin=balancer.url)
        dashboard_task = asyncio.create_task(dashboard.run())
        enough = asyncio.Event()

        def progress() -> None:
            if sum(len(p.acked) for p in phones) >= PHONES * 2:
                enough.set()

        tasks = [asyncio.create_task(p.run(SETS_PER_PHONE, progress, think=THINK_SECONDS)) for p in phones]
        await enough.wait()
        held = [h.connections() for h in hosts]
        victim = hosts[held.index(max(held))]
        stopped_at = time.monotonic()
        await asyncio.to_thread(victim.stop)
        stop_took = time.monotonic() - stopped_at
        _, pending = await asyncio.wait(tasks, timeout=120)
        assert not pending, f"{len(pending)} phones did not finish"
        exact = await dashboard.matches(truth_of(phones))
        dashboard.stopped = True
        dashboard_task.cancel()
        return {
            "held": held,
            "stop_took": stop_took,
            "heard": heard_after(phones, stopped_at),
            "failed_attempts": sum(1 for p in phones for t, _ in p.errors if t > stopped_at),
            "victim_held": max(held),
            "back": back_after(phones, stopped_at),
            "dashboard_back": any(t > stopped_at for t in dashboard.connects),
            "exact": exact,
            "mismatch": dashboard.mismatch,
            "acked": sum(len(p.ack_times) for p in phones),
            "final": sum(len(p.acked) for p in phones),
            "lost": await asyncio.to_thread(lost_values, phones, database_url, code),
        }

    outcome = asyncio.run(scenario())
    back = outcome["back"]
    survivor = next(h for h in hosts if h.nginx.process.poll() is None)
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as conn:
        # Ours is one of them: the pooler's server connections are the others.
        backends = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (DATABASE,)).fetchone()[0]
    figure(
        f"deploy 2 hosts (nginx + 2 daphne each) behind an nginx balancer, PgBouncer (transaction mode, "
        f"pool {POOL_SIZE}): {PHONES} phones held {outcome['held']} sockets per host; the host holding "
        f"{outcome['victim_held']} stopped (its processes gone in {outcome['stop_took']:.1f} s; its phones heard "
        f"the close after {summary(outcome['heard'])}): back through the other: {summary(back)}, "
        f"{outcome['failed_attempts']} failed attempts; dashboard "
        f"{'reconnected' if outcome['dashboard_back'] else 'stayed'}, exact: {outcome['exact']}; "
        f"{outcome['acked']} acknowledgements ({outcome['final']} final values), {outcome['lost']} lost; "
        f"{backends - 1} PostgreSQL connections for 4 processes; test {time.monotonic() - started:.0f} s"
    )
    assert min(outcome["held"]) > 0, "the balancer spread the phones over both hosts"
    assert len(back) + outcome["dashboard_back"] == outcome["victim_held"]
    assert back and max(back) <= RECONNECT_LIMIT
    assert outcome["exact"], outcome["mismatch"]
    assert outcome["lost"] == 0
    assert backends - 1 <= POOL_SIZE
    assert "login attempt" in pooler.log
    for server in survivor.servers:
        assert server.tracebacks == 0, "".join(server.output)


def test_database_pooler_pgbouncer_turns_off_named_cursors_and_prepared_statements():
    show = (
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(d.get('DISABLE_SERVER_SIDE_CURSORS', False), d.get('OPTIONS', {}).get('prepare_threshold', 'unset'))"
    )
    url = "postgres://postgres@127.0.0.1:5432/unused"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_POOLER"}
    pooled = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", show],
        cwd=ROOT,
        env={**env, "DEBUG": "1", "DATABASE_URL": url, "DATABASE_POOLER": "pgbouncer"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    direct = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", show],
        cwd=ROOT,
        env={**env, "DEBUG": "1", "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert pooled.stdout.splitlines()[-1].split() == ["True", "None"], pooled.stderr
    assert direct.stdout.splitlines()[-1].split() == ["False", "unset"], direct.stderr
