"""Helpers to talk to the full ASGI application (origin check, auth, routing) in-process."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from config.asgi import application
from tests.conftest import ORIGIN, session_cookie


def from_address(address: str):
    """The application as daphne calls it for a client at this address."""

    async def app(scope, receive, send):
        return await application({**scope, "client": (address, 50000)}, receive, send)

    return app


class _ClientAt(AsyncClient):
    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def _base_scope(self, **request: Any) -> dict[str, Any]:
        return {**super()._base_scope(**request), "client": [self.address, 50000]}


def http_client(address: str) -> AsyncClient:
    """An async test client whose requests come from this address. (REMOTE_ADDR, as the sync client
    takes it, is ignored: an ASGI request's address is the scope's `client`.)"""
    return _ClientAt(address)


async def open_socket(
    path: str,
    *,
    cookie: bytes | None = None,
    origin: tuple[bytes, bytes] | None = ORIGIN,
    address: str | None = None,
):
    headers = [(b"host", b"127.0.0.1")] + ([origin] if origin else [])
    if cookie:
        headers.append((b"cookie", cookie))
    app = from_address(address) if address else application
    communicator = WebsocketCommunicator(app, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    return communicator, connected


async def phone(code: str, token: str | None = None) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    communicator, connected = await open_socket(f"/ws/p/{code}/")
    assert connected
    await communicator.send_json_to({"type": "hello", "token": token})
    welcome = await communicator.receive_json_from(timeout=5)
    assert welcome["type"] == "welcome", welcome
    return communicator, welcome


async def open_dashboard(user, code: str, view: str = "") -> WebsocketCommunicator:
    """The dashboard socket of `user` (logged in, from the app's own origin) on session `code`.

    Connected, but nothing received yet: a refused user gets its close code as the first output.
    """
    cookie = await sync_to_async(session_cookie)(user)
    communicator, connected = await open_socket(f"/ws/d/{code}/{view}", cookie=cookie)
    assert connected
    return communicator


async def send_raw(communicator: WebsocketCommunicator, text: str) -> dict[str, Any]:
    await communicator.send_to(text_data=text)
    return json.loads(await communicator.receive_from(timeout=5))


async def aggregate_until(dashboard: WebsocketCommunicator, predicate, *, limit: int = 50) -> dict[str, Any]:
    """The first aggregate that satisfies predicate; each wait is for a real message.

    Confirms every aggregate with `seen`, as the page does.
    """
    return (await aggregates_until(dashboard, predicate, limit=limit))[-1]


async def aggregates_until(dashboard: WebsocketCommunicator, predicate, *, limit: int = 50) -> list[dict[str, Any]]:
    """Every aggregate up to and including the first that satisfies predicate, each confirmed with `seen`."""
    received = []
    for _ in range(limit):
        message = await dashboard.receive_json_from(timeout=5)
        if message["type"] == "aggregate":
            await dashboard.send_json_to({"type": "seen"})
            received.append(message)
            if predicate(message):
                return received
    raise AssertionError("no aggregate satisfied the condition")


def slider(message: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in message["sliders"] if s["key"] == key)
