"""The editor's desk under `msdigest web` (/desk/): sign in, see every issue, change one
and approve it — the same changes as `msdigest issue ...`, recorded in the same audit log.

Every state change is a POST carrying the session's CSRF token (403 otherwise); GET never
changes an issue. Unauthenticated GETs are sent (303) to the sign-in page.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from .. import accounts, editorial
from ..clock import Clock, system_clock
from ..config import Config
from ..delivery.send import send_test
from ..errors import EditError, IssueFrozen, MsdigestError, PeriodError, Stale, StoreError
from ..period import Period
from ..records import SessionRecord
from ..sanitize import intro_html
from ..store import Store
from ..templates import pages
from ..unsubscribe import Signer
from .desk import EMAIL_CSP, desk_context
from .editing_views import issues_view
from .http import BadRequest, Environ, StartResponse, respond
from .request import Request

log = logging.getLogger(__name__)

SESSION = "msdigest_desk"
LOGIN = "msdigest_login"  # the sign-in form's CSRF cookie (double submit)
CSP = ("default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
DONE = {"excluded": "Left out of the issue.", "restored": "Put back in the issue.",
        "pinned": "Pinned first in its theme.", "unpinned": "Unpinned.",
        "moved": "Moved to its new theme.", "intro": "The intro note is saved.",
        "subject": "The subject is saved.", "approved": "Approved: it will go out as it stands.",
        "withdrawn": "Approval withdrawn: it will not go out until approved again.",
        "test-sent": "A test copy is on its way to {email}."}
EDITS = {"exclude", "restore", "pin", "unpin", "move"}
Send = Callable[..., list[tuple[str, str]]]


def _cookie(name: str, value: str, path: str, secure: bool, clear: bool = False) -> str:
    parts = [f"{name}={value}", f"Path={path}", "HttpOnly", "SameSite=Lax"]
    if clear:
        parts.append("Max-Age=0")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


class EditorsDesk:
    def __init__(self, cfg: Config, secret: bytes, clock: Clock = system_clock,
                 send: Send = send_test) -> None:
        self.cfg = cfg
        self.secret = secret
        self.signer = Signer.of(cfg, secret)
        self.clock = clock
        self.send = send
        self.idle = timedelta(minutes=cfg.web.idle_minutes)
        self.busy = 5.0  # seconds a page waits for a send's write before saying "busy"

    def __call__(self, environ: Environ, start: StartResponse, root: str) -> Iterable[bytes]:
        try:
            request = Request.of(environ)
        except BadRequest as exc:
            status, text = exc.args
            return respond(start, status, "text/plain", f"{text}\n")
        try:
            with Store.open(self.cfg.store_location, busy=self.busy) as store:
                body = self.route(request, start, store, root)
        except (sqlite3.OperationalError, StoreError) as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            body = respond(start, "503 Service Unavailable", "text/plain",
                           "The store is busy (a send is writing to it); try again in a "
                           "moment.\n", extra=[("Retry-After", "5")])
        return [] if request.method == "HEAD" else body

    # --- routing ---------------------------------------------------------------------------

    def route(self, request: Request, start: StartResponse, store: Store, root: str
              ) -> list[bytes]:
        rest = request.path[len(root):] if request.path.startswith(root) else ""
        if rest == "login":
            return self.login(request, start, store, root)
        editor = accounts.session(store, request.cookie(SESSION), self.idle, self.clock)
        if editor is None:
            if request.method == "POST":
                return self.page(start, "403 Forbidden", "Sign in first.")
            nxt = quote(request.path, safe="/")
            return self.redirect(start, f"{root}login?next={nxt}")
        if request.method == "POST":
            token = request.arg("csrf_token")
            if not hmac.compare_digest(token.encode(), editor.csrf.encode()) or \
                    not request.same_origin():
                return self.page(start, "403 Forbidden", "This form is out of date or did not "
                                 "come from the desk; reload the page and try again.")
        elif request.method not in ("GET", "HEAD"):
            return self.page(start, "405 Method Not Allowed", "Use the desk's pages.")
        if rest == "logout" and request.method == "POST":
            accounts.sign_out(store, request.cookie(SESSION))
            return self.redirect(start, f"{root}login", [
                ("Set-Cookie", _cookie(SESSION, "", root, request.secure, clear=True))])
        if rest == "":
            return self.html(start, "200 OK", pages(self.cfg).get_template(
                "desk_issues.html.j2").render(site=self.cfg.site, editor=editor,
                                              csrf=editor.csrf, desk_root=root,
                                              issues=issues_view(store, self.cfg,
                                                                 self.clock())))
        m = re.fullmatch(r"(\d{4}-\d\d)/(.*)", rest)
        if m is None:
            return self.page(start, "404 Not Found", "Not a page of the desk.")
        try:
            period = Period.parse(m.group(1))
        except PeriodError:
            return self.page(start, "404 Not Found", "No such issue.")
        here, sub = f"{root}{period}/", m.group(2)
        if request.method == "POST":
            return self.act(request, start, store, editor, period, here, sub)
        if sub in ("issue.html", "issue.txt", "issue.json"):
            made, _ = desk_context(store, self.cfg, period, self.signer, here)
            body, kind = {"issue.html": (made.html, "text/html"),
                          "issue.txt": (made.text, "text/plain"),
                          "issue.json": (made.json, "application/json")}[sub]
            return respond(start, "200 OK", kind, body, EMAIL_CSP if sub == "issue.html" else
                           "default-src 'none'", [("X-Frame-Options", "SAMEORIGIN")])
        if sub:
            return self.page(start, "404 Not Found", "Not a page of the desk.")
        return self.issue(start, store, editor, period, here, root,
                          flash=DONE.get(request.arg("done"), "").format(email=editor.email))

    # --- signing in ------------------------------------------------------------------------

    def login(self, request: Request, start: StartResponse, store: Store, root: str
              ) -> list[bytes]:
        nxt = request.arg("next")
        if not nxt.startswith(root) or "//" in nxt:
            nxt = root
        action = f"{root}login?next={quote(nxt, safe='/')}"
        if request.method != "POST":
            csrf = secrets.token_urlsafe(24)
            return self.html(start, "200 OK", self.login_page(action, csrf),
                             [("Set-Cookie", _cookie(LOGIN, csrf, root, request.secure))])
        csrf = request.cookie(LOGIN)
        if not csrf or not hmac.compare_digest(csrf.encode(), request.arg("csrf_token").encode()):
            return self.page(start, "403 Forbidden", "The sign-in form is out of date; reload "
                             "it and try again.")
        email = request.arg("email")[:320]
        try:
            session = accounts.sign_in(store, email, request.arg("password")[:1024],
                                       request.remote, self.clock)
        except accounts.SignInRefused as exc:
            status = "429 Too Many Requests" if exc.retry_after else "401 Unauthorized"
            extra = [("Retry-After", str(exc.retry_after))] if exc.retry_after else []
            return self.html(start, status, self.login_page(action, csrf, email, str(exc)),
                             extra)
        log.info("desk: %s signed in from %s", session.editor.email, request.remote)
        return self.redirect(start, nxt, [
            ("Set-Cookie", _cookie(SESSION, session.token, root, request.secure)),
            ("Set-Cookie", _cookie(LOGIN, "", root, request.secure, clear=True))])

    def login_page(self, action: str, csrf: str, email: str = "", error: str = "") -> str:
        return pages(self.cfg).get_template("desk_login.html.j2").render(
            site=self.cfg.site, action=action, csrf=csrf, email=email, error=error)

    # --- one issue -------------------------------------------------------------------------

    def issue(self, start: StartResponse, store: Store, editor: SessionRecord, period: Period,
              here: str, root: str, status: str = "200 OK", **extra: Any) -> list[bytes]:
        _, context = desk_context(store, self.cfg, period, self.signer, here)
        context.update(interactive=True, csrf=editor.csrf, editor=editor, desk_root=root,
                       here=here, intro_text=context["issue"].intro, intro_preview=None,
                       flash="", error="")
        context.update(extra)
        page = pages(self.cfg).get_template("desk.html.j2").render(context)
        return self.html(start, status, page)

    def act(self, request: Request, start: StartResponse, store: Store,
            editor: SessionRecord, period: Period, here: str, sub: str) -> list[bytes]:
        actor = f"{editor.name} ({editor.email})"
        root = here[:-len(f"{period}/")]
        try:
            done = self.change(request, store, actor, editor, period, sub)
        except _Shown as shown:
            return self.issue(start, store, editor, period, here, root, **shown.context)
        except (Stale, IssueFrozen) as exc:
            return self.issue(start, store, editor, period, here, root, "409 Conflict",
                              error=str(exc))
        except MsdigestError as exc:
            return self.issue(start, store, editor, period, here, root, "400 Bad Request",
                              error=str(exc))
        return self.redirect(start, f"{here}?done={done}")

    def change(self, request: Request, store: Store, actor: str, editor: SessionRecord,
               period: Period, sub: str) -> str:
        cfg, arg = self.cfg, request.arg
        if sub == "edit":
            action, ref = arg("action"), arg("summary")
            if action not in EDITS or not ref:
                raise EditError("choose what to do with which summary")
            if action == "move":
                editorial.move(store, cfg, period, ref, arg("theme"), actor)
                return "moved"
            if action in ("exclude", "restore"):
                editorial.exclude(store, cfg, period, ref, action == "exclude", actor)
                return "excluded" if action == "exclude" else "restored"
            editorial.pin(store, cfg, period, ref, action == "pin", actor)
            return "pinned" if action == "pin" else "unpinned"
        if sub == "intro":
            text = arg("text")
            if arg("do") == "preview":
                raise _Shown(intro_text=text, intro_preview=Markup(intro_html(text)))
            editorial.set_intro(store, period, text, actor)
            return "intro"
        if sub == "subject":
            editorial.set_subject(store, cfg, period, "" if arg("do") == "clear"
                                  else arg("text"), actor)
            return "subject"
        if sub == "approve":
            editorial.approve(store, cfg, period, actor, seen=arg("seen"))
            return "approved"
        if sub == "withdraw":
            editorial.withdraw(store, period, actor)
            return "withdrawn"
        if sub == "send-test":
            (address, outcome), = self.send(store, cfg, period, self.secret, [editor.email])
            store.audit.record(period, actor, "sent a test", f"to {address}: {outcome}")
            if outcome == "sent":
                return "test-sent"
            raise _Shown(error=f"The test copy to {address} did not go: {outcome}")
        raise EditError("not something the desk does")

    # --- responses -------------------------------------------------------------------------

    def html(self, start: StartResponse, status: str, page: str,
             extra: list[tuple[str, str]] | None = None) -> list[bytes]:
        # same-origin: the desk's own forms then carry its Origin, which route() checks
        return respond(start, status, "text/html", page, CSP, extra or [], "same-origin")

    def page(self, start: StartResponse, status: str, text: str) -> list[bytes]:
        return respond(start, status, "text/plain", text + "\n")

    def redirect(self, start: StartResponse, where: str,
                 extra: list[tuple[str, str]] | None = None) -> list[bytes]:
        return respond(start, "303 See Other", "text/plain", f"See {where}\n",
                       extra=[("Location", where), *(extra or [])])


class _Shown(Exception):
    """Not an error: show the page again with this in it (a preview, a test's outcome)."""

    def __init__(self, **context: Any) -> None:
        super().__init__()
        self.context = context
