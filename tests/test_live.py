"""The per-process Outbox and the in-memory live store."""

import asyncio

from workshop import live
from workshop.stats import BINS


class GatedStore(live.MemoryStore):
    """A MemoryStore whose first apply waits for a gate, like a slow Redis round trip."""

    def __init__(self) -> None:
        super().__init__(60)
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def apply(self, code, updates):
        self.entered.set()
        await self.gate.wait()
        await super().apply(code, updates)


async def test_a_value_put_during_a_slow_batch_is_applied_in_the_next(monkeypatch):
    store = GatedStore()
    monkeypatch.setattr(live, "get_store", lambda: store)
    notified = asyncio.Queue()

    async def notify(code):
        await notified.put(code)

    outbox = live.Outbox(0.001, notify)
    outbox.put("ROOM01", 1, "a", 69)
    await store.entered.wait()  # the first batch is inside apply
    outbox.put("ROOM01", 1, "a", 70)
    store.gate.set()
    async with asyncio.timeout(5):
        await notified.get()
        await notified.get()  # the second batch notifies too
    snapshot = await store.snapshot("ROOM01", ["a"])
    assert snapshot.counts["a"][70] == 1 and sum(snapshot.counts["a"]) == 1
    assert await store.positions_of("ROOM01", 1, ["a"]) == {"a": 70}


async def test_many_puts_in_one_window_make_one_batch_and_one_notification():
    store = live.MemoryStore(60)
    notified = asyncio.Queue()

    async def notify(code):
        await notified.put(code)

    outbox = live.Outbox(0.01, notify)
    original = live.get_store
    live.get_store = lambda: store
    try:
        for value in range(101):
            outbox.put("ROOM02", 1, "a", value)
        outbox.put("ROOM02", 2, "a", 5)
        async with asyncio.timeout(5):
            assert await notified.get() == "ROOM02"
        assert notified.empty()
    finally:
        live.get_store = original
    snapshot = await store.snapshot("ROOM02", ["a"])
    assert snapshot.counts["a"][100] == 1 and snapshot.counts["a"][5] == 1


async def test_removing_a_position_takes_it_out_of_the_counts():
    store = live.MemoryStore(60)
    await store.apply("ROOM03", {(1, "a"): 40, (2, "a"): 40})
    await store.apply("ROOM03", {(1, "a"): None})
    snapshot = await store.snapshot("ROOM03", ["a", "b"])
    assert snapshot.counts["a"][40] == 1
    assert snapshot.counts["b"] == [0] * BINS


async def test_seeding_never_overwrites_a_newer_live_value():
    store = live.MemoryStore(60)
    await store.apply("ROOM04", {(1, "a"): 90})
    await store.seed("ROOM04", members=[1, 2], positions=[(1, "a", 10), (2, "a", 20)])
    assert await store.positions_of("ROOM04", 1, ["a"]) == {"a": 90}
    assert await store.positions_of("ROOM04", 2, ["a"]) == {"a": 20}
    assert (await store.snapshot("ROOM04", ["a"])).joined == 2


async def test_a_phone_stops_counting_as_connected_after_the_ttl():
    store = live.MemoryStore(connected_ttl=0)
    await store.touch("ROOM05", 1)
    assert (await store.snapshot("ROOM05", [])).connected == 0
