"""Issue 13, in-process: addresses, login throttling, body limits, CSV cells, log scrubbing, bad paths, origins.

The same promises over a real daphne socket are in tests/test_hardening_daphne.py.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import logging
from datetime import timedelta

import pytest
from channels.testing import ApplicationCommunicator, WebsocketCommunicator
from django.test import Client

from config.asgi import application
from config.limits import BodyLimitMiddleware
from config.logfilters import ScrubAddresses, scrub
from config.proxies import TrustedProxyMiddleware, resolve_client
from tests.sockets import from_address, open_socket
from workshop import closing, session_control
from workshop.downloads import csv_stream
from workshop.models import Participant, Position

PASSWORD = "a-long-test-password"


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    # Each failed login hashes a password; the default hasher would make 30 of them take seconds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# 1. Addresses ---------------------------------------------------------------------------


def nets(*items: str) -> tuple:
    return tuple(ipaddress.ip_network(item) for item in items)


def test_the_client_is_the_right_most_hop_that_is_not_a_trusted_proxy():
    peer = ipaddress.ip_address("10.0.0.2")
    hops = ["203.0.113.66", "192.0.2.10", "10.0.0.1"]  # client-written, the real client, an inner proxy
    assert str(resolve_client(peer, hops, nets("10.0.0.0/24"))) == "192.0.2.10"
    assert str(resolve_client(peer, ["garbage", "192.0.2.10"], nets("10.0.0.0/24"))) == "192.0.2.10"
    # From a peer that is no trusted proxy, the headers say nothing.
    assert str(resolve_client(ipaddress.ip_address("192.0.2.99"), hops, nets("10.0.0.0/24"))) == "192.0.2.99"


async def through_proxy_middleware(scope_headers: list[tuple[bytes, bytes]], peer: str, trusted: tuple) -> dict:
    seen = {}

    async def app(scope, receive, send):
        seen.update(scope)

    await TrustedProxyMiddleware(app, trusted)(
        {"type": "http", "client": [peer, 4000], "scheme": "http", "headers": scope_headers}, None, None
    )
    return seen


async def test_forwarded_headers_from_an_untrusted_peer_are_ignored_and_removed():
    headers = [(b"x-forwarded-for", b"203.0.113.66"), (b"x-forwarded-proto", b"https"), (b"x-real-ip", b"1.2.3.4")]
    scope = await through_proxy_middleware(headers, "192.0.2.7", ())
    assert scope["client"][0] == "192.0.2.7"
    assert scope["scheme"] == "http"
    assert scope["headers"] == []  # so Django's SECURE_PROXY_SSL_HEADER cannot be fooled either


async def test_a_trusted_proxy_sets_the_client_and_the_scheme():
    headers = [(b"x-forwarded-for", b"203.0.113.66, 192.0.2.10"), (b"x-forwarded-proto", b"https")]
    scope = await through_proxy_middleware(headers, "127.0.0.1", nets("127.0.0.1/32"))
    assert scope["client"][0] == "192.0.2.10"
    assert scope["scheme"] == "https"
    real_ip = await through_proxy_middleware([(b"x-real-ip", b"192.0.2.11")], "127.0.0.1", nets("127.0.0.1/32"))
    assert real_ip["client"][0] == "192.0.2.11"


def test_the_join_guard_counts_the_address_a_trusted_proxy_saw(settings, db, monkeypatch):
    # Through the whole ASGI application, as daphne calls it for a proxy on 127.0.0.1.
    import asyncio

    from workshop import guard

    monkeypatch.setattr(guard, "clock", lambda: 1_000_000.0)  # one second, held still

    settings.TRUSTED_PROXIES = nets("127.0.0.1/32")

    async def get(path: str, forwarded_for: str) -> int:
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "GET",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "scheme": "http",
            # The proxy terminates TLS: without X-Forwarded-Proto the page would redirect to https.
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"x-forwarded-for", forwarded_for.encode()),
                (b"x-forwarded-proto", b"https"),
            ],
            "client": ["127.0.0.1", 5000],
            "server": ["127.0.0.1", 8000],
        }
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(10)
        await communicator.receive_output(10)
        return start["status"]

    async def scenario() -> list[int]:
        # 20 wrong codes from 192.0.2.10, each with another address written in front by the client.
        for i in range(20):
            assert await get("/j/ZZZZZZ/", f"203.0.113.{i}, 192.0.2.10") == 404
        assert await get("/j/ZZZZZY/", "192.0.2.10") == 404  # over the limit: this second's one lookup
        return [
            await get("/j/ZZZZZZ/", "203.0.113.200, 192.0.2.10"),
            await get("/j/ZZZZZZ/", "192.0.2.11"),
        ]

    assert asyncio.run(scenario()) == [429, 404]


# 3. Login throttling ----------------------------------------------------------------------


def login(path: str, username: str, password: str, address: str) -> int:
    client = Client(REMOTE_ADDR=address)
    return client.post(path, {"username": username, "password": password}).status_code


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_ten_failures_for_one_username_lock_it_from_that_address_even_with_the_right_password(
    path, admin_user_persona, fenna
):
    user = admin_user_persona if path.startswith("/admin/") else fenna
    for _ in range(9):
        assert login(path, user.username, "wrong", "192.0.2.1") == 200
    # Nine failures: not yet.
    assert login(path, user.username, PASSWORD, "192.0.2.1") == 302
    assert login(path, user.username, "wrong", "192.0.2.1") == 429  # the tenth
    response = Client(REMOTE_ADDR="192.0.2.1").post(path, {"username": user.username, "password": PASSWORD})
    assert response.status_code == 429
    text = response.content.decode()
    dutch = text.index("Het inloggen is te vaak mislukt. Wacht 15 minuten")
    english = text.index("Logging in failed too often. Wait 15 minutes")
    assert dutch < english
    assert "kun je niet inloggen" in text
    # Another facilitator is not affected; nor is this one from another address (tests/test_accounts.py).
    assert login(path, "otto-does-not-exist", "wrong", "192.0.2.1") == 200
    assert login(path, user.username, PASSWORD, "198.51.100.1") == 302


@pytest.mark.slow  # a subprocess, real PDFs or real password hashes: over a second
def test_thirty_failures_from_one_address_lock_that_address_only(fenna):
    for i in range(29):
        assert login("/accounts/login/", f"guess{i}", "wrong", "192.0.2.77") == 200
    assert login("/accounts/login/", "guess29", "wrong", "192.0.2.77") == 429
    assert login("/accounts/login/", "fenna", PASSWORD, "192.0.2.77") == 429
    assert login("/admin/login/", "fenna", PASSWORD, "192.0.2.77") == 429
    assert login("/accounts/login/", "fenna", PASSWORD, "192.0.2.78") == 302


def test_the_lockout_ends_after_15_minutes(fenna):
    from axes.models import AccessAttempt

    for _ in range(10):
        login("/accounts/login/", "fenna", "wrong", "192.0.2.1")
    assert login("/accounts/login/", "fenna", PASSWORD, "192.0.2.1") == 429
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.first().attempt_time - timedelta(minutes=16))
    assert login("/accounts/login/", "fenna", PASSWORD, "192.0.2.1") == 302


def test_axes_logs_no_address(fenna, caplog):
    caplog.set_level(logging.INFO)
    for _ in range(10):
        login("/accounts/login/", "fenna", "wrong", "192.0.2.123")
    axes_lines = [r.getMessage() for r in caplog.records if r.name.startswith("axes")]
    assert any("fenna" in line for line in axes_lines)
    assert not any("192.0.2.123" in line for line in axes_lines)
    from axes.models import AccessLog

    assert not AccessLog.objects.exists()  # no log of successful logins with their addresses


def test_force_login_still_works_for_tests(fenna_client):
    assert fenna_client.get("/f/").status_code == 200


# 4. Body limits ---------------------------------------------------------------------------


def http_scope(headers: list[tuple[bytes, bytes]]) -> dict:
    return {"type": "http", "method": "POST", "path": "/", "headers": headers}


async def test_a_declared_body_over_the_limit_is_refused_before_it_is_read():
    called = []

    async def app(scope, receive, send):
        called.append(scope)

    async def receive():
        raise AssertionError("the body must not be read")

    sent = []

    async def send(message):
        sent.append(message)

    await BodyLimitMiddleware(app, limit=1024)(http_scope([(b"content-length", b"314572800")]), receive, send)
    assert sent[0]["status"] == 413 and not called


async def test_a_chunked_body_is_read_only_until_it_passes_the_limit():
    chunks = [{"type": "http.request", "body": b"x" * 600, "more_body": True} for _ in range(100)]
    read = []

    async def receive():
        read.append(chunks.pop(0))
        return read[-1]

    sent = []

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):
        raise AssertionError("the application must not see this request")

    await BodyLimitMiddleware(app, limit=1024)(http_scope([]), receive, send)
    assert sent[0]["status"] == 413
    assert len(read) == 2  # 1,200 bytes: past the limit, and not one chunk more


async def test_a_body_within_the_limit_reaches_the_application_whole():
    parts = [b"a" * 500, b"b" * 500]
    messages = [
        {"type": "http.request", "body": parts[0], "more_body": True},
        {"type": "http.request", "body": parts[1], "more_body": False},
    ]

    async def receive():
        return messages.pop(0)

    got = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            got.append(message["body"])
            if not message.get("more_body"):
                break

    await BodyLimitMiddleware(app, limit=1024)(http_scope([]), receive, None)
    assert b"".join(got) == b"".join(parts)


# 6. CSV cells -----------------------------------------------------------------------------


def test_csv_text_cells_that_a_spreadsheet_would_run_get_an_apostrophe_and_numbers_stay():
    rows = [["=1+1", "+31", "-x", "@SUM(A1)", "\tx", "\rx", "gewoon", 42, -3, 0.5, ""]]
    (line,) = csv_stream(rows)
    assert next(csv.reader(io.StringIO(line))) == [
        "'=1+1",
        "'+31",
        "'-x",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "gewoon",
        "42",
        "-3",
        "0.5",
        "",
    ]


def test_a_group_named_like_a_formula_is_neutralised_in_results_and_archive_csv(
    fenna_client, researcher_client, workshop_session
):
    group = session_control.add_group(session=workshop_session, name='=HYPERLINK("http://evil.example","klik")')
    slider = workshop_session.exercise.sliders.get(key="regie")
    for n in range(3):
        participant = Participant.objects.create(session=workshop_session, token_hash=f"{n}" * 64, group=group)
        Position.objects.create(participant=participant, slider=slider, round=1, value=10 + n)
    closing.close_session(session=workshop_session)

    results = b"".join(fenna_client.get(f"/f/s/{workshop_session.code}/results.csv").streaming_content).decode()
    groups = {row["group"] for row in csv.DictReader(io.StringIO(results))}
    assert groups == {"'" + group.name}

    archive = b"".join(researcher_client.get("/archive/export.csv").streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(archive)))
    assert {row["group"] for row in rows} == {"'" + group.name}
    assert {row["value"] for row in rows} == {"10", "11", "12"}


# 7. Logs ------------------------------------------------------------------------------------


def test_the_log_filter_scrubs_ipv4_and_ipv6_from_messages_arguments_and_tracebacks():
    assert scrub("HTTP response complete for ['192.0.2.7', 51234]") == "HTTP response complete for ['[address]', 51234]"
    assert scrub("client 2001:db8::1 and ::ffff:192.0.2.1.") == "client [address] and [address]."
    assert scrub("at 12:30:05.123, version 4.2.3") == "at 12:30:05.123, version 4.2.3"
    assert scrub("Listening on TCP address 127.0.0.1:8000") == "Listening on TCP address 127.0.0.1:8000"
    try:
        raise ValueError("peer 198.51.100.4 went away")
    except ValueError:
        import sys

        record = logging.LogRecord("daphne", logging.ERROR, __file__, 1, "for %s", ("192.0.2.9",), sys.exc_info())
    assert ScrubAddresses().filter(record)
    text = logging.Formatter().format(record)
    assert "192.0.2.9" not in text and "198.51.100.4" not in text and "[address]" in text


def test_every_logging_handler_scrubs_addresses():
    from django.conf import settings

    handlers = settings.LOGGING["handlers"]
    assert handlers and all("no_addresses" in handler.get("filters", []) for handler in handlers.values())
    for name in ["", "daphne", "daphne.http_protocol", "twisted", "django.server", "django.request", "axes"]:
        logger = logging.getLogger(name)
        while logger:
            for handler in logger.handlers:
                if type(handler).__module__.startswith("_pytest"):
                    continue  # pytest's own capture
                assert any(isinstance(f, ScrubAddresses) for f in handler.filters), (name, handler)
            logger = logger.parent if logger.propagate else None


# 11. Bad paths -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/j/%00/", "/j/" + "A" * 300 + "/", "/j/%C3%A9/", "/j/ABC/", "/j/ABCDE1/"])
def test_bad_join_paths_are_a_plain_404(client, db, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/f/s/%00/", "/f/s/%00/results.csv", "/f/s/" + "K" * 300 + "/", "/f/s/%C3%A9/"])
def test_bad_facilitator_paths_are_a_plain_404(fenna_client, path):
    assert fenna_client.get(path).status_code == 404


def test_a_lowercase_code_still_joins(client, lobby_session):
    assert client.get(f"/j/{lobby_session.code.lower()}/").status_code == 200


@pytest.mark.parametrize(
    "path", ["/ws/p/%00/", "/ws/d/%00/", "/ws/p/" + "A" * 300 + "/", "/ws/p/%C3%A9/", "/ws/nothing/", "/elsewhere"]
)
async def test_bad_socket_paths_close_with_4404(db, path):
    communicator, connected = await open_socket(path)
    assert connected
    assert await communicator.receive_output(5) == {"type": "websocket.close", "code": 4404}


# 12. Origins ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        (b"http://127.0.0.1", True),  # the page this socket's Host names (port 80)
        (b"http://127.0.0.1:9999", False),  # another port on the same machine
        (b"https://127.0.0.1", False),  # another scheme
        (b"http://localhost", False),  # another allowed host, but not this page's
        (b"http://127.0.0.1.evil.example", False),
    ],
)
async def test_the_origin_must_match_scheme_host_and_port(workshop_session, origin, accepted):
    _, connected = await open_socket(f"/ws/p/{workshop_session.code}/", origin=(b"origin", origin))
    assert connected is accepted


async def connects(path: str, headers: list[tuple[bytes, bytes]], app=application) -> bool:
    communicator = WebsocketCommunicator(app, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    if connected:
        await communicator.disconnect()
    return connected


async def test_a_site_behind_tls_accepts_its_https_origin_and_not_its_http_twin(workshop_session, settings):
    path = f"/ws/p/{workshop_session.code}/"
    settings.ALLOWED_HOSTS = ["schuif.example.nl"]
    host = (b"host", b"schuif.example.nl")
    # Named in CSRF_TRUSTED_ORIGINS: accepted even when the proxy's X-Forwarded-Proto is not believed.
    settings.CSRF_TRUSTED_ORIGINS = ["https://schuif.example.nl"]
    assert await connects(path, [host, (b"origin", b"https://schuif.example.nl")])
    # Behind a trusted proxy that says https, the page's own origin is the https one.
    settings.CSRF_TRUSTED_ORIGINS = []
    settings.TRUSTED_PROXIES = nets("127.0.0.1/32")
    proxied = from_address("127.0.0.1")
    tls = (b"x-forwarded-proto", b"https")
    assert await connects(path, [host, tls, (b"origin", b"https://schuif.example.nl")], proxied)
    assert not await connects(path, [host, tls, (b"origin", b"http://schuif.example.nl")], proxied)
    assert not await connects(path, [host, tls, (b"origin", b"https://schuif.example.nl:8443")], proxied)
