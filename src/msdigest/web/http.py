"""What both web apps share: responses with security headers, bounded request bodies."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"


class BadRequest(Exception):
    """A request this server will not serve; args: (status line, what to say)."""


def read_body(environ: Environ, limit: int) -> bytes:
    """The request body, at most `limit` bytes: BadRequest for a missing or malformed
    Content-Length (411/400), one over the limit (413) or a client that stops sending (408)."""
    raw = environ.get("CONTENT_LENGTH") or ""
    if not raw:
        return b""
    # ASCII digits only: str.isdigit() also takes "²" and "٣", and int() of a few thousand
    # digits raises ValueError; neither may reach int() as a 500.
    if not (raw.isascii() and raw.isdigit()):
        raise BadRequest("400 Bad Request", "The request's Content-Length is not a number.")
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(limit)) or int(digits) > limit:
        raise BadRequest("413 Content Too Large", f"The request is larger than {limit} bytes.")
    length = int(digits)
    try:
        body: bytes = environ["wsgi.input"].read(length)
    except (TimeoutError, OSError):
        raise BadRequest("408 Request Timeout", "The request did not arrive in time.") from None
    if len(body) < length:
        raise BadRequest("400 Bad Request", "The request ended before its Content-Length.")
    return body


def respond(start: StartResponse, status: str, kind: str, body: str | bytes,
            csp: str = "default-src 'none'", extra: Iterable[tuple[str, str]] = (),
            referrer: str = "no-referrer") -> list[bytes]:
    """One complete response: never cached, never sniffed, no referrer leaves the page
    (`same-origin` for pages whose forms must carry their Origin back: under no-referrer
    a browser sends "Origin: null")."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    start(status, [("Content-Type", f"{kind}; charset=utf-8"),
                   ("Content-Length", str(len(data))),
                   ("Cache-Control", "no-store"),
                   ("Content-Security-Policy", csp),
                   ("X-Content-Type-Options", "nosniff"),
                   ("Referrer-Policy", referrer),
                   *extra])
    return [data]


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
