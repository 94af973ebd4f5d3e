"""Work daphne's HTTP server (Twisted) does on every request that this app never uses, left out.

A hall on the HTTP fallback sends a POST per batch of moves, thousands a second, and a profile of
500 dragging phones put a third of the server's time into two things nobody reads:

- Twisted parses a POST's Content-Type with the `email` package (a fifth of the process's time),
  to fill `request.args` with a form or multipart body. daphne never reads `request.args`: it hands
  the raw body to the application, and Django parses forms itself. Off, which also spares the memory
  of a multipart upload parsed twice.
- Twisted formats an access-log line per request for its own log, which daphne routes nowhere (at
  verbosity 1 or less). The line would carry the client's address; participants' addresses are
  not ours to keep (daphne's own access log goes to /dev/null in the Procfile and the units).
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    """Turn both off in daphne's request and factory classes; harmless when daphne is not the server."""
    try:
        from daphne.http_protocol import HTTPFactory, WebRequest
    except ImportError:  # served by something else: nothing of Twisted's to turn off
        return
    if getattr(WebRequest, "_lean_installed", False):
        return
    request_init = WebRequest.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("parsePOSTFormSubmission", False)  # a parameter of Twisted's Request
        request_init(self, *args, **kwargs)

    def log(self: Any, request: Any) -> None:
        return None

    WebRequest.__init__ = __init__
    HTTPFactory.log = log
    WebRequest._lean_installed = True
