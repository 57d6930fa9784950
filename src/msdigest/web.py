"""Web: the pages behind the signed links in every email — unsubscribe and preferences.

GET never changes anything (mail scanners follow links); the one-click POST of
RFC 8058 (`List-Unsubscribe=One-Click`) and the page's own button do.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .config import Config
from .render import environment
from .store import Store
from .unsubscribe import TokenError, make_token, read_token

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
MAX_BODY = 64 * 1024


class App:
    def __init__(self, cfg: Config, secret: bytes) -> None:
        self.cfg = cfg
        self.secret = secret
        self.lock = threading.Lock()

    def page(self, start: StartResponse, status: str, **context: Any) -> list[bytes]:
        body = environment(self.cfg).get_template("page.html.j2").render(
            site=self.cfg.site, themes=self.cfg.themes, **context).encode("utf-8")
        start(status, [("Content-Type", "text/html; charset=utf-8"),
                       ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-store"),
                       ("Referrer-Policy", "no-referrer"),
                       ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                        "form-action 'self'")])
        return [body]

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        form: dict[str, list[str]] = {}
        if method == "POST":
            size = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY)
            form = parse_qs(environ["wsgi.input"].read(size).decode("utf-8", "replace"))
        token = (form.get("t") or query.get("t") or [""])[0]
        kind = path.rstrip("/").rpartition("/")[2]
        if kind not in ("unsubscribe", "preferences") or method not in ("GET", "POST"):
            return self.page(start, "404 Not Found", view="message", title="Page not found",
                             text="This address is not a page of the digest.")
        try:
            email = read_token(self.secret, token, kind)
        except TokenError as exc:
            return self.page(start, "400 Bad Request", view="message",
                             title="This link does not work", text=f"Sorry: {exc}. Use the "
                             "link from your most recent email.")
        with self.lock, Store.open(self.cfg.store_path) as store:
            sub = store.subscriber(email)
            if sub is None:
                return self.page(start, "404 Not Found", view="message", title="Not subscribed",
                                 text=f"{email} is not on the list.")
            if kind == "unsubscribe":
                if method == "POST":
                    store.set_status(email, "unsubscribed", "link")
                    log.info("unsubscribed %s", email)
                    return self.page(start, "200 OK", view="message", title="You are unsubscribed",
                                     text=f"{email} will get no more emails from the "
                                     f"{self.cfg.site.name}.")
                return self.page(start, "200 OK", view="unsubscribe", email=email, token=token,
                                 active=sub.status == "active")
            saved, problem = False, ""
            if method == "POST":
                chosen = tuple(t for t in form.get("theme", []) if t in self.cfg.theme_ids)
                if not chosen:
                    problem = "Choose at least one theme, or unsubscribe below."
                else:
                    store.set_themes(email, () if set(chosen) == set(self.cfg.theme_ids)
                                     else chosen, "link")
                    if sub.status == "unsubscribed" and form.get("resubscribe"):
                        store.set_status(email, "active", "link")
                    sub = store.subscriber(email) or sub
                    saved = True
            return self.page(start, "200 OK", view="preferences", email=email, token=token,
                             chosen=set(sub.themes or self.cfg.theme_ids), saved=saved,
                             problem=problem,
                             active=sub.status == "active",
                             unsubscribe_token=make_token(self.secret, email, "unsubscribe"))


class QuietHandler(WSGIRequestHandler):
    """Requests go to the log, not to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


class ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per connection: a browser's idle preconnect must not block the rest."""

    daemon_threads = True

    @property
    def url(self) -> str:
        """Where it listens (the real port when port 0 was asked for)."""
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/"


class ThreadingServer6(ThreadingServer):
    address_family = socket.AF_INET6


def bind(app: Callable[..., Iterable[bytes]], host: str, port: int) -> ThreadingServer:
    """A bound, threaded WSGI server for `app` (IPv6 when the host is an IPv6 address)."""
    cls = ThreadingServer6 if ":" in host else ThreadingServer
    httpd = make_server(host, port, app, server_class=cls, handler_class=QuietHandler)
    assert isinstance(httpd, ThreadingServer)
    return httpd


def server(cfg: Config, secret: bytes, host: str = "127.0.0.1",
           port: int = 8080) -> ThreadingServer:
    return bind(App(cfg, secret), host, port)
