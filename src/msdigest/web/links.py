"""The pages behind the signed links in every email — unsubscribe and preferences.

GET never changes anything (mail scanners follow links); the one-click POST of
RFC 8058 (`List-Unsubscribe=One-Click`) and the page's own button do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

from ..config import Config
from ..errors import TokenError
from ..model import SubscriberStatus
from ..store import Store
from ..templates import pages
from ..unsubscribe import make_token, read_token
from .http import PAGE_CSP, BadRequest, Environ, StartResponse, read_body, respond
from .server import Limits, Server

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


class LinkPages:
    def __init__(self, cfg: Config, secret: bytes) -> None:
        self.cfg = cfg
        self.secret = secret

    def page(self, start: StartResponse, status: str, **context: Any) -> list[bytes]:
        body = pages(self.cfg).get_template("page.html.j2").render(
            site=self.cfg.site, themes=self.cfg.themes, **context)
        return respond(start, status, "text/html", body, PAGE_CSP)

    def __call__(self, environ: Environ, start: StartResponse) -> Iterable[bytes]:
        body = self.route(environ, start)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else body

    def route(self, environ: Environ, start: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "HEAD":  # RFC 9110: like GET, headers only; it changes nothing either
            method = "GET"
        query = parse_qs(environ.get("QUERY_STRING", ""))
        form: dict[str, list[str]] = {}
        if method == "POST":
            try:
                form = parse_qs(read_body(environ, MAX_BODY).decode("utf-8", "replace"))
            except BadRequest as exc:
                status, text = exc.args
                return self.page(start, status, view="message", title="This request did "
                                 "not work", text=text)
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
        with Store.open(self.cfg.store_location) as store:
            if kind == "unsubscribe":
                return self.unsubscribe(start, store, email, token, method)
            return self.preferences(start, store, email, token, method, form)

    def unsubscribe(self, start: StartResponse, store: Store, email: str, token: str,
                    method: str) -> list[bytes]:
        sub = store.subscribers.get(email)
        if sub is None:
            return self.not_listed(start, email)
        if method == "POST":
            store.subscribers.set_status(email, SubscriberStatus.UNSUBSCRIBED, "link")
            log.info("unsubscribed %s", email)
            return self.page(start, "200 OK", view="message", title="You are unsubscribed",
                             text=f"{email} will get no more emails from the "
                             f"{self.cfg.site.name}.")
        return self.page(start, "200 OK", view="unsubscribe", email=email, token=token,
                         active=sub.status is SubscriberStatus.ACTIVE)

    def preferences(self, start: StartResponse, store: Store, email: str, token: str,
                    method: str, form: dict[str, list[str]]) -> list[bytes]:
        sub = store.subscribers.get(email)
        if sub is None:
            return self.not_listed(start, email)
        saved, problem = False, ""
        if method == "POST":
            chosen = tuple(t for t in form.get("theme", []) if t in self.cfg.theme_ids)
            if not chosen:
                problem = "Choose at least one theme, or unsubscribe below."
            else:
                everything = set(chosen) == set(self.cfg.theme_ids)
                with store.transaction():  # themes and status change together, or not at all
                    store.subscribers.set_themes(email, () if everything else chosen, "link")
                    if sub.status is SubscriberStatus.UNSUBSCRIBED and form.get("resubscribe"):
                        store.subscribers.set_status(email, SubscriberStatus.ACTIVE, "link")
                    sub = store.subscribers.get(email) or sub
                saved = True
        return self.page(start, "200 OK", view="preferences", email=email, token=token,
                         chosen=set(sub.themes or self.cfg.theme_ids), saved=saved,
                         problem=problem, active=sub.status is SubscriberStatus.ACTIVE,
                         unsubscribe_token=make_token(self.secret, email, "unsubscribe"))

    def not_listed(self, start: StartResponse, email: str) -> list[bytes]:
        return self.page(start, "404 Not Found", view="message", title="Not subscribed",
                         text=f"{email} is not on the list.")


def server(cfg: Config, secret: bytes, host: str = "127.0.0.1", port: int = 8080,
           limits: Limits | None = None) -> Server:
    return Server(LinkPages(cfg, secret), host, port, limits)
