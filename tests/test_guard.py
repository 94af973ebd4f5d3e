"""Join-code guessing is limited per address; finding an open session never is."""

import asyncio
import json
import random
import re
import threading
import time

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.test import AsyncClient

from tests.conftest import forget_cache, need, port_open
from tests.phones import backoff
from tests.servers import new_prefix
from tests.sockets import http_client, open_socket
from workshop import guard
from workshop.models import CODE_ALPHABET, CODE_LENGTH


@pytest.fixture(autouse=True)
def _nothing_known_here():
    guard.known_here.clear()
    yield
    guard.known_here.clear()


@pytest.fixture
def frozen_clock(monkeypatch):
    """The guard's clock, held still: the test decides when the next second begins."""
    now = [1_000_000.0]
    monkeypatch.setattr(guard, "clock", lambda: now[0])
    return now


def fail_until_refused(address: str) -> int:
    """Wrong codes from one address until one is refused; how many were let through: the limit, and
    then this second's one lookup."""
    for tries in range(guard.MAX_FAILURES + 2):
        if not guard.lookup_allowed(address, found=False, code=f"W{tries:05d}"):
            return tries
    return guard.MAX_FAILURES + 2


def test_wrong_codes_are_limited_per_address_and_forgotten_after_the_window(monkeypatch, settings, frozen_clock):
    # The in-memory cache, whose clock the test can move; Redis's own expiry is checked below.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    clock = [1_000_000.0]
    monkeypatch.setattr("django.core.cache.backends.locmem.time.time", lambda: clock[0])
    assert fail_until_refused("198.51.100.7") == guard.MAX_FAILURES + 1
    assert not guard.lookup_allowed("198.51.100.7", found=False, code="ZZZZZZ")
    assert guard.lookup_allowed("198.51.100.8", found=False, code="ZZZZZZ")
    clock[0] += guard.WINDOW_SECONDS + 1
    assert fail_until_refused("198.51.100.7") == guard.MAX_FAILURES + 1


def test_an_open_session_is_always_found_from_an_address_under_the_limit():
    for i in range(guard.MAX_FAILURES - 1):
        assert guard.lookup_allowed("198.51.100.7", found=False, code=f"W{i:05d}")
    assert all(guard.lookup_allowed("198.51.100.7", found=True, code=f"OPEN{i:02d}") for i in range(50))


def test_no_address_is_kept_in_the_clear():
    guard.lookup_allowed("198.51.100.7", found=False)
    key = guard.cache_key("198.51.100.7")
    assert cache.get(key) == 1
    assert "198.51.100.7" not in key


def guess(n: int) -> str:
    """The n-th made-up code, of the alphabet real codes are made of."""
    letters = ""
    for _ in range(CODE_LENGTH):
        n, digit = divmod(n, len(CODE_ALPHABET))
        letters += CODE_ALPHABET[digit]
    return letters


def without_csrf(page: bytes) -> bytes:
    return re.sub(rb'(name="csrfmiddlewaretoken" value=|"X-CSRFToken": )"[^"]+"', b"", page)


def over_the_limit(address: str = "127.0.0.1") -> None:
    """Push an address over the limit and spend this second's one lookup."""
    fail_until_refused(address)
    guard.lookup_allowed(address, found=False, code="SPENT0")


@pytest.mark.django_db
def test_the_join_page_answers_429_after_too_many_wrong_codes(client, frozen_clock):
    for _ in range(guard.MAX_FAILURES):
        assert client.get("/j/ZZZZZZ/").status_code == 404
    assert client.get("/j/ZZZZZY/").status_code == 404  # the one lookup of this second
    response = client.get("/j/ZZZZZX/")
    assert response.status_code == 429
    assert "Te veel" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_over_the_limit_an_open_code_gets_the_same_refusal_as_an_unknown_one(client, workshop_session, frozen_clock):
    over_the_limit()
    unknown, open_code = client.get("/j/ZZZZZZ/"), client.get(f"/j/{workshop_session.code}/")
    assert (unknown.status_code, open_code.status_code) == (429, 429)
    # The same page, byte for byte but for its CSRF tokens and its own address (the language switch's form).
    same = without_csrf(open_code.content).replace(workshop_session.code.encode(), b"ZZZZZZ")
    assert without_csrf(unknown.content) == same
    # The HTTP fallback: the same refusal too, also for an open code with a made-up token.
    bogus = b'{"token": "made-up", "messages": [{"type": "ping"}]}'
    answers = [
        client.post(f"/p/{code}/send/", bogus, content_type="application/json")
        for code in ("ZZZZZZ", workshop_session.code)
    ]
    assert [(a.status_code, a.json()) for a in answers] == [(429, {"close": 4429})] * 2
    streams = [
        b"".join(client.post(f"/p/{code}/stream/", b'{"type":"hello","token":null}', content_type="application/json"))
        for code in ("ZZZZZZ", workshop_session.code)
    ]
    assert streams[0] == streams[1] == b'data: {"type":"close","code":4429}\n\n'


@pytest.mark.django_db(transaction=True)
async def test_over_the_limit_a_socket_to_an_open_code_is_refused_like_one_to_an_unknown_code(
    workshop_session, frozen_clock
):
    await sync_to_async(over_the_limit)("198.51.100.9")
    for code in ("ZZZZZZ", workshop_session.code):
        communicator, _ = await open_socket(f"/ws/p/{code}/", address="198.51.100.9")
        assert await communicator.receive_output() == {"type": "websocket.close", "code": 4429}


def test_over_the_limit_an_address_learns_at_most_one_code_a_second(frozen_clock):
    fail_until_refused("198.51.100.7")
    answered = 0
    for second in range(30):
        frozen_clock[0] += 1
        # 50 guesses a second, every one a new code: one of them is answered.
        answered += sum(
            guard.lookup_allowed("198.51.100.7", found=False, code=f"G{second:02d}{i:03d}") for i in range(50)
        )
    assert answered == 30


def test_a_code_the_address_already_had_its_answer_for_costs_nothing(frozen_clock):
    fail_until_refused("198.51.100.7")
    frozen_clock[0] += 1
    assert guard.lookup_allowed("198.51.100.7", found=True, code="ROOM42")  # this second's lookup
    assert not guard.lookup_allowed("198.51.100.7", found=False, code="OTHER1")
    # Every other phone of that room, and every reconnect, in the same second and later.
    assert all(guard.lookup_allowed("198.51.100.7", found=True, code="ROOM42") for _ in range(60))
    # Another address has its own budget, and its own answers.
    assert guard.lookup_allowed("198.51.100.8", found=True, code="ROOM42")


@pytest.mark.django_db
def test_a_room_is_never_locked_out_by_wrong_codes_from_its_address(client, workshop_session, frozen_clock):
    for _ in range(guard.MAX_FAILURES + 1):
        client.get("/j/ZZZZZZ/")
    frozen_clock[0] += 1
    # One join past the limit proves that an answered code stays reachable.
    statuses = {client.get(f"/j/{workshop_session.code}/").status_code for _ in range(guard.MAX_FAILURES + 1)}
    assert statuses == {200}


@pytest.mark.django_db(transaction=True)
async def test_the_socket_handshake_is_limited_too_but_an_open_session_stays_reachable(workshop_session, frozen_clock):
    for _ in range(guard.MAX_FAILURES):
        communicator, _ = await open_socket("/ws/p/ZZZZZZ/", address="198.51.100.9")
        assert await communicator.receive_output() == {"type": "websocket.close", "code": 4404}
    communicator, _ = await open_socket("/ws/p/ZZZZZY/", address="198.51.100.9")
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4404}  # this second's
    communicator, _ = await open_socket("/ws/p/ZZZZZX/", address="198.51.100.9")
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4429}
    frozen_clock[0] += 1
    # The same address, new and returning phones alike, reaches the open session from the next second.
    communicator, connected = await open_socket(f"/ws/p/{workshop_session.code}/", address="198.51.100.9")
    assert connected
    await communicator.send_json_to({"type": "hello", "token": None})
    welcome = await communicator.receive_json_from()
    assert welcome["type"] == "welcome"
    await communicator.disconnect()
    communicator, connected = await open_socket(f"/ws/p/{workshop_session.code}/", address="198.51.100.9")
    assert connected
    await communicator.send_json_to({"type": "hello", "token": welcome["token"]})
    assert (await communicator.receive_json_from())["type"] == "welcome"
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_sixty_phones_behind_a_flooding_address_all_join_within_a_minute(workshop_session, fenna, figure):
    """Someone behind the venue's one address floods the guard with guesses, thousands a second, the
    whole time (straight at the budget that the join page, sockets, the fallback and the PDF share: no
    HTTP round trip slows it down); the room's 60 phones scan the screen's QR code, load the page and
    open their socket as the real phone does (backoff on 429/4429). First come, first served, the flood
    takes every one lookup a second (without the QR link's proof not one phone joined in a minute);
    the proof lets the room in."""
    address, code = "198.51.100.20", workshop_session.code
    await sync_to_async(fail_until_refused)(address)
    facilitator = AsyncClient()
    await sync_to_async(facilitator.force_login)(fenna)
    screen = await facilitator.get(f"/f/s/{code}/screen/")
    qr_link = screen.context["qr_link"]
    assert qr_link.split("?")[0].endswith(f"/j/{code}/") and "k=" in qr_link
    scanned = qr_link.split("://", 1)[1].partition("/")[2]  # the path and query the phone's camera opens
    stop = threading.Event()
    guesses, learnt = [0], [0]

    def flood() -> None:
        # Guesses the whole time, and a burst at the start of every second (the server's clock is in
        # its Date header): the first lookup of a second is the one that gets an answer.
        while not stop.is_set():
            burst = time.time() % guard.TICK_SECONDS > guard.TICK_SECONDS - 0.005
            for _ in range(50 if burst else 1):
                guesses[0] += 1
                learnt[0] += guard.lookup_allowed(address, found=False, code=guess(guesses[0]))

    async def phone(number: int) -> float:
        rng = random.Random(number)
        client = http_client(address)
        started = time.monotonic()
        attempt = 0
        while (await client.get(f"/{scanned}")).status_code != 200:
            await asyncio.sleep(backoff(attempt, rng, cap=30))  # the page reloaded after a wait
            attempt += 1
        attempt = 0
        while True:
            communicator, connected = await open_socket(f"/ws/p/{code}/", address=address)
            assert connected
            await communicator.send_json_to({"type": "hello", "token": None})
            first = await communicator.receive_output(30)
            if first["type"] == "websocket.send":
                assert json.loads(first["text"])["type"] == "welcome"
                await communicator.disconnect()
                return time.monotonic() - started
            assert first == {"type": "websocket.close", "code": 4429}
            await asyncio.sleep(backoff(attempt, rng, cap=30))  # static/workshop/live/backoff.js
            attempt += 1

    flooding = time.monotonic()
    flooder = threading.Thread(target=flood)
    flooder.start()
    try:
        joined = await asyncio.wait_for(asyncio.gather(*(phone(n) for n in range(60))), 60)
    finally:
        stop.set()
        await sync_to_async(flooder.join)()
    flooded = time.monotonic() - flooding
    figure(
        f"60 phones behind a flooding address: all joined in {max(joined):.1f} s, through a flood of "
        f"{guesses[0]:,} guesses in {flooded:.1f} s that got {learnt[0]} answers"
    )
    # Over the limit the flood learns at most one code a second.
    assert learnt[0] <= flooded + 1


def test_a_qr_link_proves_its_own_code_only(frozen_clock):
    """The QR link's proof lets its own code through from an address over the limit, and no other code:
    it cannot be carried to a guess, nor made up."""
    address = "198.51.100.21"
    fail_until_refused(address)
    frozen_clock[0] += 1
    assert guard.lookup_allowed(address, found=False, code="AAAAAA")  # this second's one lookup
    assert not guard.lookup_allowed(address, found=True, code="BBBBBB", given_proof=guard.proof("CCCCCC"))
    assert not guard.lookup_allowed(address, found=True, code="BBBBBB", given_proof="0" * 16)
    assert guard.lookup_allowed(address, found=True, code="BBBBBB", given_proof=guard.proof("BBBBBB"))
    assert guard.lookup_allowed(address, found=True, code="BBBBBB")  # its socket, after the page


@pytest.mark.services
def test_with_redis_the_limit_is_shared_by_every_process_and_keeps_no_address(settings, frozen_clock):
    need(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    prefix = new_prefix()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",
            "KEY_PREFIX": prefix,
        }
    }
    try:
        assert fail_until_refused("198.51.100.7") == guard.MAX_FAILURES + 1
        assert guard.lookup_allowed("198.51.100.8", found=False)
        # The count is in Redis, where every process reads it.
        client = cache._cache.get_client()
        names = list(client.scan_iter(match=f"{prefix}:*"))
        assert len(names) >= 2 and all(b"198.51.100" not in name for name in names)
        assert all(0 < client.ttl(name) <= guard.WINDOW_SECONDS for name in names)
    finally:
        forget_cache()
