"""The live path on the real services: channels-redis, the Redis store, PostgreSQL."""

import random

import pytest
from django.db import connection

from tests.conftest import REQUIRE_SERVICES, need, port_open
from tests.servers import new_prefix
from tests.sockets import aggregate_until, open_dashboard, phone, slider
from workshop import live
from workshop.live_redis import RedisStore
from workshop.models import Position
from workshop.runtime import runtime

pytestmark = pytest.mark.services

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def on_redis(settings):
    need(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    settings.REDIS_URL = REDIS_URL
    settings.LIVE_PREFIX = new_prefix()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": settings.LIVE_PREFIX},
        }
    }
    return settings


def test_ci_runs_on_postgresql(db):
    if not REQUIRE_SERVICES:
        pytest.skip("only checked when REQUIRE_SERVICES=1")
    assert connection.vendor == "postgresql"


async def test_the_redis_and_memory_stores_agree(on_redis):
    redis_store = runtime().store
    assert isinstance(redis_store, RedisStore)
    memory_store = live.MemoryStore(60)
    rng = random.Random(7)
    sliders = ["a", "b"]
    code = "AGREE" + str(rng.randint(0, 9))
    members = {p: (p % 3 or None) for p in range(1, 10)}
    seed = [(1, p, s, rng.randint(0, 100)) for p in range(1, 6) for s in sliders]
    for store in (redis_store, memory_store):
        await store.forget(code)
        await store.seed(code, members=members, positions=seed)
    values = [None, live.ABSTAIN, *range(101)]
    for step in range(40):
        updates = {(rng.randint(1, 2), rng.randint(1, 9), rng.choice(sliders)): rng.choice(values) for _ in range(5)}
        for store in (redis_store, memory_store):
            await store.apply(code, updates)
        if step % 10 == 9:
            # A participant moves into a group mid-session (or a new one joins): their values move with them.
            participant, group = rng.randint(1, 12), rng.choice([None, 1, 2, 3])
            for store in (redis_store, memory_store):
                await store.add_member(code, participant, group)
    # Seeding again never overwrites newer live values.
    for store in (redis_store, memory_store):
        await store.seed(code, members={}, positions=seed)
    assert await redis_store.snapshot(code) == await memory_store.snapshot(code)
    for participant in range(1, 10):
        for round in (1, 2):
            assert await redis_store.positions_of(code, participant, round, sliders) == await memory_store.positions_of(
                code, participant, round, sliders
            )
    await redis_store.forget(code)


@pytest.mark.django_db(transaction=True)
async def test_phone_to_dashboard_over_channels_redis(on_redis, fenna, workshop_session):
    dashboard = await open_dashboard(fenna, workshop_session.code)
    await dashboard.receive_json_from(timeout=5)
    communicator, _ = await phone(workshop_session.code)
    await communicator.send_json_to({"type": "move", "slider": "verankering", "value": 64})
    await communicator.send_json_to({"type": "set", "slider": "horizon", "value": 12, "seq": 1})
    assert await communicator.receive_json_from(timeout=5) == {"type": "ack", "seq": 1, "round": 1}
    message = await aggregate_until(
        dashboard, lambda m: slider(m, "verankering")["median"] == 64 and slider(m, "horizon")["n"] == 1
    )
    assert message["connected"] == 1
    assert await Position.objects.filter(value=12).aexists()
    await communicator.disconnect()
    await dashboard.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_flushed_redis_is_refilled_from_the_database(on_redis, fenna, workshop_session):
    communicator, welcome = await phone(workshop_session.code)
    await communicator.send_json_to({"type": "set", "slider": "aanpak", "value": 77, "seq": 1})
    await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    from workshop.runtime import runtime

    await runtime().outbox.flush()
    await runtime().store.forget(workshop_session.code)  # as after a Redis restart
    again, second = await phone(workshop_session.code, token=welcome["token"])
    assert second["positions"]["aanpak"] == 77
    snapshot = await runtime().store.snapshot(workshop_session.code)
    assert sum(snapshot.counts_for(1, "aanpak")) == 1 and snapshot.joined == 1
    await again.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_every_redis_key_of_a_session_expires(on_redis, fenna, workshop_session):
    from redis import asyncio as aioredis

    dashboard = await open_dashboard(fenna, workshop_session.code)
    await dashboard.receive_json_from(timeout=5)
    communicator, _ = await phone(workshop_session.code)
    await communicator.send_json_to({"type": "move", "slider": "verankering", "value": 64})
    await communicator.send_json_to({"type": "abstain", "slider": "regie", "seq": 1})
    await communicator.send_json_to({"type": "set", "slider": "horizon", "value": 12, "seq": 2})
    replies = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
    assert {r["type"] for r in replies} == {"ack"}, replies
    await runtime().outbox.flush()
    client = aioredis.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{on_redis.LIVE_PREFIX}:live:{workshop_session.code}:*")]
    names = {key.decode().rsplit(":", 1)[1] for key in keys}
    assert {"pos", "cnt", "mem", "conn", "seeded"} <= names, names
    ttls = {key.decode(): await client.ttl(key) for key in keys}
    assert all(ttl > 0 for ttl in ttls.values()), ttls
    await client.aclose()
    await communicator.disconnect()
    await dashboard.disconnect()
