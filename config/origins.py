"""Websockets are accepted only from pages of this site: scheme, host and port must all match.

channels' AllowedHostsOriginValidator compares the Origin's host name only, so a
page on http://127.0.0.1:9999 (another program on the same machine) or on the
plain-HTTP twin of an HTTPS site could open sockets with the visitor's cookies.
The site's own origins are the one the socket was requested on (the Host header,
which must be in ALLOWED_HOSTS, with http for ws and https for wss as resolved by
config/proxies.py), plus CSRF_TRUSTED_ORIGINS and PUBLIC_URL's origin for a site
behind a TLS-terminating proxy. A missing or `null` Origin is refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def configured_origins() -> list[str]:
    """Origins named in settings, each with its scheme (and port, where it is not the default)."""
    origins = [origin for origin in settings.CSRF_TRUSTED_ORIGINS if "://" in origin and "*" not in origin]
    public = urlparse(settings.PUBLIC_URL)
    if public.scheme and public.netloc:
        origins.append(f"{public.scheme}://{public.netloc}")
    return origins


def own_origin(scope: dict[str, Any]) -> str | None:
    """The origin this socket was requested on, if its Host is one of ours."""
    host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
    domain, _port = split_domain_port(host)
    # A leading dot would make the pattern match every subdomain.
    if not domain or domain.startswith(".") or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    return f"{scheme}://{host}"


class SiteOriginValidator(OriginValidator):
    def __init__(self, application: Any) -> None:
        super().__init__(application, allowed_origins=[])

    def origins_for(self, scope: dict[str, Any]) -> list[str]:
        own = own_origin(scope)
        return [*configured_origins(), *([own] if own else [])]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        values = [v for k, v in scope.get("headers", []) if k == b"origin"]
        parsed = urlparse(values[-1].decode("latin-1")) if values else None
        # Every pattern carries a scheme, so channels compares scheme, host and port.
        if (
            parsed is not None
            and parsed.hostname
            and parsed.scheme in ("http", "https")
            and any(self.match_allowed_origin(parsed, pattern) for pattern in self.origins_for(scope))
        ):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
