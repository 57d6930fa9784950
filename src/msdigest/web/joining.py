"""The sign-up form (/subscribe) and the confirmation page (/confirm) of `msdigest web`.

The form may live on the publisher's own site and post here, so it carries no token;
it always answers "check your inbox", known address or not. GET /confirm only shows a
button (mail scanners follow links); its POST subscribes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from .. import signup
from ..addresses import AddressError
from ..clock import Clock, system_clock
from ..config import Config
from ..errors import MsdigestError, TokenError
from ..store import Store
from ..templates import pages
from .http import PAGE_CSP, BadRequest, Environ, StartResponse, respond
from .request import Request

log = logging.getLogger(__name__)

HONEYPOT = "website"  # hidden from people by CSS; scripts fill every field in
# the form may be posted from the publisher's site: form-action must allow https targets
SUBSCRIBE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"


class Joining:
    def __init__(self, cfg: Config, secret: bytes, clock: Clock = system_clock) -> None:
        self.cfg = cfg
        self.secret = secret
        self.clock = clock

    def page(self, start: StartResponse, status: str, **context: Any) -> list[bytes]:
        context.setdefault("title", "")
        body = pages(self.cfg).get_template("page.html.j2").render(
            site=self.cfg.site, themes=self.cfg.themes, **context)
        return respond(start, status, "text/html", body, SUBSCRIBE_CSP)

    def __call__(self, environ: Environ, start: StartResponse, kind: str) -> Iterable[bytes]:
        try:
            request = Request.of(environ)
        except BadRequest as exc:
            status, text = exc.args
            return self.page(start, status, view="message", title="This did not work",
                             text=text)
        body = self.subscribe(request, start) if kind == "subscribe" else \
            self.confirm(request, start)
        return [] if request.method == "HEAD" else body

    def form(self, start: StartResponse, status: str = "200 OK", **values: Any) -> list[bytes]:
        values.setdefault("email", "")
        values.setdefault("name", "")
        values.setdefault("chosen", set())
        values.setdefault("problem", "")
        return self.page(start, status, view="subscribe", title="Get the monthly digest",
                         consent=self.cfg.subscribe.consent_text, honeypot=HONEYPOT, **values)

    def subscribe(self, request: Request, start: StartResponse) -> list[bytes]:
        if request.method in ("GET", "HEAD"):
            return self.form(start)
        if request.method != "POST":
            return self.page(start, "405 Method Not Allowed", view="message",
                             title="Not here", text="Use the sign-up form.")
        email, name = request.arg("email"), request.arg("name")
        themes = request.form.get("theme", [])
        try:
            wanted = signup.check(self.cfg, email, name, themes)
        except AddressError as exc:  # said next to the field; nothing is sent
            return self.form(start, "400 Bad Request", email=email[:320], name=name[:200],
                             chosen=set(themes), problem=f"That is not an email address we "
                             f"can send to: {exc.reason}")
        if request.arg(HONEYPOT):  # a script: it gets the same page, and nothing happens
            log.info("sign-up form: the hidden field was filled in; ignored")
            return self.check_inbox(start)
        try:
            with Store.open(self.cfg.store_location, busy=5) as store:
                signup.sign_up(store, self.cfg, self.secret, wanted, request.remote,
                               self.clock())
        except signup.TooMany as exc:
            return self.page(start, "429 Too Many Requests", view="message",
                             title="Please try again later", text=str(exc)[:1].upper()
                             + str(exc)[1:] + ".")
        except MsdigestError as exc:
            return self.page(start, "503 Service Unavailable", view="message",
                             title="Please try again later", text=f"Sorry: {exc}.")
        return self.check_inbox(start)

    def check_inbox(self, start: StartResponse) -> list[bytes]:
        hours = f"{self.cfg.subscribe.confirm_hours:g}"
        return self.page(start, "200 OK", view="message", title="Check your inbox",
                         text="If that address can receive the digest, an email is on its "
                         "way with a link to confirm your subscription. The link works for "
                         f"{hours} hours; nothing is sent until you confirm.")

    def confirm(self, request: Request, start: StartResponse) -> list[bytes]:
        text = request.arg("t")
        try:
            with Store.open(self.cfg.store_location, busy=5) as store:
                if request.method == "POST":
                    sub = signup.confirm(store, self.cfg, self.secret, text, self.clock())
                    return self.page(start, "200 OK", view="message",
                                     title="You are subscribed",
                                     text=f"{sub.email} will get the monthly "
                                     f"{self.cfg.site.name}. Every issue has a link to "
                                     "change your themes or unsubscribe.")
                pending = signup.read(store, self.cfg, self.secret, text, self.clock())
        except TokenError as exc:
            return self.page(start, "400 Bad Request", view="message",
                             title="This link does not work", text=f"Sorry: {exc}.")
        chosen = [t.title for t in self.cfg.themes if t.id in pending.themes]
        return self.page(start, "200 OK", view="confirm", title="Confirm your subscription",
                         email=pending.email, token=text, chosen=chosen)


__all__ = ["PAGE_CSP", "Joining"]
