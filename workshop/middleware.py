from typing import Any

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest


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
