"""Kill the server mid-session: phones come back by themselves and nothing acknowledged is lost."""

import asyncio
import hashlib
import json
import random
import time

import websockets

from bench.local import Daphne
from tests.conftest import need, port_open
from tests.servers import base_env, free_port, manage, new_prefix

PHONES = 30
SETS_PER_PHONE = 12
SLIDERS = ["sturing", "aanpak", "verankering", "regie", "horizon"]
SETUP = """
from django.contrib.auth.models import User
from workshop import services
from workshop.models import Exercise
user, _ = User.objects.get_or_create(username="fault", defaults={"is_superuser": True})
exercise = Exercise.objects.filter(slug="wijkgericht-werken").order_by("-version").first()
session = services.create_session(facilitator=user, exercise=exercise, title="Fault")
services.start_positioning(session=session)
print(session.code)
"""
STORED = """
from workshop.models import Position
rows = Position.objects.filter(participant__session__code="{code}")
for p in rows.values_list("participant__token_hash", "slider__key", "value"):
    print("position", *p)
"""


class Phone:
    """The phone page's client logic: reconnect with backoff and jitter, resend unacknowledged sets."""

    def __init__(self, url, rng, progress):
        self.url, self.rng, self.progress = url, rng, progress
        self.token = None
        self.seq = 0
        self.unacked = {}  # slider -> (seq, value)
        self.acked = {}
        self.welcomes = []
        self.ws = None

    async def connect(self):
        attempt = 0
        while True:
            try:
                self.ws = await websockets.connect(self.url, origin="http://127.0.0.1", open_timeout=5)
                await self.ws.send(json.dumps({"type": "hello", "token": self.token}))
                welcome = json.loads(await self.ws.recv())
                self.token = welcome["token"]
                self.welcomes.append(time.monotonic())
                for slider, (seq, value) in list(self.unacked.items()):
                    await self.ws.send(json.dumps({"type": "set", "slider": slider, "value": value, "seq": seq}))
                return
            except (TimeoutError, OSError, websockets.WebSocketException):
                base = min(2.0, 0.1 * 2**attempt)
                attempt += 1
                await asyncio.sleep(base / 2 + self.rng.random() * base / 2)  # backoff between attempts

    async def run(self):
        await self.connect()
        sent = 0
        while sent < SETS_PER_PHONE or self.unacked:
            try:
                if sent < SETS_PER_PHONE and not self.unacked:
                    slider, value = self.rng.choice(SLIDERS), self.rng.randint(0, 100)
                    self.seq += 1
                    self.unacked[slider] = (self.seq, value)
                    sent += 1
                    await self.ws.send(json.dumps({"type": "set", "slider": slider, "value": value, "seq": self.seq}))
                reply = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
                if reply["type"] == "ack":
                    for slider, (seq, value) in list(self.unacked.items()):
                        if seq == reply["seq"]:
                            del self.unacked[slider]
                            self.acked[slider] = value
                            self.progress()
            except (TimeoutError, websockets.ConnectionClosed, OSError):
                await self.connect()


def test_kill_9_mid_session_loses_no_acknowledged_value(db, figure):
    need(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    need(port_open("127.0.0.1", 5432), "PostgreSQL is not running on 127.0.0.1:5432")
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'schuif_faults'").fetchone():
            conn.execute("CREATE DATABASE schuif_faults")
    env = base_env(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/schuif_faults",
        REDIS_URL="redis://127.0.0.1:6379/0",
        REDIS_PREFIX=new_prefix(),
        SECRET_KEY="faults-" + "x" * 50,
    )
    manage("migrate", "--noinput", env=env)
    code = manage("shell", "-c", SETUP, env=env).split()[-1]
    port = free_port()
    server = Daphne(env, port=port)
    rng = random.Random(9)
    phones: list[Phone] = []

    async def scenario():
        enough = asyncio.Event()

        def progress():
            if sum(len(p.acked) for p in phones) >= PHONES * 2:
                enough.set()

        phones.extend(
            Phone(f"ws://127.0.0.1:{port}/ws/p/{code}/", random.Random(rng.random()), progress) for _ in range(PHONES)
        )
        tasks = [asyncio.create_task(p.run()) for p in phones]
        await enough.wait()  # the crash comes once values have been acknowledged
        server.kill()
        killed = time.monotonic()
        restarted = Daphne(env, port=port)
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
        return killed, restarted

    killed, restarted = asyncio.run(scenario())
    try:
        back = sorted(next(t for t in p.welcomes if t > killed) - killed for p in phones if len(p.welcomes) > 1)
        stored = {}
        for line in manage("shell", "-c", STORED.format(code=code), env=env).splitlines():
            if line.startswith("position "):
                _, token_hash, slider, value = line.split()
                stored[(token_hash, slider)] = int(value)
        lost = sum(
            1
            for p in phones
            for slider, value in p.acked.items()
            if stored.get((hashlib.sha256(p.token.encode()).hexdigest(), slider)) != value
        )
    finally:
        restarted.stop()
    p99 = back[min(len(back) - 1, int(0.99 * len(back)))] if back else None
    figure(
        f"kill -9 fault: {len(back)}/{PHONES} phones reconnected, p99 {p99:.1f} s after the kill; "
        f"{sum(len(p.acked) for p in phones)} acknowledged values checked, {lost} lost"
    )
    assert len(back) == PHONES
    assert p99 <= 10
    assert lost == 0
