from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


class ContentSecurityPolicy(CSPMiddleware):
    """django-csp's policy (settings.CONTENT_SECURITY_POLICY), with sockets allowed to this host only.

    `'self'` does not cover ws:// and wss:// in every browser a participant may
    bring, and the host is known only per request.
    """

    def get_policy_parts(self, request: HttpRequest, response: Any, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        host = request.get_host()
        parts.update = {**(parts.update or {}), "connect-src": [f"ws://{host}", f"wss://{host}"]}
        return parts


class RefuseNulBytes:
    """A NUL in the query or a form field is a 400 before any view sees it.

    PostgreSQL refuses a NUL in a text value with an error (the admin's changelist filters gave a 500);
    no form, filter or code of this site has a use for one.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return _refused() if has_nul(request) else self.get_response(request)

    async def _acall(self, request: HttpRequest) -> Any:
        return _refused() if has_nul(request) else await self.get_response(request)


def has_nul(request: HttpRequest) -> bool:
    # A NUL in the path matches no route (a plain 404, config/converters.py); queries and forms reach views.
    if _any_nul(request.GET):
        return True
    return request.method == "POST" and request.content_type in FORMS and _any_nul(request.POST)


FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _any_nul(fields: Any) -> bool:
    return any("\x00" in key or any("\x00" in str(v) for v in values) for key, values in fields.lists())


def _refused() -> HttpResponse:
    return HttpResponseBadRequest("A NUL character is not allowed here.", content_type="text/plain; charset=utf-8")
