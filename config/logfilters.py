"""No IP address in any log line.

Participants are anonymous and their addresses are not ours to keep, but
daphne, Twisted, django-axes and tracebacks all like to print them (daphne at
DEBUG: "HTTP response complete for ['192.0.2.7', 51234]"). This filter sits on
every handler in settings.LOGGING and replaces each IPv4 or IPv6 address in
the message, its arguments and any formatted traceback with "[address]". The
server's own loopback and wildcard bind addresses are not anyone's, and stay
readable in "Listening on TCP address 127.0.0.1:8000".
"""

from __future__ import annotations

import ipaddress
import logging
import re

REPLACEMENT = "[address]"
# Candidates only; each is confirmed by ipaddress, so times (12:30:05) and versions stay.
_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.]*\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:"
    r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){1,6}:\d{1,3}(?:\.\d{1,3}){3}"  # with an IPv4 tail: ::ffff:192.0.2.1
    r"|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"
    r")(?![\w:]|\.\d)"
)
KEEP = frozenset({"0.0.0.0", "::", "::1"})
_formatter = logging.Formatter()


def _is_private_to_us(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return True  # not an address at all: leave it
    return text in KEEP or (isinstance(address, ipaddress.IPv4Address) and address.is_loopback)


def scrub(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        return match.group(0) if _is_private_to_us(match.group(0)) else REPLACEMENT

    return _IPV4.sub(replace, _IPV6.sub(replace, text))


class ScrubAddresses(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let the handler report it as it would
            return True
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True
