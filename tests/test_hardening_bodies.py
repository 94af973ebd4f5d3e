"""Every malformed body is a 400 (or a 404), never a 500, and costs at most one log line: deep nesting,
huge numbers, a NUL in the admin's filters, a login or a form."""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from tests.sockets import phone

pytestmark = pytest.mark.django_db(transaction=True)


def quiet_enough(caplog) -> None:
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) <= 1, [r.getMessage() for r in lines]
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)


@pytest.fixture
def welcomed_token(workshop_session) -> str:
    """A phone's token, welcomed over its socket; its POSTs then carry on the conversation."""

    async def join() -> str:
        communicator, welcome = await phone(workshop_session.code)
        await communicator.disconnect()
        return welcome["token"]

    return async_to_sync(join)()


@pytest.mark.parametrize(
    "body",
    [
        "[" * 200_000,
        '{"token": "t", "messages": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"token": "t", "messages": [{"type": "set", "slider": "sturing", "value": ' + "9" * 5000 + ', "seq": 1}]}',
        '{"token": "t", "messages": [{"type": "set", "slider": "sturing", "value": 1e999, "seq": 1}]}',
        '{"token": "t", "messages": [{"type": "set", "slider": "sturing", "value": 50, "seq": 1e999}]}',
        '{"token": "t\\u0000", "messages": []}',
    ],
    ids=["200000 [", "deep messages", "5000 digits", "1e999 value", "1e999 seq", "NUL token"],
)
def test_the_fallback_answers_a_malformed_send_without_a_500(client, workshop_session, body, caplog):
    caplog.set_level(logging.INFO, logger="django.request")
    response = client.post(f"/p/{workshop_session.code}/send/", body.encode(), content_type="application/json")
    assert response.status_code in (200, 400, 404), response.content[:300]
    quiet_enough(caplog)


def test_huge_numbers_in_a_welcomed_phones_messages_are_refused_one_by_one(workshop_session, welcomed_token):
    messages = ", ".join(
        [
            '{"type": "set", "slider": "sturing", "value": 1e999, "seq": 1}',
            '{"type": "move", "slider": "sturing", "value": ' + str(2**70) + "}",
            '{"type": "set", "slider": "sturing", "value": 50, "seq": ' + str(2**70) + "}",
        ]
    )
    body = ('{"token": "' + welcomed_token + '", "messages": [' + messages + "]}").encode()
    response = Client().post(f"/p/{workshop_session.code}/send/", body, content_type="application/json")
    assert response.status_code == 200
    assert [reply["type"] for reply in response.json()["replies"]] == ["error"] * 3


@pytest.mark.parametrize(
    "path",
    [
        "/admin/workshop/session/?status=%00",
        "/admin/workshop/session/?q=%00",
        "/admin/auth/user/?is_staff__exact=%00",
        "/admin/workshop/session/?facilitator__id__exact=99999999999999999999999999",
        "/admin/workshop/session/?p=99999999999999999999999999",
        "/admin/auth/user/99999999999999999999999999/change/",
        "/admin/auth/user/%00/change/",
    ],
)
def test_the_admin_answers_nul_and_huge_numbers_in_filters_without_a_500(admin_user_persona, path, caplog):
    client = Client()
    client.force_login(admin_user_persona)
    caplog.set_level(logging.INFO, logger="django.request")
    response = client.get(path)
    assert response.status_code in (200, 302, 400, 404)
    quiet_enough(caplog)


@pytest.mark.parametrize(
    "data",
    [{"username": "fenna\x00", "password": "x"}, {"username": "fenna", "password": "x\x00"}],
)
def test_a_nul_in_a_login_is_a_400(fenna, data, caplog):
    caplog.set_level(logging.INFO, logger="django.request")
    assert Client().post("/accounts/login/", data).status_code == 400
    quiet_enough(caplog)


def test_a_nul_in_a_facilitators_form_is_a_400(fenna_client, workshop_session):
    response = fenna_client.post(f"/f/s/{workshop_session.code}/do/group_add/", {"name": "Trio\x00"})
    assert response.status_code == 400


@pytest.mark.parametrize("field", [{"cap": "9" * 5000}, {"cap": "99999999999999999999999"}, {"cap": "1e999"}])
def test_huge_numbers_in_a_facilitators_form_are_a_400(fenna_client, workshop_session, field):
    # As the control panel sends it (htmx): a refusal is shown in place, with its status.
    assert fenna_client.post(f"/f/s/{workshop_session.code}/do/cap/", field, HTTP_HX_REQUEST="true").status_code == 400


@pytest.mark.parametrize("minutes", ["1e999", "nan", "9" * 5000, "-1"])
def test_a_timer_of_huge_or_no_length_is_a_400(fenna_client, workshop_session, minutes):
    data = {"minutes": minutes}
    assert fenna_client.post(f"/f/s/{workshop_session.code}/do/timer/", data, HTTP_HX_REQUEST="true").status_code == 400
