"""Losing the right ends the feed: a facilitator's group removed, the account deactivated or its password
changed in /admin/ closes their open dashboard and screen sockets, decided once the admin's change has
committed, on every process."""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection, transaction

from tests.conftest import need, port_open, session_cookie
from tests.servers import daphne, local_env, new_prefix
from tests.sockets import open_dashboard
from workshop import access

pytestmark = pytest.mark.django_db(transaction=True)
CLOSED = {"type": "websocket.close", "code": 4403}


async def watching(user, code: str, view: str = ""):
    dashboard = await open_dashboard(user, code, view)
    assert (await dashboard.receive_json_from(timeout=5))["type"] == "aggregate"
    return dashboard


def remove_role_in_a_transaction(user, check) -> None:
    """As /admin/ does it: the change and the rest of the request in one transaction."""
    with transaction.atomic():
        user.groups.remove(Group.objects.get(name=access.FACILITATORS))
        check()


async def test_the_feed_ends_only_once_the_change_is_committed(fenna, workshop_session):
    dashboard = await watching(fenna, workshop_session.code)
    screen = await watching(fenna, workshop_session.code, "?view=screen")
    loop = asyncio.get_running_loop()

    def still_open_inside_the_transaction() -> None:
        # Nothing is sent before the commit: a socket told now would still read the old rights.
        assert asyncio.run_coroutine_threadsafe(dashboard.receive_nothing(timeout=0.3), loop).result(5)

    await sync_to_async(remove_role_in_a_transaction, thread_sensitive=False)(fenna, still_open_inside_the_transaction)
    assert await dashboard.receive_output(timeout=5) == CLOSED
    assert await screen.receive_output(timeout=5) == CLOSED


async def test_a_new_password_ends_the_feed(fenna, workshop_session):
    dashboard = await watching(fenna, workshop_session.code)
    fenna.set_password("another-long-password")
    await sync_to_async(fenna.save)()
    assert await dashboard.receive_output(timeout=5) == CLOSED


async def test_deactivating_the_account_ends_the_feed(fenna, workshop_session):
    screen = await watching(fenna, workshop_session.code, "?view=screen")
    fenna.is_active = False
    await sync_to_async(fenna.save)()
    assert await screen.receive_output(timeout=5) == CLOSED


async def test_losing_the_role_through_the_group_ends_the_feed(fenna, workshop_session):
    dashboard = await watching(fenna, workshop_session.code)
    facilitators = await sync_to_async(Group.objects.get)(name=access.FACILITATORS)
    await sync_to_async(facilitators.permissions.clear)()
    assert await dashboard.receive_output(timeout=5) == CLOSED


async def test_a_deleted_group_ends_its_members_feeds(fenna, workshop_session):
    dashboard = await watching(fenna, workshop_session.code)
    await sync_to_async(Group.objects.filter(name=access.FACILITATORS).delete)()
    assert await dashboard.receive_output(timeout=5) == CLOSED


async def test_a_change_that_keeps_the_rights_and_the_password_keeps_the_feed(fenna, workshop_session):
    dashboard = await watching(fenna, workshop_session.code)
    fenna.last_name = "de Vries"
    await sync_to_async(fenna.save)()
    assert await dashboard.receive_nothing(timeout=0.3)
    await dashboard.disconnect()


# Over real sockets, through /admin/ on another daphne process ----------------------------------


class FormFields(HTMLParser):
    """The fields a browser would post for the page's largest form (the admin's own, not its header's)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[list[tuple[str, str]]] = []
        self.fields: list[tuple[str, str]] = []
        self.select: str | None = None
        self.textarea: str | None = None

    def largest(self) -> list[tuple[str, str]]:
        return max(self.forms, key=len)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if not a.get("name") and tag != "option":
            return
        if tag == "input" and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value") or ("on" if a.get("type") == "checkbox" else "")))
        elif tag == "select":
            self.select = a["name"]
        elif tag == "option" and self.select and "selected" in a:
            self.fields.append((self.select, a.get("value", "")))
        elif tag == "textarea":
            self.textarea = a["name"]
            self.fields.append((a["name"], ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None
        elif tag == "form":
            self.forms.append(self.fields)
            self.fields = []


class Browser:
    """An administrator's browser, logged in (the login itself: tests/test_accounts.py): its cookies
    kept by hand, forms posted as they are filled in."""

    def __init__(self, base: str, cookie: str) -> None:
        self.base = base
        self.cookies = dict([cookie.split("=", 1)])

    def open(self, path: str, data: bytes | None = None):
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers = {"Cookie": cookie, "Referer": self.base + path}
        response = urllib.request.urlopen(
            urllib.request.Request(self.base + path, data=data, headers=headers), timeout=20
        )
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response

    def submit(self, path: str, changes: dict[str, str | list[str] | None]) -> str:
        """Posts the form at `path` with these changes (None: left empty); returns the page it led to."""
        parser = FormFields()
        parser.feed(self.open(path).read().decode())
        fields = [(k, v) for k, v in parser.largest() if k not in changes]
        for name, value in changes.items():
            if value is None:
                continue
            fields += [(name, v) for v in (value if isinstance(value, list) else [value])]
        response = self.open(path, urllib.parse.urlencode(fields).encode())
        page = response.read().decode()
        assert response.status == 200 and "errorlist" not in page, (fields, page[page.find("errorlist") - 300 :][:900])
        return response.geturl().removeprefix(self.base)


@pytest.fixture
def two_processes():
    need(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    need(connection.vendor == "postgresql", "two processes need PostgreSQL (set DATABASE_URL)")
    db = settings.DATABASES["default"]
    env = local_env(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        REDIS_PREFIX=new_prefix(),
        SECRET_KEY=settings.SECRET_KEY,
    )
    with daphne(env) as a, daphne(env) as b:
        yield a, b


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.parametrize("change", ["group", "active", "password"])
def test_a_change_in_admin_on_one_process_closes_the_sockets_on_another_within_5_s(
    change, fenna, admin_user_persona, workshop_session, two_processes, figure
):
    watched, admin_site = two_processes
    code = workshop_session.code
    admin = Browser(admin_site, session_cookie(admin_user_persona).decode())
    path, changes = {
        "group": (f"/admin/auth/user/{fenna.pk}/change/", {"groups": None}),
        "active": (f"/admin/auth/user/{fenna.pk}/change/", {"is_active": None}),
        "password": (
            f"/admin/auth/user/{fenna.pk}/password/",
            {"password1": "Een-heel-ander-wachtwoord-9", "password2": "Een-heel-ander-wachtwoord-9"},
        ),
    }[change]
    cookie = session_cookie(fenna).decode()

    async def scenario() -> float:
        ws = watched.replace("http", "ws")
        headers = {"Cookie": cookie}
        async with (
            websockets.connect(f"{ws}/ws/d/{code}/", origin=watched, additional_headers=headers) as dashboard,
            websockets.connect(f"{ws}/ws/d/{code}/?view=screen", origin=watched, additional_headers=headers) as screen,
        ):
            for socket in (dashboard, screen):
                assert json.loads(await socket.recv())["type"] == "aggregate"
            started = time.monotonic()
            # Saved: the admin goes on to the list of users (a form with errors would stay on its page).
            assert await asyncio.to_thread(admin.submit, path, changes) != path
            for socket in (dashboard, screen):
                async with asyncio.timeout(5):
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        while True:
                            await socket.recv()
                assert closed.value.rcvd.code == 4403
            return time.monotonic() - started

    elapsed = asyncio.run(scenario())
    figure(f"revocation in /admin/ ({change}) closed the dashboard and screen on another process in {elapsed:.2f} s")
