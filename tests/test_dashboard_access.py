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
