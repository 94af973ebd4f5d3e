"""The per-process Outbox and the in-memory live store."""

import asyncio

from channels.layers import get_channel_layer
from hypothesis import given
from hypothesis import strategies as st

from workshop import broadcast, live
from workshop.runtime import Outbox
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


async def dashboards_of(code: str) -> str:
    """A channel in the session's dashboard group, as a DashboardConsumer would have."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(broadcast.dashboard_group(code), channel)
    return channel


async def test_a_value_put_during_a_slow_batch_is_applied_in_the_next():
    store = GatedStore()
    layer = get_channel_layer()
    dashboard = await dashboards_of("ROOM01")
    outbox = Outbox(store, 0.001)
    outbox.put("ROOM01", (1, 1, "a"), 69)
    await store.entered.wait()  # the first batch is inside apply
    outbox.put("ROOM01", (1, 1, "a"), 70)
    store.gate.set()
    async with asyncio.timeout(5):
        assert await layer.receive(dashboard) == {"type": "live.changed"}
        assert await layer.receive(dashboard) == {"type": "live.changed"}  # the second batch notifies too
    snapshot = await store.snapshot("ROOM01")
    assert snapshot.counts_for(1, "a")[70] == 1 and sum(snapshot.counts_for(1, "a")) == 1
    assert await store.positions_of("ROOM01", 1, 1, ["a"]) == {"a": 70}


async def test_many_puts_in_one_window_make_one_batch_and_one_notification():
    store = live.MemoryStore(60)
    layer = get_channel_layer()
    dashboard = await dashboards_of("ROOM02")
    outbox = Outbox(store, 0.01)
    for value in range(101):
        outbox.put("ROOM02", (1, 1, "a"), value)
    outbox.put("ROOM02", (1, 2, "a"), 5)
    async with asyncio.timeout(5):
        assert await layer.receive(dashboard) == {"type": "live.changed"}
        await outbox.flush()  # nothing left: no second notification
        await layer.send(dashboard, {"type": "marker"})
        assert await layer.receive(dashboard) == {"type": "marker"}
    snapshot = await store.snapshot("ROOM02")
    assert snapshot.counts_for(1, "a")[100] == 1 and snapshot.counts_for(1, "a")[5] == 1


async def test_the_embedded_store_takes_a_move_at_once_and_wakes_dashboards_once_per_window():
    store = live.MemoryStore(60)
    layer = get_channel_layer()
    dashboard = await dashboards_of("ROOM08")
    outbox = Outbox(store, 0.01, direct=store.apply_now)
    for value in range(50):
        outbox.put("ROOM08", (1, 1, "a"), value)
        # In the store before any batch: a dashboard that draws now shows it.
        assert await store.positions_of("ROOM08", 1, 1, ["a"]) == {"a": value}
    await outbox.put_and_wait("ROOM08", (1, 2, "a"), 7)
    assert (await store.snapshot("ROOM08")).counts_for(1, "a")[7] == 1
    async with asyncio.timeout(5):
        assert await layer.receive(dashboard) == {"type": "live.changed"}
        await layer.send(dashboard, {"type": "marker"})
        assert await layer.receive(dashboard) == {"type": "marker"}  # one wake-up for all 51 values


async def test_removing_a_position_takes_it_out_of_the_counts():
    store = live.MemoryStore(60)
    await store.apply("ROOM03", {(1, 1, "a"): 40, (1, 2, "a"): 40})
    await store.apply("ROOM03", {(1, 1, "a"): None})
    snapshot = await store.snapshot("ROOM03")
    assert snapshot.counts_for(1, "a")[40] == 1
    assert snapshot.counts_for(1, "b") == [0] * BINS


async def test_seeding_never_overwrites_a_newer_live_value():
    store = live.MemoryStore(60)
    await store.apply("ROOM04", {(1, 1, "a"): 90})
    await store.seed("ROOM04", members={1: None, 2: None}, positions=[(1, 1, "a", 10), (1, 2, "a", 20)])
    assert await store.positions_of("ROOM04", 1, 1, ["a"]) == {"a": 90}
    assert await store.positions_of("ROOM04", 2, 1, ["a"]) == {"a": 20}
    assert (await store.snapshot("ROOM04")).joined == 2


async def test_a_phone_stops_counting_as_connected_after_the_ttl():
    store = live.MemoryStore(connected_ttl=0)
    await store.touch("ROOM05", 1)
    assert (await store.snapshot("ROOM05")).connected == 0


async def test_groups_abstentions_and_rounds_are_counted_apart():
    store = live.MemoryStore(60)
    await store.seed("ROOM06", members={1: 7, 2: None}, positions=[])
    await store.apply("ROOM06", {(1, 1, "a"): 30, (1, 2, "a"): live.ABSTAIN, (2, 1, "a"): 80})
    snapshot = await store.snapshot("ROOM06")
    assert sum(snapshot.counts_for(1, "a")) == 1 and snapshot.abstained_for(1, "a") == 1
    assert snapshot.counts_for(1, "a", live.group_scope(7))[30] == 1
    assert snapshot.abstained_for(1, "a", live.group_scope(7)) == 0
    assert snapshot.counts_for(2, "a")[80] == 1
    assert snapshot.group_sizes == {7: 1}


async def test_choosing_a_group_counts_what_was_placed_for_that_group_at_once():
    store = live.MemoryStore(60)
    await store.add_member("ROOM07", 1, None)
    await store.apply("ROOM07", {(1, 1, "a"): 30, (1, 1, "b"): live.ABSTAIN})
    await store.add_member("ROOM07", 1, 7)
    snapshot = await store.snapshot("ROOM07")
    assert snapshot.counts_for(1, "a", live.group_scope(7))[30] == 1
    assert snapshot.abstained_for(1, "b", live.group_scope(7)) == 1
    assert sum(snapshot.counts_for(1, "a")) == 1  # the room counts it once, as before
    await store.add_member("ROOM07", 1, 8)
    snapshot = await store.snapshot("ROOM07")
    assert sum(snapshot.counts_for(1, "a", live.group_scope(7))) == 0
    assert snapshot.counts_for(1, "a", live.group_scope(8))[30] == 1


POSITION = st.tuples(st.integers(1, 2), st.integers(1, 6), st.sampled_from("ab"), st.integers(-1, 100))


@given(
    members=st.dictionaries(st.integers(1, 6), st.one_of(st.none(), st.integers(1, 3))),
    positions=st.lists(POSITION, max_size=30),
)
def test_a_tally_of_committed_rows_equals_the_live_stores_snapshot(members, positions):
    store = live.MemoryStore(60)

    async def live_snapshot():
        await store.seed("ROOM08", members=members, positions=positions)
        return await store.snapshot("ROOM08")

    assert live.tally(members, positions) == asyncio.run(live_snapshot())
