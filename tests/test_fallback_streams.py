"""The fallback holds a hall: an open event stream holds no thread and no database connection, costs a few
kilobytes, lets go of every descriptor when it ends, and streams are capped per phone and per address.

The caps run in-process through the whole ASGI application (as daphne calls it); the hall itself runs on
real daphne processes: 1,000 streams on PostgreSQL with a role limited to 10 connections, and on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection

from tests.conftest import need, port_open
from tests.phones import Http
from tests.phones import HttpPhone as RealHttpPhone
from tests.servers import SESSION_SETUP, Daphne, base_env, free_port, manage, new_prefix
from tests.test_fallback import HttpPhone
from workshop.models import Participant
from workshop.runtime import runtime

pytestmark = pytest.mark.django_db(transaction=True)

HALL = 1000
# What one idle stream may cost the server process (the budget; a websocket phone costs about 30 KB).
STREAM_KB = 50
CONNECTIONS = 10
PASSWORD = "a-long-test-password"


# The caps, in-process.


async def test_a_new_stream_of_the_same_phone_replaces_the_old_one_which_is_told_why(workshop_session):
    code = workshop_session.code
    first = HttpPhone(code)
    welcome = await first.open()
    participant = await sync_to_async(Participant.objects.get)()
    second = HttpPhone(code)
    assert (await second.open(token=welcome["token"]))["type"] == "welcome"
    # The old stream says why it ends and closes with 4409, which the page takes as final.
    replaced = await first.next_event()
    assert (replaced["type"], replaced["code"]) == ("error", "replaced")
    assert await first.next_event() == {"type": "close", "code": 4409}
    await first.close()
    # One phone, one stream, counted once; its POSTs reach the new stream.
    assert len(runtime().http_phones) == 1
    assert runtime().presence[(code, participant.pk)] == 1
    answer = await second.send({"type": "set", "slider": "regie", "value": 40, "seq": 1})
    assert answer["replies"] == [{"type": "ack", "seq": 1, "round": 1}]
    await second.close()
    assert runtime().http_phones == {} and not runtime().http_streams
    assert (code, participant.pk) not in runtime().presence


async def test_streams_over_the_per_address_limit_get_429_with_an_error_the_page_shows(workshop_session, settings):
    settings.FALLBACK_STREAMS_PER_ADDRESS = 3
    code = workshop_session.code
    hall = [HttpPhone(code, "192.0.2.7") for _ in range(3)]
    for phone in hall:
        assert (await phone.open())["type"] == "welcome"
    late = HttpPhone(code, "192.0.2.7")
    refused = await late.open()
    assert late.status == 429
    assert (refused["type"], refused["code"]) == ("error", "too_many_streams") and refused["message"]
    # Refused before its hello: nobody joined for it.
    assert await sync_to_async(Participant.objects.count)() == 3
    # Another address has its own count; a stream that ends frees its place.
    assert (await HttpPhone(code, "198.51.100.4").open())["type"] == "welcome"
    await hall[0].close()
    assert (await late.open())["type"] == "welcome"
    # A POST is no stream: the phones at the limit still send.
    assert (await hall[1].send({"type": "ping"}))["replies"] == [{"type": "pong"}]
    for phone in [*hall, late]:
        await phone.close()
    assert not runtime().http_streams


async def test_the_address_is_the_one_the_trusted_proxy_saw_and_is_neither_kept_nor_logged(
    workshop_session, settings, caplog
):
    caplog.set_level(logging.DEBUG)
    settings.FALLBACK_STREAMS_PER_ADDRESS = 2
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1/32")]
    code = workshop_session.code

    def behind_proxy(forwarded_for: str, peer: str = "127.0.0.1") -> HttpPhone:
        phone = HttpPhone(code, peer)
        phone.headers = [*phone.headers, (b"x-forwarded-for", forwarded_for.encode())]
        return phone

    phones = [behind_proxy("192.0.2.50"), behind_proxy("192.0.2.50")]
    for phone in phones:
        assert (await phone.open())["type"] == "welcome"
    assert (await behind_proxy("192.0.2.50").open())["code"] == "too_many_streams"
    assert (await behind_proxy("192.0.2.51").open())["type"] == "welcome"
    # From a peer that is no trusted proxy, a forwarded address is ignored: it cannot dodge the cap.
    dodgers = [behind_proxy(f"198.51.100.{i}", peer="203.0.113.9") for i in range(3)]
    answers = [await phone.open() for phone in dodgers]
    assert [a.get("code") for a in answers] == [None, None, "too_many_streams"]
    held = repr(dict(runtime().http_streams))
    for address in ("192.0.2.50", "192.0.2.51", "203.0.113.9", "127.0.0.1"):
        assert address not in held and address not in caplog.text
    for phone in [*phones, *dodgers]:
        await phone.close()


async def test_the_fallbacks_door_answers_as_django_would(workshop_session):
    phone = HttpPhone(workshop_session.code)
    assert (await phone.post(f"/p/{workshop_session.code}/stream/", b"", method="GET"))[0] == 405
    phone.headers = [(b"host", b"evil.example"), (b"content-type", b"application/json")]
    hello = json.dumps({"type": "hello", "token": None}).encode()
    assert (await phone.post(f"/p/{workshop_session.code}/stream/", hello))[0] == 400
    assert (await phone.post(f"/p/{workshop_session.code}/send/", b"{}"))[0] == 400
    # A malformed code never reaches the fallback: Django answers it as any path it does not know.
    phone = HttpPhone("ZZ")
    assert (await phone.post("/p/ZZ/stream/", hello))[0] in (301, 404)  # 301: the in-process app's HTTPS redirect
    assert await sync_to_async(Participant.objects.count)() == 0


# The hall, on real daphne processes.


def process_figures(pid: int) -> dict[str, float]:
    """Threads, memory, and descriptors: all of them, and those that are not the Redis client's pool (which
    keeps up to 100 connections open for reuse after a burst of commands, whatever carried the burst)."""
    process = psutil.Process(pid)
    redis = sum(1 for c in process.net_connections("tcp") if c.raddr and c.raddr.port == 6379)
    fds = process.num_fds()
    return {
        "threads": process.num_threads(),
        "fds": fds,
        "own_fds": fds - redis,
        "rss_kb": process.memory_info().rss / 1024,
    }


def open_files_named(pid: int, name: str) -> int:
    found = 0
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            found += name in os.readlink(entry)
    return found


async def open_hall(port: int, code: str, count: int, batch: int = 100) -> list[tuple[RealHttpPhone, asyncio.Task]]:
    """`count` phones on the fallback, each welcomed on its own event stream."""
    hall = []
    for start in range(0, count, batch):
        phones = [RealHttpPhone(port, code) for _ in range(min(batch, count - start))]
        tasks = [asyncio.create_task(phone.listen()) for phone in phones]
        async with asyncio.timeout(60):
            await asyncio.gather(*(welcomed(phone, task) for phone, task in zip(phones, tasks, strict=True)))
        hall += zip(phones, tasks, strict=True)
    return hall


async def welcomed(phone: RealHttpPhone, listening: asyncio.Task) -> None:
    """Until the phone's welcome; a stream that fails first (a 500 when the server ran out) fails here."""
    waiting = asyncio.ensure_future(phone.welcomed.wait())
    await asyncio.wait({waiting, listening}, return_when=asyncio.FIRST_COMPLETED)
    if not phone.welcomed.is_set():
        waiting.cancel()
        listening.result()
        raise AssertionError("the stream ended before its welcome")


async def close_hall(hall: list[tuple[RealHttpPhone, asyncio.Task]]) -> None:
    for phone, task in hall:
        task.cancel()
        if phone.stream.writer is not None:
            phone.stream.writer.close()
    await asyncio.gather(*(task for _phone, task in hall), return_exceptions=True)


async def settle(pid: int, key: str, target: float, timeout: float = 20) -> float:
    """The process's figure once it is at most `target`, or its value when the time is up."""
    deadline = time.monotonic() + timeout
    while (value := process_figures(pid)[key]) > target and time.monotonic() < deadline:
        await asyncio.sleep(0.2)  # polling another process's /proc: there is no event to await
    return value


async def log_in(port: int, username: str, password: str) -> tuple[int, int]:
    """The login form as a browser posts it; the status of the POST and of the facilitator's home after it."""
    page = Http(port)
    status, _form = await page.request("/accounts/login/", b"", method="GET")
    assert status == 200, status
    token = page.cookies["csrftoken"]
    form = f"csrfmiddlewaretoken={token}&username={username}&password={password}".encode()
    headers = {"Cookie": f"csrftoken={token}", "Content-Type": "application/x-www-form-urlencoded"}
    status, _body = await page.request("/accounts/login/", form, headers)
    session = page.cookies.get("sessionid", "")
    home, _page = await page.request("/f/", b"", {"Cookie": f"sessionid={session}"}, method="GET")
    return status, home


@contextlib.contextmanager
def limited_role(limit: int) -> Iterator[str]:
    """A PostgreSQL role of this test's own that may hold at most `limit` connections (superusers have no limit)."""
    name = f"fallback_hall_{secrets.token_hex(4)}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {name} LOGIN CONNECTION LIMIT {limit}")
        cursor.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {name}")
        cursor.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {name}")
    try:
        yield name
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {name}")
            cursor.execute(f"DROP ROLE {name}")


def connections_of(role: str) -> int:
    """The role's connections now, asked on a connection of its own (called from a worker thread)."""
    import psycopg

    db = django_settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres") as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,)).fetchone()[0]


@pytest.mark.slow
@pytest.mark.services
def test_a_thousand_fallback_phones_on_postgresql_take_at_most_ten_connections(fenna, workshop_session, figure):
    need(connection.vendor == "postgresql", "the hall needs PostgreSQL (set DATABASE_URL)")
    need(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    db = django_settings.DATABASES["default"]
    code = workshop_session.code
    # The tests hash with MD5 for speed; the server verifies with the production hashers.
    fenna.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    fenna.save()
    with limited_role(CONNECTIONS) as role:
        env = base_env(
            DATABASE_URL=f"postgres://{role}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            REDIS_PREFIX=new_prefix(),
            SECRET_KEY=django_settings.SECRET_KEY,
            FALLBACK_STREAMS_PER_ADDRESS=str(2 * HALL),  # the whole hall comes from 127.0.0.1
        )
        server = Daphne(env)
        pid = server.process.pid
        try:
            figures = asyncio.run(hall_on(server.port, pid, code, lambda: connections_of(role)))
        finally:
            server.stop()
        assert not server.tracebacks, "".join(server.output)
    assert figures["most_connections"] <= CONNECTIONS
    assert figures["healthz"] == (200, {"database": "ok", "channel_layer": "ok"})
    assert figures["login"] == (302, 200)
    assert figures["threads_held"] <= figures["threads_before"] + 2, figures
    assert figures["kb_per_stream"] <= STREAM_KB, figures
    assert figures["fds_after"] <= figures["fds_before"] + 5, figures
    figure(
        f"fallback hall on PostgreSQL: {HALL} streams, at most {figures['most_connections']} connections, "
        f"threads {figures['threads_before']} → {figures['threads_held']}, {figures['kb_per_stream']:.1f} KB "
        f"per stream, descriptors {figures['fds_before']} → {figures['fds_held']} → {figures['fds_after']}"
    )


async def hall_on(port: int, pid: int, code: str, connections: object) -> dict:
    count = sync_to_async(connections, thread_sensitive=False)  # type: ignore[arg-type]
    most = 0
    # Warm up (imports, the shared session, the database thread), then measure from an idle server.
    await close_hall(await open_hall(port, code, 20))
    await asyncio.sleep(1)  # let the warm-up's connections finish closing in the kernel and the server
    before = process_figures(pid)
    hall = []
    for _ in range(HALL // 100):
        hall += await open_hall(port, code, 100)
        most = max(most, await count())
    held = process_figures(pid)
    most = max(most, await count())
    status, body = await Http(port).request("/healthz", b"", method="GET")
    login = await log_in(port, "fenna", PASSWORD)
    most = max(most, await count())
    await close_hall(hall)
    fds_after = await settle(pid, "own_fds", before["own_fds"] + 5)
    most = max(most, await count())
    return {
        "most_connections": most,
        "healthz": (status, json.loads(body)),
        "login": login,
        "threads_before": before["threads"],
        "threads_held": held["threads"],
        "kb_per_stream": (held["rss_kb"] - before["rss_kb"]) / HALL,
        "fds_before": before["own_fds"],
        "fds_held": held["own_fds"],
        "fds_after": fds_after,
    }


@pytest.mark.slow
def test_on_sqlite_streams_open_no_database_files_and_leave_no_descriptor_behind(tmp_path, figure):
    database = tmp_path / "hall.sqlite3"
    env = base_env(SQLITE_PATH=str(database), FALLBACK_STREAMS_PER_ADDRESS="1000")
    manage("migrate", "--noinput", env=env)
    code, _cookie = manage("shell", "-c", SESSION_SETUP, env=env).split()[-2:]
    server = Daphne(env)
    pid = server.process.pid
    try:

        async def scenario() -> dict:
            await close_hall(await open_hall(server.port, code, 20))
            await asyncio.sleep(1)
            before = process_figures(pid)
            hall = await open_hall(server.port, code, 500)
            held = process_figures(pid) | {"db": open_files_named(pid, database.name)}
            await close_hall(hall)
            after = await settle(pid, "fds", before["fds"] + 5)
            return {
                "before": before,
                "held": held,
                "fds_after": after,
                "db_after": open_files_named(pid, database.name),
            }

        found = asyncio.run(scenario())
    finally:
        server.stop()
    assert not server.tracebacks, "".join(server.output)
    # One connection for the process's database thread: the file, its WAL and its shared memory.
    assert found["held"]["db"] <= 3, found
    assert found["db_after"] <= 3, found
    assert found["held"]["threads"] <= found["before"]["threads"] + 2, found
    assert found["fds_after"] <= found["before"]["fds"] + 5, found
    figure(
        f"fallback on SQLite: 500 streams held {found['held']['db']} database descriptors; descriptors "
        f"{found['before']['fds']} → {found['held']['fds']} → {found['fds_after']} after they closed"
    )


async def first_line(port: int, path: str, body: bytes, source: str) -> tuple[int, asyncio.StreamWriter]:
    """POST from a loopback address of the test's choosing; the status, and the connection (kept open)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    return int((await reader.readline()).split()[1]), writer


@pytest.mark.slow
@pytest.mark.services
def test_nginx_refuses_a_201st_stream_from_one_address_with_the_apps_json_error(tmp_path):
    from tests.test_deploy_nginx import Nginx, nginx_available, site_config

    need(nginx_available(), "nginx is not installed (apt-get install nginx)")
    site = (Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf").read_text()
    (limit,) = (int(n) for n in re.findall(r"limit_conn schuifoefening_streams (\d+);", site))
    assert limit == django_settings.FALLBACK_STREAMS_PER_ADDRESS  # the site and the default setting agree
    env = base_env(
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        TRUSTED_PROXIES="127.0.0.1",
        FALLBACK_STREAMS_PER_ADDRESS=str(5 * limit),  # nginx, the edge, refuses first
    )
    manage("migrate", "--noinput", env=env)
    code, _cookie = manage("shell", "-c", SESSION_SETUP, env=env).split()[-2:]
    server = Daphne(env)
    listen = free_port()
    (tmp_path / "nginx").mkdir()
    nginx = Nginx(
        site_config({"listen": listen, "a": server.port, "b": server.port}, tmp_path), listen, tmp_path / "nginx"
    )
    hello = json.dumps({"type": "hello", "token": None}).encode()

    async def scenario() -> None:
        hall = await open_hall(listen, code, limit)
        status, body = await Http(listen).request(f"/p/{code}/stream/", hello)
        assert status == 429, status
        refusal = json.loads(body)
        assert (refusal["type"], refusal["code"]) == ("error", "too_many_streams")
        # Another address has its own count; a stream that ends frees its place.
        status, other = await first_line(listen, f"/p/{code}/stream/", hello, "127.0.0.2")
        assert status == 200
        other.close()
        await close_hall(hall[:1])
        for _attempt in range(50):  # nginx counts the closed connection down once it has noticed it
            status, again = await first_line(listen, f"/p/{code}/stream/", hello, "127.0.0.1")
            again.close()
            if status == 200:
                break
            await asyncio.sleep(0.1)
        assert status == 200
        await close_hall(hall[1:])

    try:
        asyncio.run(scenario())
    finally:
        nginx.stop()
        server.stop()
    assert not server.tracebacks, "".join(server.output)
