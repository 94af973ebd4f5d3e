"""Issue 13 over real sockets: daphne started exactly as the Procfile starts it.

Each server runs the embedded default (an SQLite file, the in-memory layer) on
loopback; "the proxy" is this test, on 127.0.0.1, writing X-Forwarded-For.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
import websockets

from tests.conftest import ROOT
from tests.servers import SESSION_SETUP, Daphne, base_env, manage

# Real daphne processes over real sockets: about a minute together, so not in `make test-fast`.
pytestmark = pytest.mark.slow

PASSWORD = "a-long-test-password"
LIMIT = 1024 * 1024


def procfile_args() -> list[str]:
    """daphne's options from the Procfile, less the address, port and application the test chooses."""
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
    words = iter(line.split()[2:-1])  # after "web: daphne", before "config.asgi:application"
    args = []
    for word in words:
        if word in ("--bind", "--port"):
            next(words)
            continue
        args.append(word)
    return args


@dataclass
class Site:
    server: Daphne
    code: str

    @property
    def port(self) -> int:
        return self.server.port

    def output(self) -> str:
        return "".join(self.server.output)


def start_site(tmp_path_factory, **env_overrides: str) -> Iterator[Site]:
    env = base_env(
        SQLITE_PATH=str(tmp_path_factory.mktemp("db") / "db.sqlite3"),
        DJANGO_SUPERUSER_USERNAME="fenna",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        CSRF_TRUSTED_ORIGINS="",
        **env_overrides,
    )
    manage("migrate", "--noinput", env=env)
    manage("ensure_facilitator", env=env)
    code, _cookie = manage("shell", "-c", SESSION_SETUP, env=env).split()[-2:]
    server = Daphne(env, args=procfile_args())
    try:
        yield Site(server, code)
    finally:
        server.stop()
    assert server.tracebacks == 0, "".join(server.output)


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Iterator[Site]:
    """No TRUSTED_PROXIES, as by default."""
    yield from start_site(tmp_path_factory)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory) -> Iterator[Site]:
    """Behind a proxy on 127.0.0.1, logging everything daphne has to say."""
    yield from start_site(tmp_path_factory, TRUSTED_PROXIES="127.0.0.1", LOG_LEVEL="DEBUG")


def get(site: Site, path: str, **headers: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    try:
        connection.request("GET", path, headers={k.replace("_", "-"): v for k, v in headers.items()})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


class Login:
    """A login form as a browser holds it: the CSRF cookie and token, then any number of posts."""

    def __init__(self, site: Site) -> None:
        self.site = site
        connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
        connection.request("GET", "/accounts/login/")
        response = connection.getresponse()
        html = response.read().decode()
        connection.close()
        self.cookie = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie", "")).group(1)
        self.token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    def post(self, username: str, password: str, forwarded_for: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.site.port, timeout=30)
        body = urlencode({"csrfmiddlewaretoken": self.token, "username": username, "password": password})
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={self.cookie}",
            "X-Forwarded-For": forwarded_for,
        }
        try:
            connection.request("POST", "/accounts/login/", body, headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()


# 1. Addresses ---------------------------------------------------------------------------


def over_the_limit(server, headers) -> bool:
    """Six wrong codes at once from an address over the limit: at most one answered in each second
    (two, when the burst happens to span the turn of a second), the rest refused."""
    statuses = [get(server, f"/j/ZZZZ{c}Y/", **headers(i)) for i, c in enumerate("ABCDEF")]
    return statuses.count(429) >= 4 and set(statuses) <= {404, 429}


def reachable(server, **headers) -> bool:
    """An open session's page, asked again as a reloading phone would, within a few seconds."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if get(server, f"/j/{server.code}/", **headers) == 200:
            return True
        time.sleep(0.3)  # a person reloading the page
    return False


def test_without_trusted_proxies_x_forwarded_for_cannot_dodge_the_join_guard(plain):
    for i in range(20):
        assert get(plain, "/j/ZZZZZZ/", X_Forwarded_For=f"203.0.113.{i}", X_Real_IP=f"198.51.100.{i}") == 404
    # Over the limit: one lookup a second, whatever address each claims to be (it is all 127.0.0.1).
    assert over_the_limit(plain, lambda i: {"X_Forwarded_For": f"203.0.113.{99 + i}"})
    assert reachable(plain, X_Forwarded_For="203.0.113.101")  # an open session still is


def test_behind_a_trusted_proxy_the_guard_counts_the_address_the_proxy_saw(proxied):
    # The proxy appends the real address; whatever the client wrote in front of it is ignored.
    for i in range(20):
        assert get(proxied, "/j/ZZZZZZ/", X_Forwarded_For=f"203.0.113.{i}, 192.0.2.10") == 404
    assert over_the_limit(proxied, lambda i: {"X_Forwarded_For": f"203.0.113.{99 + i}, 192.0.2.10"})
    assert get(proxied, f"/j/{proxied.code}/", X_Forwarded_For="192.0.2.11") == 200


# 3. Login throttling sees the same address ----------------------------------------------------


def test_login_throttling_counts_the_address_the_trusted_proxy_saw(proxied):
    form = Login(proxied)
    for i in range(30):
        assert form.post(f"guess{i}", "wrong", f"203.0.113.{i}, 192.0.2.60") in (200, 429)
    assert form.post("fenna", PASSWORD, "203.0.113.200, 192.0.2.60") == 429
    assert form.post("fenna", PASSWORD, "192.0.2.61") == 302


# 4. Body limits ---------------------------------------------------------------------------


def raw_exchange(port: int, head: bytes, body: Iterable[bytes]) -> tuple[bytes, float]:
    """What the server answers to these bytes, and how long that took; b"" if it never did."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(head)
        try:
            for part in body:
                sock.sendall(part)
        except OSError:
            pass  # the server stopped reading and closed: as it should
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
        return answer, time.monotonic() - started


def request_head(port: int, *headers: str, path: str = "/accounts/login/") -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_declared_300_mib_body_is_answered_413_at_once(plain):
    head = request_head(plain.port, "Content-Type: application/octet-stream", f"Content-Length: {300 * 2**20}")
    answer, seconds = raw_exchange(plain.port, head, [b"x" * 1000])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert seconds < 3


def test_a_chunked_body_is_answered_413_once_it_passes_the_limit(plain):
    chunk = b"x" * 65536
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    head = request_head(plain.port, "Content-Type: application/octet-stream", "Transfer-Encoding: chunked")
    # 20 chunks, 1.25 MiB, and never the closing chunk: only a server that counts as it reads answers.
    answer, seconds = raw_exchange(plain.port, head, [framed] * 20)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert seconds < 3


def test_a_body_at_the_limit_is_read_and_served(plain):
    head = request_head(plain.port, "Content-Type: application/octet-stream", f"Content-Length: {LIMIT}")
    answer, _ = raw_exchange(plain.port, head, [b"x" * LIMIT])
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]  # CSRF refuses it: the view saw it, not the limit


def test_a_body_labelled_multipart_reaches_the_application_as_it_came(plain):
    # Twisted would parse a form or multipart body itself, on the event loop, into a request.args that
    # daphne never reads (670 KB of small fields: 0.36 s in which no socket moves), and answers a body
    # that is not multipart with a bare 400 of its own. The fallback reads its JSON whatever the label.
    body = json.dumps({"token": "t" * 43, "messages": []}).encode()
    head = request_head(
        plain.port,
        "Content-Type: multipart/form-data; boundary=x",
        f"Content-Length: {len(body)}",
        path=f"/p/{plain.code}/send/",
    )
    answer, _ = raw_exchange(plain.port, head, [body])
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]  # the fallback's own answer: hello first


# 7. Logs ------------------------------------------------------------------------------------


def test_no_participant_address_reaches_daphnes_output(proxied):
    seen = len(proxied.server.output)
    addresses = [f"192.0.2.{n}" for n in range(21, 28)]
    assert get(proxied, "/", X_Forwarded_For=addresses[0]) == 200
    assert get(proxied, f"/j/{proxied.code}/", X_Forwarded_For=addresses[1]) == 200
    assert get(proxied, "/j/QQQQQQ/", X_Forwarded_For=addresses[2]) == 404
    assert get(proxied, "/j/%00/", X_Forwarded_For=addresses[3]) == 404
    assert Login(proxied).post("fenna", "wrong", addresses[4]) == 200

    async def join_and_vanish() -> None:
        url = f"ws://127.0.0.1:{proxied.port}/ws/p/{proxied.code}/"
        origin = f"http://127.0.0.1:{proxied.port}"
        headers = {"X-Forwarded-For": addresses[5]}
        ws = await websockets.connect(url, origin=origin, additional_headers=headers)
        await ws.send(json.dumps({"type": "hello", "token": None}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        ws.transport.abort()  # the phone's battery dies: no close frame

    asyncio.run(join_and_vanish())
    with proxied.server.printed:
        assert proxied.server.printed.wait_for(
            lambda: any("phone disconnected" in line for line in proxied.server.output[seen:]), 30
        ), "daphne never noticed the phone was gone"
    output = proxied.output()
    assert "HTTP response complete for" in output  # daphne's DEBUG lines are there, to be checked
    assert not [a for a in addresses if a in output], output
    assert "192.0.2." not in output


def test_every_way_of_running_daphne_ignores_proxy_headers_and_discards_the_access_log():
    for path in ["Procfile", "Makefile", "deploy/schuifoefening@.service"]:
        text = (ROOT / path).read_text().replace("\\\n", " ")
        lines = [line for line in text.splitlines() if "daphne --bind" in line]
        assert lines, path
        for line in lines:
            assert "--proxy-headers" not in line, (path, line)
            # No access log at all (verbosity 0): daphne's would carry every participant's address.
            assert "--verbosity 0" in line, (path, line)
            assert "--access-log" not in line, (path, line)


# 12. Origins ---------------------------------------------------------------------------------


async def socket_accepted(site: Site, origin: str) -> bool:
    url = f"ws://127.0.0.1:{site.port}/ws/p/{site.code}/"
    try:
        # From an address of its own: the join guard's count for 127.0.0.1 is other tests' business.
        headers = {"X-Forwarded-For": "192.0.2.90"}
        async with websockets.connect(url, origin=origin, open_timeout=10, additional_headers=headers) as ws:
            await ws.send(json.dumps({"type": "hello", "token": None}))
            return json.loads(await ws.recv())["type"] == "welcome"
    except websockets.InvalidStatus as refused:
        assert refused.response.status_code == 403
        return False


def test_a_socket_is_accepted_only_from_the_sites_own_scheme_host_and_port(proxied):
    port = proxied.port
    origins = {
        f"http://127.0.0.1:{port}": True,
        "http://127.0.0.1:9999": False,
        f"https://127.0.0.1:{port}": False,
        f"http://localhost:{port}": False,
        "http://evil.example": False,
    }
    got = {origin: asyncio.run(socket_accepted(proxied, origin)) for origin in origins}
    assert got == origins
