"""Join-code guessing is limited per address; finding an open session never is."""

import pytest
from django.core.cache import cache

from tests.conftest import forget_cache, need, port_open
from tests.servers import new_prefix
from tests.sockets import open_socket
from workshop import guard


def fail_until_refused(address: str) -> int:
    """Wrong codes from one address until one is refused; how many were let through."""
    for tries in range(guard.MAX_FAILURES + 1):
        if not guard.lookup_allowed(address, found=False):
            return tries
    return guard.MAX_FAILURES + 1


def test_wrong_codes_are_limited_per_address_and_forgotten_after_the_window(monkeypatch, settings):
    # The in-memory cache, whose clock the test can move; Redis's own expiry is checked below.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    clock = [1_000_000.0]
    monkeypatch.setattr("django.core.cache.backends.locmem.time.time", lambda: clock[0])
    assert fail_until_refused("198.51.100.7") == guard.MAX_FAILURES
    assert not guard.lookup_allowed("198.51.100.7", found=False)
    assert guard.lookup_allowed("198.51.100.8", found=False)
    clock[0] += guard.WINDOW_SECONDS + 1
    assert guard.lookup_allowed("198.51.100.7", found=False)


def test_an_open_session_is_always_found_from_an_address_that_guessed_wrong():
    assert fail_until_refused("198.51.100.7") == guard.MAX_FAILURES
    assert guard.lookup_allowed("198.51.100.7", found=True)


def test_no_address_is_kept_in_the_clear():
    guard.lookup_allowed("198.51.100.7", found=False)
    key = guard.cache_key("198.51.100.7")
    assert cache.get(key) == 1
    assert "198.51.100.7" not in key


@pytest.mark.django_db
def test_the_join_page_answers_429_after_too_many_wrong_codes(client):
    for _ in range(guard.MAX_FAILURES):
        assert client.get("/j/ZZZZZZ/").status_code == 404
    response = client.get("/j/ZZZZZZ/")
    assert response.status_code == 429
    assert "Te veel" in response.content.decode()


@pytest.mark.django_db
def test_a_room_is_never_locked_out_by_wrong_codes_from_its_address(client, workshop_session):
    for _ in range(guard.MAX_FAILURES + 1):
        client.get("/j/ZZZZZZ/")
    assert client.get("/j/ZZZZZZ/").status_code == 429
    # One join past the limit proves that right codes are never counted nor refused.
    statuses = {client.get(f"/j/{workshop_session.code}/").status_code for _ in range(guard.MAX_FAILURES + 1)}
    assert statuses == {200}


@pytest.mark.django_db(transaction=True)
async def test_the_socket_handshake_is_limited_too_but_an_open_session_stays_reachable(workshop_session):
    for _ in range(guard.MAX_FAILURES):
        communicator, _ = await open_socket("/ws/p/ZZZZZZ/", address="198.51.100.9")
        assert await communicator.receive_output() == {"type": "websocket.close", "code": 4404}
    communicator, _ = await open_socket("/ws/p/ZZZZZZ/", address="198.51.100.9")
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4429}
    # The same address, new and returning phones alike, still reaches the open session.
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


@pytest.mark.services
def test_with_redis_the_limit_is_shared_by_every_process_and_keeps_no_address(settings):
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
        assert fail_until_refused("198.51.100.7") == guard.MAX_FAILURES
        assert guard.lookup_allowed("198.51.100.8", found=False)
        # The count is in Redis, where every process reads it.
        client = cache._cache.get_client()
        names = list(client.scan_iter(match=f"{prefix}:*"))
        assert len(names) == 2 and all(b"198.51.100" not in name for name in names)
        assert all(0 < client.ttl(name) <= guard.WINDOW_SECONDS for name in names)
    finally:
        forget_cache()
