"""Login throttling with django-axes: two separate limits, the proxy-resolved address, no addresses in logs.

Axes compares one AXES_FAILURE_LIMIT with the largest count among its lockout
parameters. We want 10 failures per username from one address (someone guessing one
account's password; a username is never locked for everyone, so nobody can lock its
owner out from elsewhere) and 30 per address (someone trying many accounts, or a team
behind one NAT typing badly): each parameter is compared with its own limit, and the
handler reports 1 ("locked") or 0 against AXES_FAILURE_LIMIT = 1.
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_lockout_parameters
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def limit_for(parameter: str | list[str]) -> int:
    # A username from one address ([username, ip_address]): someone guessing one account's password.
    if parameter in ("username", ["username", "ip_address"]):
        return settings.AXES_USERNAME_FAILURE_LIMIT
    if parameter == "ip_address":
        return settings.AXES_ADDRESS_FAILURE_LIMIT
    raise ValueError(f"no failure limit for the lockout parameter {parameter!r}")


class SeparateLimitsHandler(AxesDatabaseHandler):
    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        parameters = get_lockout_parameters(request, credentials)
        attempts = self.get_user_attempts(request, credentials)
        for parameter, queryset in zip(parameters, attempts, strict=True):
            count = queryset.aggregate(total=Sum("failures_since_start"))["total"] or 0
            if count >= limit_for(parameter):
                return 1
        return 0


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' backend for logins over the web; a login without a request has no one to throttle.

    Every web login (ours and the admin's) passes its request. manage.py commands, the shell
    and the test client's `login()` do not, and axes would refuse them outright.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_address(request: HttpRequest) -> str | None:
    """REMOTE_ADDR as config/proxies.py set it: forwarded headers count only from trusted proxies."""
    return request.META.get("REMOTE_ADDR")


def client_str(username: str | None, ip_address: str | None, user_agent: str, path_info: Any, request: Any) -> str:
    """How axes names an attempt in its log lines: the username and path, never the address."""
    path = path_info[0] if isinstance(path_info, (tuple, list)) else path_info
    return f"{{username: {username!r}, path_info: {path!r}}}"


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
