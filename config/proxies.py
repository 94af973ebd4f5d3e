"""The client's address and scheme, believed from forwarded headers only when a trusted proxy sent them.

daphne's own `--proxy-headers` believes X-Forwarded-For from anyone, so any client
could pick its address and dodge the per-address limits (the join guard, login
throttling). This ASGI middleware wraps HTTP and websockets alike: when the direct
peer is in TRUSTED_PROXIES it takes the right-most X-Forwarded-For hop that is not
itself a trusted proxy (the left part of that header is whatever the client wrote),
else X-Real-IP; and X-Forwarded-Proto for the scheme. From any other peer those
headers are removed, so nothing further in (Django's SECURE_PROXY_SSL_HEADER
included) can be fooled by them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

FORWARDED_HEADERS = frozenset({b"x-forwarded-for", b"x-real-ip", b"x-forwarded-proto", b"forwarded"})


def parse_address(text: str) -> Address | None:
    """An address from a header hop, tolerating the ports and brackets some proxies add."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_trusted(address: Address | None, trusted: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in trusted)


# Proxies' own addresses, parsed once: behind nginx every request comes from the same few peers.
# Only trusted peers are kept, so that no participant's address is held here.
_TRUSTED_PEERS: dict[tuple[str, tuple[Network, ...]], Address] = {}


def _trusted_peer(text: str, trusted: tuple[Network, ...]) -> Address | None:
    """The peer's address when it is a trusted proxy, else None."""
    key = (text, trusted)
    found = _TRUSTED_PEERS.get(key)
    if found is None:
        address = parse_address(text)
        if address is None or not is_trusted(address, trusted):
            return None
        if len(_TRUSTED_PEERS) < 256:
            _TRUSTED_PEERS[key] = address
        found = address
    return found


def resolve_client(peer: Address, forwarded_for: list[str], trusted: Iterable[Network]) -> Address:
    """The right-most hop of the chain peer ← X-Forwarded-For that is not a trusted proxy."""
    trusted = tuple(trusted)
    client = peer
    for hop in reversed(forwarded_for):
        if not is_trusted(client, trusted):
            break
        address = parse_address(hop)
        if address is None:
            # A trusted proxy wrote something that is no address: keep the last hop we can vouch for.
            break
        client = address
    return client


def _values(headers: list[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in headers if key == name]


class TrustedProxyMiddleware:
    def __init__(self, application: Any, trusted: Iterable[Network] | None = None) -> None:
        self.application = application
        self._trusted = None if trusted is None else tuple(trusted)

    @property
    def trusted(self) -> tuple[Network, ...]:
        # Read per call unless given: tests change TRUSTED_PROXIES with override_settings.
        return self._trusted if self._trusted is not None else tuple(settings.TRUSTED_PROXIES)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] not in ("http", "websocket"):
            return await self.application(scope, receive, send)
        return await self.application(self.rewrite(scope), receive, send)

    def rewrite(self, scope: dict[str, Any]) -> dict[str, Any]:
        headers = list(scope.get("headers", []))
        client = scope.get("client")
        trusted = self.trusted
        peer = _trusted_peer(str(client[0]), trusted) if client and trusted else None
        if peer is None:
            if any(key in FORWARDED_HEADERS for key, _ in headers):
                return {**scope, "headers": [(k, v) for k, v in headers if k not in FORWARDED_HEADERS]}
            return {**scope, "headers": headers}
        forwarded_for = [hop for value in _values(headers, b"x-forwarded-for") for hop in value.split(",")]
        if not forwarded_for:
            forwarded_for = _values(headers, b"x-real-ip")[-1:]
        address = resolve_client(peer, forwarded_for, trusted)
        scope = {**scope, "client": [str(address), 0]}
        proto = (_values(headers, b"x-forwarded-proto")[-1:] or [""])[0].split(",")[0].strip().lower()
        if proto in ("http", "https"):
            secure = proto == "https"
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = "https" if secure else "http"
        return scope
