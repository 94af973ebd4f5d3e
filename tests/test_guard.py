"""Join-code guessing is limited per address; joining a real code never is."""

import pytest

from tests.conftest import need, port_open
from tests.servers import new_prefix
from tests.sockets import open_socket
from workshop import guard


@pytest.fixture(autouse=True)
def _fresh_guard():
    guard.forget_all()
    yield
    guard.forget_all()


def test_wrong_codes_are_limited_per_address_and_forgotten_after_the_window(settings):
    settings.REDIS_URL = ""  # the in-memory count, whose clock the test can move
    for i in range(guard.MAX_FAILURES):
        assert not guard.blocked("198.51.100.7", now=i)
        guard.failed("198.51.100.7", now=i)
    assert guard.blocked("198.51.100.7", now=30)
    assert not guard.blocked("198.51.100.8", now=30)
    assert not guard.blocked("198.51.100.7", now=30 + guard.WINDOW_SECONDS)


def test_no_address_is_kept_in_the_clear(settings):
    settings.REDIS_URL = ""
    guard.failed("198.51.100.7")
    assert guard._failures and all(b"198.51.100.7" not in key for key in guard._failures)


@pytest.mark.django_db
def test_the_join_page_answers_429_after_too_many_wrong_codes(client):
    for _ in range(guard.MAX_FAILURES):
        assert client.get("/j/ZZZZZZ/").status_code == 404
    response = client.get("/j/ZZZZZZ/")
    assert response.status_code == 429
    assert "Te veel" in response.content.decode()


@pytest.mark.django_db
def test_joins_of_a_real_code_from_one_address_past_the_limit_all_succeed(client, workshop_session):
    # One join past the number of wrong codes that blocks an address proves that right
    # codes are never counted; thousands more would prove nothing else.
    statuses = {client.get(f"/j/{workshop_session.code}/").status_code for _ in range(guard.MAX_FAILURES + 1)}
    assert statuses == {200}


@pytest.mark.django_db(transaction=True)
async def test_the_socket_handshake_is_limited_too(workshop_session):
    for _ in range(guard.MAX_FAILURES):
        communicator, _ = await open_socket("/ws/p/ZZZZZZ/", address="198.51.100.9")
        assert await communicator.receive_output() == {"type": "websocket.close", "code": 4404}
    communicator, _ = await open_socket(f"/ws/p/{workshop_session.code}/", address="198.51.100.9")
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4429}
    # Another address is not affected.
    communicator, connected = await open_socket(f"/ws/p/{workshop_session.code}/", address="198.51.100.10")
    assert connected
    await communicator.send_json_to({"type": "hello", "token": None})
    assert (await communicator.receive_json_from())["type"] == "welcome"
    await communicator.disconnect()


@pytest.mark.services
def test_with_redis_the_limit_is_shared_by_every_process_and_keeps_no_address(settings):
    need(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.LIVE_PREFIX = new_prefix()
    try:
        for _ in range(guard.MAX_FAILURES):
            assert not guard.blocked("198.51.100.7")
            guard.failed("198.51.100.7")
        # The count is in Redis, not here: another process (an empty memory) sees it too.
        assert not guard._failures
        assert guard.blocked("198.51.100.7")
        assert not guard.blocked("198.51.100.8")
        client = guard._client(settings.REDIS_URL)
        names = list(client.scan_iter(match=f"{settings.LIVE_PREFIX}:guard:*"))
        assert len(names) == 1 and b"198.51.100.7" not in names[0]
        assert 0 < client.ttl(names[0]) <= guard.WINDOW_SECONDS
    finally:
        guard.forget_all()
