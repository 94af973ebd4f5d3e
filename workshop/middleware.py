from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicy:
    """No inline script, no framing, sockets only to this host.

    Styles allow 'unsafe-inline' for the few computed widths in style attributes.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        host = request.get_host()
        response.setdefault(
            "Content-Security-Policy",
            "; ".join(
                [
                    "default-src 'self'",
                    "script-src 'self'",
                    "style-src 'self' 'unsafe-inline'",
                    "img-src 'self' data:",
                    f"connect-src 'self' ws://{host} wss://{host}",
                    "frame-ancestors 'none'",
                    "base-uri 'self'",
                    "form-action 'self'",
                    "object-src 'none'",
                ]
            ),
        )
        return response
