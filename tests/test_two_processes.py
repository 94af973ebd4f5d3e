"""Two daphne processes on one Redis and one PostgreSQL give one dashboard."""

import asyncio
import json

import pytest
import websockets
from django.conf import settings
from django.db import connection

from tests.conftest import need, port_open, session_cookie
from tests.servers import base_env, daphne, new_prefix

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def test_a_phone_on_one_process_shows_on_a_dashboard_on_another(fenna, workshop_session):
    need(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    need(connection.vendor == "postgresql", "two processes need PostgreSQL (set DATABASE_URL)")
    db = settings.DATABASES["default"]
    database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = base_env(
        DATABASE_URL=database_url,
        REDIS_URL="redis://127.0.0.1:6379/0",
        REDIS_PREFIX=new_prefix(),
        SECRET_KEY=settings.SECRET_KEY,
    )
    cookie = session_cookie(fenna).decode()
    code = workshop_session.code

    async def scenario(a: str, b: str) -> dict:
        ws_a, ws_b = a.replace("http", "ws"), b.replace("http", "ws")
        async with websockets.connect(
            f"{ws_b}/ws/d/{code}/", origin=b, additional_headers={"Cookie": cookie}
        ) as dashboard:
            first = json.loads(await dashboard.recv())
            assert first["type"] == "aggregate"
            # Idle past channels-redis's 5 s blocking read: an idle socket must survive it.
            await asyncio.sleep(6)
            async with websockets.connect(f"{ws_a}/ws/p/{code}/", origin=a) as phone:
                await phone.send(json.dumps({"type": "hello", "token": None}))
                assert json.loads(await phone.recv())["type"] == "welcome"
                await phone.send(json.dumps({"type": "move", "slider": "regie", "value": 83}))
                async with asyncio.timeout(10):
                    while True:
                        message = json.loads(await dashboard.recv())
                        await dashboard.send(json.dumps({"type": "seen"}))
                        regie = next(s for s in message["sliders"] if s["key"] == "regie")
                        if regie["n"] == 1:
                            return message

    with daphne(env) as a, daphne(env) as b:
        message = asyncio.run(scenario(a, b))
    regie = next(s for s in message["sliders"] if s["key"] == "regie")
    assert (regie["n"], regie["median"]) == (1, 83)
    assert message["connected"] == 1


def test_a_phone_on_http_streams_from_one_process_and_posts_to_another(fenna, workshop_session):
    """The HTTP fallback behind a balancer: the stream on one daphne, the POSTs on the other."""
    from tests.phones import HttpPhone

    need(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    need(connection.vendor == "postgresql", "two processes need PostgreSQL (set DATABASE_URL)")
    db = settings.DATABASES["default"]
    env = base_env(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL="redis://127.0.0.1:6379/0",
        REDIS_PREFIX=new_prefix(),
        SECRET_KEY=settings.SECRET_KEY,
    )
    cookie = session_cookie(fenna).decode()
    code = workshop_session.code

    async def scenario(a: str, b: str) -> tuple[dict, list]:
        port_a, port_b = int(a.rsplit(":", 1)[1]), int(b.rsplit(":", 1)[1])
        phone = HttpPhone(port_a, code)
        listening = asyncio.create_task(phone.listen())
        async with asyncio.timeout(10):
            await phone.welcomed.wait()
        phone.sender.port = port_b  # its POSTs go to the other process
        async with websockets.connect(
            f"{a.replace('http', 'ws')}/ws/d/{code}/", origin=a, additional_headers={"Cookie": cookie}
        ) as dashboard:
            await phone.set("aanpak", 64)
            async with asyncio.timeout(10):
                while True:
                    message = json.loads(await dashboard.recv())
                    await dashboard.send(json.dumps({"type": "seen"}))
                    aanpak = next(s for s in message["sliders"] if s["key"] == "aanpak")
                    if aanpak["n"] == 1:
                        break
        listening.cancel()
        return message, phone.states

    with daphne(env) as a, daphne(env) as b:
        message, _states = asyncio.run(scenario(a, b))
    aanpak = next(s for s in message["sliders"] if s["key"] == "aanpak")
    assert (aanpak["n"], aanpak["median"]) == (1, 64)
    assert message["connected"] == 1
