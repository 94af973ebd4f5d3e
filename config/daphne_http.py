"""Work daphne's HTTP server (Twisted) does on every request that this app never uses, left out.

A hall on the HTTP fallback sends a POST per batch of moves, thousands a second, and profiles of
500 dragging phones (docs/performance.md) put much of the server's time into things nobody needs:

- Twisted parses a POST's Content-Type with the `email` package (a fifth of the process's time),
  to fill `request.args` with a form or multipart body. daphne never reads `request.args`: it hands
  the raw body to the application, and Django parses forms itself. Off, which also spares the memory
  of a multipart upload parsed twice.
- Twisted formats an access-log line per request for its own log, which daphne routes nowhere (at
  verbosity 1 or less). The line would carry the client's address; participants' addresses are
  not ours to keep (daphne runs with --verbosity 0: no access log at all).
- Every request asks the kernel for the connection's local address (getsockname) and asks
  zope.interface whether the connection is TLS. Neither changes while a connection lives: asked
  once per connection.
- Every response registered its connection with the event loop's selector to be told when it may
  write (an epoll_ctl), was written on the next pass, and unregistered (another epoll_ctl): a
  sixth of a POST's cost. The reactor now writes on the next pass of the loop without asking, as
  asyncio's own transports do, and waits for the selector only when the kernel's buffer is full
  (see `_install_write_soon`).
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    """Turn these off in daphne's and Twisted's classes; harmless when daphne is not the server."""
    try:
        from daphne.http_protocol import HTTPFactory, WebRequest
        from twisted.web.http import HTTPChannel
    except ImportError:  # served by something else: nothing of Twisted's to turn off
        return
    if getattr(WebRequest, "_lean_installed", False):
        return
    request_init = WebRequest.__init__
    channel_host = HTTPChannel.getHost
    channel_secure = HTTPChannel.isSecure

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("parsePOSTFormSubmission", False)  # a parameter of Twisted's Request
        request_init(self, *args, **kwargs)

    def log(self: Any, request: Any) -> None:
        return None

    def getHost(self: Any) -> Any:
        host = self.__dict__.get("_lean_host")
        if host is None:
            host = self._lean_host = channel_host(self)
        return host

    def isSecure(self: Any) -> bool:
        secure = self.__dict__.get("_lean_secure")
        if secure is None:
            secure = self._lean_secure = channel_secure(self)
        return secure

    WebRequest.__init__ = __init__
    HTTPFactory.log = log
    HTTPChannel.getHost = getHost
    HTTPChannel.isSecure = isSecure
    _install_write_soon()
    WebRequest._lean_installed = True


def _install_write_soon() -> None:
    """The asyncio reactor writes a connection's output on the loop's next pass, without the selector.

    Twisted's reactors wait for the selector to say a socket is writable before every write, which
    on Linux means two epoll_ctl calls and a pass through the selector's bookkeeping per response,
    although a socket with room in its buffer (nearly always) could be written at once. Here
    `addWriter` only notes the connection, and one callback on the loop's next pass lets each noted
    connection write (`doWrite`, exactly what the selector would have called, so everything that
    Twisted does after a write, a producer resumed or a connection closed when drained, happens as
    before). Only a connection that could not write all of it (`doWrite` returned without
    `stopWriting`) is handed to the selector, as before. Output written in one pass still leaves in
    one send: headers and body of a response together.
    """
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor
    from twisted.python.log import callWithLogger

    add_writer = AsyncioSelectorReactor.addWriter
    remove_writer = AsyncioSelectorReactor.removeWriter
    get_writers = AsyncioSelectorReactor.getWriters
    remove_all = AsyncioSelectorReactor.removeAll

    def state(reactor: Any) -> dict[str, Any]:
        found = reactor.__dict__.get("_write_soon")
        if found is None:
            # noted: waiting for the next pass; flushing: the pass under way; current: the one writing now.
            found = reactor._write_soon = {"noted": {}, "flushing": {}, "armed": False, "current": None}
        return found

    def addWriter(self: Any, writer: Any) -> None:
        soon = state(self)
        if writer in soon["noted"] or writer in self._writers or writer in self._continuousPolling._writers:
            return
        soon["noted"][writer] = None
        if not soon["armed"]:
            soon["armed"] = True
            self._asyncioEventloop.call_soon(flush, self)

    def removeWriter(self: Any, writer: Any) -> None:
        soon = state(self)
        soon["noted"].pop(writer, None)
        soon["flushing"].pop(writer, None)
        if writer is soon["current"]:
            soon["current"] = None  # it wrote everything (or is gone): the selector need not wait for it
        remove_writer(self, writer)

    def flush(self: Any) -> None:
        soon = state(self)
        soon["armed"] = False
        flushing = soon["flushing"] = soon["noted"]
        soon["noted"] = {}
        while flushing:
            writer = next(iter(flushing))
            del flushing[writer]
            soon["current"] = writer
            callWithLogger(writer, self._readOrWrite, writer, False)
            if soon["current"] is writer:
                soon["current"] = None
                add_writer(self, writer)  # more than the kernel took: write the rest when it has room

    def getWriters(self: Any) -> list[Any]:
        soon = state(self)
        return [*get_writers(self), *soon["noted"], *soon["flushing"]]

    def removeAll(self: Any) -> list[Any]:
        soon = state(self)
        pending = [*soon["noted"], *soon["flushing"]]
        soon["noted"], soon["flushing"] = {}, {}
        removed = remove_all(self)
        return removed + [writer for writer in pending if writer not in removed]

    AsyncioSelectorReactor.addWriter = addWriter
    AsyncioSelectorReactor.removeWriter = removeWriter
    AsyncioSelectorReactor.getWriters = getWriters
    AsyncioSelectorReactor.removeAll = removeAll
