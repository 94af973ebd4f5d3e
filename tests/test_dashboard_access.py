"""The dashboard socket follows the pages' rules, also after it opened: logging out, or losing the
facilitator role, ends the live feed."""

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group
from django.test import Client

from tests.sockets import open_socket
from workshop import access

pytestmark = pytest.mark.django_db(transaction=True)


async def logged_in_dashboard(user, code):
    """A dashboard socket on a login session of `user`, and the browser (test client) that holds it."""
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    dashboard, connected = await open_socket(f"/ws/d/{code}/", cookie=cookie)
    assert connected
    assert (await dashboard.receive_json_from(timeout=5))["type"] == "aggregate"
    return dashboard, client


async def test_logging_out_ends_the_live_feed_of_that_login(fenna, workshop_session):
    dashboard, browser = await logged_in_dashboard(fenna, workshop_session.code)
    other, _ = await logged_in_dashboard(fenna, workshop_session.code)
    await database_sync_to_async(browser.post)("/accounts/logout/")
    assert await dashboard.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}
    # Her other login (another laptop) keeps its feed.
    assert await other.receive_nothing(timeout=0.2)
    await other.disconnect()


async def test_losing_the_facilitator_role_ends_the_live_feed(fenna, workshop_session):
    dashboard, _ = await logged_in_dashboard(fenna, workshop_session.code)
    facilitators = await sync_to_async(Group.objects.get)(name=access.FACILITATORS)
    await sync_to_async(fenna.groups.remove)(facilitators)
    assert await dashboard.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


async def test_a_change_that_keeps_the_role_keeps_the_feed(fenna, workshop_session):
    dashboard, _ = await logged_in_dashboard(fenna, workshop_session.code)
    fenna.first_name = "Fenna"
    await sync_to_async(fenna.save)()
    assert await dashboard.receive_nothing(timeout=0.2)
    await dashboard.disconnect()


async def test_a_user_without_the_facilitator_role_gets_no_feed_of_a_session_that_is_hers(rosa, workshop_session):
    workshop_session.facilitator = rosa
    await sync_to_async(workshop_session.save)()
    client = Client()
    await sync_to_async(client.force_login)(rosa)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    dashboard, _ = await open_socket(f"/ws/d/{workshop_session.code}/", cookie=cookie)
    assert await dashboard.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


@pytest.mark.slow
@pytest.mark.services
def test_an_unknown_code_and_someone_elses_session_take_the_same_time_over_a_real_socket(fenna, otto, exercise, figure):
    """Timing is no oracle: a dashboard socket to a code that does not exist and one to another
    facilitator's session close with 4403 after the same time (medians within 1 ms)."""
    import asyncio
    import statistics
    import time

    import websockets
    from django.conf import settings
    from django.db import connection

    from tests.conftest import need, session_cookie
    from tests.servers import daphne, local_env
    from workshop import session_control

    need(connection.vendor == "postgresql", "a daphne process shares the test database on PostgreSQL")
    foreign = session_control.create_session(facilitator=otto, exercise=exercise, title="Otto's").code
    unknown = next(c for c in ("ZZZZZZ", "ZZZZZY") if c != foreign)
    db = settings.DATABASES["default"]
    env = local_env(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        SECRET_KEY=settings.SECRET_KEY,
    )
    cookie = session_cookie(fenna).decode()

    async def refused_after(ws: str, code: str) -> float:
        started = time.perf_counter()
        async with websockets.connect(
            f"{ws}/ws/d/{code}/", origin=ws.replace("ws", "http", 1), additional_headers={"Cookie": cookie}
        ) as socket:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await socket.recv()
        assert closed.value.rcvd.code == 4403
        return time.perf_counter() - started

    async def measure(url: str) -> dict[str, list[float]]:
        ws = url.replace("http", "ws", 1)
        times: dict[str, list[float]] = {"unknown": [], "foreign": []}
        for _ in range(10):  # warm up: connections, the permission cache, the URL resolver
            await refused_after(ws, unknown)
            await refused_after(ws, foreign)
        for _ in range(150):  # interleaved, so that a slow moment of a shared machine hits both alike
            times["unknown"].append(await refused_after(ws, unknown))
            times["foreign"].append(await refused_after(ws, foreign))
        return times

    with daphne(env) as url:
        times = asyncio.run(measure(url))
    medians = {kind: statistics.median(values) * 1000 for kind, values in times.items()}
    figure(
        f"dashboard socket refused: unknown code {medians['unknown']:.2f} ms, "
        f"another facilitator's {medians['foreign']:.2f} ms (medians of 150)"
    )
    assert abs(medians["unknown"] - medians["foreign"]) < 1.0
