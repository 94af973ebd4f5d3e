"""Numbers an operator can watch: GET /metrics for Prometheus, off by default, answered only to the addresses
in METRICS_ALLOWED_ADDRESSES (resolved behind trusted proxies), counting this process's phones, moves, sets,
dashboard updates and their lag, guard refusals and database and Redis errors."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from channels.testing import HttpCommunicator
from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.servers import ROOT, Daphne, free_port, local_env, manage
from tests.sockets import aggregate_until, from_address, open_dashboard, phone
from workshop import guard, metrics

pytestmark = pytest.mark.django_db(transaction=True)

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def metrics_on(settings, monkeypatch):
    """As a process started with METRICS_ENABLED=1: the endpoint on, and the hooks (which read it at start)."""
    settings.METRICS_ENABLED = True
    settings.METRICS_ALLOWED_ADDRESSES = LOOPBACK
    monkeypatch.setattr(metrics, "ON", True)


async def scrape(address: str, *, headers: list[tuple[bytes, bytes]] = (), method: str = "GET"):
    communicator = HttpCommunicator(
        from_address(address), method, "/metrics", headers=[(b"host", b"127.0.0.1"), *headers]
    )
    response = await communicator.get_response(timeout=5)
    return response["status"], response["body"].decode()


async def test_the_endpoint_is_off_by_default(settings):
    assert settings.METRICS_ENABLED is False
    status, body = await scrape("127.0.0.1")
    # Django's answer, as for any unknown page (here the HTTPS redirect of the application loaded at start).
    assert status in (301, 404)
    assert "schuifoefening_" not in body


async def test_an_allowed_address_gets_every_number_and_another_is_refused(metrics_on):
    status, body = await scrape("127.0.0.1")
    assert status == 200
    for name in (
        'schuifoefening_phones_connected{transport="socket"}',
        'schuifoefening_phones_connected{transport="http"}',
        "schuifoefening_dashboards_connected",
        "schuifoefening_moves_total",
        "schuifoefening_sets_total",
        "schuifoefening_dashboard_update_lag_seconds_bucket",
        "schuifoefening_dashboard_update_lag_seconds_count",
        "schuifoefening_guard_refusals_total",
        'schuifoefening_service_errors_total{service="database"}',
        'schuifoefening_service_errors_total{service="redis"}',
        "process_cpu_seconds_total",
        "process_open_fds",
    ):
        assert name in body, name
    assert (await scrape("198.51.100.9"))[0] == 403
    assert (await scrape("127.0.0.1", method="POST"))[0] == 405


async def test_behind_a_trusted_proxy_the_forwarded_client_decides(metrics_on, settings):
    settings.TRUSTED_PROXIES = (ipaddress.ip_network("127.0.0.1/32"),)
    settings.METRICS_ALLOWED_ADDRESSES = (ipaddress.ip_network("10.0.0.0/24"),)
    # Prometheus at 10.0.0.5 through nginx on the host: allowed. Anyone else through nginx: refused, also
    # when they write an allowed address into X-Forwarded-For themselves (nginx appends the real one).
    assert (await scrape("127.0.0.1", headers=[(b"x-forwarded-for", b"10.0.0.5")]))[0] == 200
    assert (await scrape("127.0.0.1", headers=[(b"x-forwarded-for", b"10.0.0.5, 203.0.113.7")]))[0] == 403
    # Nor may an untrusted peer claim to forward for an allowed one.
    assert (await scrape("203.0.113.7", headers=[(b"x-forwarded-for", b"10.0.0.5")]))[0] == 403
    assert (await scrape("127.0.0.1"))[0] == 403  # loopback itself is no longer in the list


async def test_phones_moves_sets_and_dashboard_updates_are_counted(metrics_on, workshop_session, fenna):
    before = {
        "moves": value("schuifoefening_moves_total"),
        "sets": value("schuifoefening_sets_total"),
        "updates": value("schuifoefening_dashboard_update_lag_seconds_count"),
    }
    dashboard = await open_dashboard(fenna, workshop_session.code)
    await aggregate_until(dashboard, lambda m: True)
    assert value("schuifoefening_dashboards_connected") == 1
    sockets = value("schuifoefening_phones_connected", transport="socket")
    communicator, _ = await phone(workshop_session.code)
    assert value("schuifoefening_phones_connected", transport="socket") == sockets + 1
    for v in (10, 20, 30):
        await communicator.send_json_to({"type": "move", "slider": "regie", "value": v})
    await communicator.send_json_to({"type": "set", "slider": "regie", "value": 30, "seq": 1})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "ack"
    assert value("schuifoefening_moves_total") == before["moves"] + 3
    assert value("schuifoefening_sets_total") == before["sets"] + 1
    await aggregate_until(dashboard, lambda m: "regie" in str(m))
    assert value("schuifoefening_dashboard_update_lag_seconds_count") > before["updates"]
    lag_sum = value("schuifoefening_dashboard_update_lag_seconds_sum")
    assert 0 < lag_sum < 5 * value("schuifoefening_dashboard_update_lag_seconds_count")
    await communicator.disconnect()
    await dashboard.disconnect()
    assert value("schuifoefening_phones_connected", transport="socket") == sockets
    assert value("schuifoefening_dashboards_connected") == 0


def test_guard_refusals_and_service_errors_are_counted(metrics_on, monkeypatch):
    monkeypatch.setattr(guard, "clock", lambda: 1_000_000.0)  # one second: over the limit, one lookup a second
    refused = value("schuifoefening_guard_refusals_total")
    # The limit's failures, this second's one lookup, then two refused.
    for n in range(guard.MAX_FAILURES + 3):
        guard.lookup_allowed("198.51.100.7", found=False, code=f"ZZZ{n:03d}")
    assert value("schuifoefening_guard_refusals_total") == refused + 2
    database = value("schuifoefening_service_errors_total", service="database")
    redis = value("schuifoefening_service_errors_total", service="redis")
    metrics.unavailable(OperationalError("server closed the connection"))
    metrics.unavailable(RedisConnectionError("Connection refused"))
    assert value("schuifoefening_service_errors_total", service="database") == database + 1
    assert value("schuifoefening_service_errors_total", service="redis") == redis + 1


def test_off_the_hooks_count_nothing():
    assert metrics.ON is False  # the test settings, as the default
    moves = value("schuifoefening_moves_total")
    metrics.moved()
    metrics.phone_connected("socket")
    assert value("schuifoefening_moves_total") == moves


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("METRICS_ENABLED", "maybe", "METRICS_ENABLED must be a boolean"),
        ("METRICS_ALLOWED_ADDRESSES", "127.0.0.1,prometheus.internal", "METRICS_ALLOWED_ADDRESSES must be"),
    ],
)
def test_a_bad_setting_stops_start_up_with_a_message(name, raw, message):
    env = {**local_env(), name: raw}
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.slow
def test_each_daphne_process_serves_its_own_numbers_to_a_scraper_on_the_host(tmp_path):
    """As deployed: HTTPS redirect on, ALLOWED_HOSTS the public name; Prometheus on the host scrapes
    127.0.0.1:<port>/metrics of each process directly, and the public name's /metrics stays refused."""
    env = local_env(
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        ALLOWED_HOSTS="schuif.example.nl",
        SECURE_SSL_REDIRECT="1",
        METRICS_ENABLED="1",
        METRICS_ALLOWED_ADDRESSES="127.0.0.1",
    )
    env.pop("DATABASE_URL", None)
    manage("migrate", "--noinput", env=env)
    servers = [Daphne(env, port=free_port()) for _ in range(2)]
    try:
        for server in servers:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as response:
                body = response.read().decode()
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
            assert "schuifoefening_phones_connected" in body and "process_start_time_seconds" in body
            # Every other path still goes through Django: the HTTPS redirect.
            request = urllib.request.Request(f"http://127.0.0.1:{server.port}/healthz", headers={"Host": "x"})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code in (301, 400)
    finally:
        for server in servers:
            server.stop()
