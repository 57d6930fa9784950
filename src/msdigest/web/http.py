"""The HTTP layer both web apps share: responses with security headers, a threaded
server bound to an address, and one signal-aware serve loop."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ..signals import stop_on_signals

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
CLIENT_TIMEOUT = 10.0  # seconds a client may take to send its request, or between reads
REQUEST_DEADLINE = 30.0  # seconds for a whole request, however slowly it drips in
MAX_CONNECTIONS = 64  # open at once; more are closed at once (put a proxy in front)


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
            csp: str = "default-src 'none'", extra: Iterable[tuple[str, str]] = ()
            ) -> list[bytes]:
    """One complete response: never cached, never sniffed, no referrer leaves the page."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    start(status, [("Content-Type", f"{kind}; charset=utf-8"),
                   ("Content-Length", str(len(data))),
                   ("Cache-Control", "no-store"),
                   ("Content-Security-Policy", csp),
                   ("X-Content-Type-Options", "nosniff"),
                   ("Referrer-Policy", "no-referrer"),
                   *extra])
    return [data]


class QuietHandler(WSGIRequestHandler):
    """Requests go to the log, not to stderr; a client that stalls is dropped."""

    timeout = CLIENT_TIMEOUT  # socketserver sets it on the connection: reads cannot hang

    def handle(self) -> None:
        """One request; a client that stalls or goes away before its request is complete
        is closed with a line in the log, not a traceback on stderr (wsgiref lets the
        request line's and headers' socket errors escape to socketserver's handle_error)."""
        cut = threading.Timer(REQUEST_DEADLINE, self._cut)
        cut.daemon = True
        cut.start()
        try:
            super().handle()
        except TimeoutError:
            log.info("%s: request not complete after %s s; closed", self.address_string(),
                     self.timeout)
        except (ConnectionError, OSError) as exc:
            log.info("%s: connection lost before the request was read: %s",
                     self.address_string(), exc)
        finally:
            cut.cancel()

    def _cut(self) -> None:
        """A client that sends a byte now and then never trips the read timeout."""
        log.info("%s: request not complete after %s s; closed", self.address_string(),
                 REQUEST_DEADLINE)
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


class ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per connection: a browser's idle preconnect must not block the rest."""

    daemon_threads = True
    slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        """One thread per connection, up to MAX_CONNECTIONS; beyond that, closed at once."""
        if not self.slots.acquire(blocking=False):
            log.warning("%s: too many connections; closed", client_address[0])
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    @property
    def url(self) -> str:
        """Where it listens (the real port when port 0 was asked for)."""
        host, port = self.server_address[:2]
        host = f"[{host!s}]" if ":" in str(host) else str(host)
        return f"http://{host}:{port}/"


class ThreadingServer6(ThreadingServer):
    address_family = socket.AF_INET6


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def bind(app: WsgiApp, host: str, port: int) -> ThreadingServer:
    """A bound, threaded WSGI server for `app` (IPv6 when the host is an IPv6 address)."""
    cls = ThreadingServer6 if ":" in host else ThreadingServer
    httpd = make_server(host, port, app, server_class=cls, handler_class=QuietHandler)
    assert isinstance(httpd, ThreadingServer)
    return httpd


def serve(httpd: ThreadingServer, ready: Callable[[ThreadingServer], Any] | None = None,
          stop: threading.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM, `stop`, or `httpd.shutdown()` from another thread
    (`ready` is given the server once it listens); then close it."""
    stop = stop or threading.Event()
    worker = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                              name="msdigest-http", daemon=True)
    with stop_on_signals(stop):
        worker.start()
        try:
            if ready is not None:
                ready(httpd)
            while worker.is_alive() and not stop.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            httpd.shutdown()
            worker.join(5)
            httpd.server_close()
