"""The HTTP server for every page msdigest serves: waitress, a production WSGI server.

Waitress reads each request whole (headers and body, within limits) before a worker
thread sees it, so a slow or stalled client costs a connection, not a thread; idle
connections are closed after `channel_timeout`, and at most `connection_limit` are open.
`serve` runs until SIGINT/SIGTERM or `shutdown()` (from any thread).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import create_server

from ..signals import stop_on_signals
from .http import WsgiApp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    threads: int = 8
    channel_timeout: int = 30  # seconds a connection may sit idle, mid-request or not
    connection_limit: int = 100
    max_body: int = 64 * 1024  # waitress answers 413 beyond this
    max_header: int = 16 * 1024
    trusted_proxy: str = ""  # a reverse proxy's address whose X-Forwarded-Proto is believed


class _Parser(HTTPRequestParser):
    def parse_header(self, header_plus: bytes) -> None:
        try:
            super().parse_header(header_plus)
        except ValueError:  # int() of a Content-Length of more than 4,300 digits
            raise ParsingError("Content-Length is invalid") from None


class _Channel(HTTPChannel):
    parser_class = _Parser


class Server:
    def __init__(self, app: WsgiApp, host: str, port: int, limits: Limits | None = None
                 ) -> None:
        limits = limits or Limits()
        proxy: dict[str, Any] = {}
        if limits.trusted_proxy:
            proxy = {"trusted_proxy": limits.trusted_proxy,
                     "trusted_proxy_headers": {"x-forwarded-proto", "x-forwarded-for"}}
        # private parts of waitress are used below (its poll loop and channel map)
        self.waitress: Any = create_server(
            app, listen=f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            threads=limits.threads, channel_timeout=limits.channel_timeout,
            cleanup_interval=1,  # idle connections are looked for every second, not every 30
            connection_limit=limits.connection_limit,
            max_request_body_size=limits.max_body + 1,  # waitress refuses at, not beyond
            max_request_header_size=limits.max_header, ident="msdigest",
            clear_untrusted_proxy_headers=True, expose_tracebacks=False, **proxy)
        # waitress counts its own listening socket and trigger among the connections
        waitress: Any = self.waitress
        waitress.adj.connection_limit = limits.connection_limit + len(waitress._map)
        waitress.channel_class = _Channel
        self.host = host
        self.stopping = threading.Event()
        self.started = threading.Event()
        self.stopped = threading.Event()

    @property
    def server_port(self) -> int:
        return int(self.waitress.effective_port)

    @property
    def url(self) -> str:
        """Where it listens (the real port when port 0 was asked for)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.server_port}/"

    def serve(self, ready: Callable[[Server], Any] | None = None) -> None:
        """Serve until SIGINT/SIGTERM or shutdown(); then close every connection."""
        self.started.set()
        with stop_on_signals(self.stopping):
            try:
                if ready is not None:
                    ready(self)
                while not self.stopping.is_set():
                    # one poll at a time, so a stop is noticed within 0.2 s, in this thread
                    self.waitress.asyncore.loop(timeout=0.2, map=self.waitress._map, count=1)
            except KeyboardInterrupt:
                pass
            finally:
                self._close()

    def _close(self) -> None:
        for channel in list(self.waitress._map.values()):
            with contextlib.suppress(OSError):
                channel.close()  # close, not handle_close: no "unhandled close" warning
        self.waitress.task_dispatcher.shutdown()
        self.stopped.set()

    # the socketserver names, which tests and callers in threads use
    def serve_forever(self, poll_interval: float = 0.2) -> None:
        self.serve()

    def shutdown(self) -> None:
        self.stopping.set()
        if self.started.is_set():
            self.stopped.wait(10)

    def server_close(self) -> None:
        self.stopping.set()
        if not self.started.is_set():  # never served: let go of the listening socket
            self._close()
