"""Accounts that cannot be locked by others: lock-outs per username and address, and per address;
attempts during a lock-out do not renew it; password reset only where mail can be sent; `make run` on
the network says the login is unencrypted. Logins go through the whole ASGI application, behind a
trusted proxy that names the client in X-Forwarded-For, as nginx does in production."""

from __future__ import annotations

import asyncio
import importlib
import ipaddress
import re
import subprocess
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from channels.testing import ApplicationCommunicator
from django.test import override_settings
from django.urls import clear_url_caches

from config.asgi import application
from tests.conftest import ROOT

PASSWORD = "a-long-test-password"
ATTACKER, OWNER = "203.0.113.66", "198.51.100.10"


@pytest.fixture(autouse=True)
def behind_a_proxy(settings):
    settings.TRUSTED_PROXIES = (ipaddress.ip_network("127.0.0.1/32"),)


async def request(method: str, path: str, client: str, *, body: bytes = b"", cookie: str = "") -> dict:
    """One request as nginx on 127.0.0.1 passes it on for `client`."""
    headers = [
        (b"host", b"127.0.0.1"),
        (b"x-forwarded-for", client.encode()),
        (b"x-forwarded-proto", b"https"),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"referer", b"https://127.0.0.1/accounts/login/"),
    ] + ([(b"cookie", cookie.encode())] if cookie else [])
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "scheme": "http",
        "headers": headers,
        "client": ["127.0.0.1", 5000],
        "server": ["127.0.0.1", 8000],
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": body})
    start = await communicator.receive_output(10)
    content = b""
    while True:
        message = await communicator.receive_output(10)
        content += message.get("body", b"")
        if not message.get("more_body"):
            break
    return {"status": start["status"], "headers": start["headers"], "body": content}


def login(username: str, password: str, client: str, path: str = "/accounts/login/") -> int:
    async def go() -> int:
        page = await request("GET", path, client)
        cookie = next(
            v.decode() for k, v in page["headers"] if k.lower() == b"set-cookie" and v.startswith(b"csrftoken=")
        )
        token = cookie.split(";", 1)[0].split("=", 1)[1]
        body = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token}).encode()
        return (await request("POST", path, client, body=body, cookie=f"csrftoken={token}"))["status"]

    return asyncio.run(go())


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_an_attacker_locks_only_their_own_address_out_and_the_owner_logs_in_from_hers(
    path, fenna, admin_user_persona, transactional_db
):
    user = admin_user_persona if path.startswith("/admin/") else fenna
    for _ in range(9):
        assert login(user.username, "wrong", ATTACKER, path) == 200
    assert login(user.username, "wrong", ATTACKER, path) == 429  # the tenth
    assert login(user.username, PASSWORD, ATTACKER, path) == 429  # locked, for this address
    # The owner, from her own address, at the same time.
    assert login(user.username, PASSWORD, OWNER, path) == 302


def test_attempts_during_a_lock_out_do_not_renew_it(fenna, transactional_db):
    from axes.models import AccessAttempt

    for _ in range(10):
        login("fenna", "wrong", ATTACKER)
    # 14 minutes later the attacker is still trying; each try is refused, and none extends the lock.
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.first().attempt_time - timedelta(minutes=14))
    for _ in range(5):
        assert login("fenna", "wrong", ATTACKER) == 429
    assert login("fenna", PASSWORD, ATTACKER) == 429
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.first().attempt_time - timedelta(minutes=2))
    assert login("fenna", PASSWORD, ATTACKER) == 302  # 16 minutes after the tenth failure


@pytest.mark.slow  # 31 password checks through the whole application
def test_thirty_failures_from_one_address_lock_that_address_for_every_username(fenna, transactional_db):
    for i in range(29):
        assert login(f"guess{i}", "wrong", ATTACKER) == 200
    assert login("guess29", "wrong", ATTACKER) == 429
    assert login("fenna", PASSWORD, ATTACKER) == 429
    assert login("fenna", PASSWORD, OWNER) == 302


@pytest.fixture
def urls_with(settings):
    """The URLconf as it is built with these settings, put back afterwards."""
    import config.urls

    def build(**changes):
        with override_settings(**changes):
            importlib.reload(config.urls)
        clear_url_caches()

    yield build
    importlib.reload(config.urls)
    clear_url_caches()


def test_password_reset_is_routed_only_when_mail_is_configured(client, db, urls_with):
    urls_with(MAIL_CONFIGURED=False)
    assert client.get("/accounts/password_reset/").status_code == 404
    assert client.get("/accounts/login/").status_code == 200
    urls_with(MAIL_CONFIGURED=True)
    assert client.get("/accounts/password_reset/").status_code == 200


def test_the_default_configuration_has_no_mail_and_no_password_reset(client, db):
    from django.conf import settings

    assert not settings.MAIL_CONFIGURED
    assert client.get("/accounts/password_reset/").status_code == 404


def test_make_run_on_the_network_says_the_login_is_unencrypted_and_where_https_is_explained():
    def recipe(*args: str) -> str:
        return subprocess.run(["make", "-n", "run", *args], cwd=ROOT, capture_output=True, text=True).stdout

    on_the_network = recipe("HOST=0.0.0.0")
    assert re.search(r"login travels unencrypted", on_the_network)
    assert "onversleuteld" in on_the_network and "docs/deployment.md" in on_the_network
    assert "unencrypted" not in recipe()  # on this machine only: nothing to warn about
