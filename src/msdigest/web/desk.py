"""The editor's desk (`msdigest preview --serve`): one page to check an issue before
approving it, and the preview files, composed fresh from the store on every request."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Iterable
from typing import Any

from markupsafe import Markup

from .. import health, learning
from ..compose import Placed
from ..config import Config
from ..editorial import ApprovalState, content_hash, standing
from ..issue import draft
from ..period import Period
from ..preview import Contents, contents, warnings
from ..render import GMAIL_CLIP_BYTES
from ..sanitize import intro_html
from ..store import Store
from ..templates import pages
from ..unsubscribe import Signer
from ..verdict import classify, explain
from .http import Environ, StartResponse, is_loopback, respond
from .server import Server

log = logging.getLogger(__name__)

# The desk shows only sanitized content and needs no script: everything but inline styles
# and the issue in same-origin frames is refused.
DESK_CSP = ("default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
# The email itself: what a mail client would allow (no script), framed by the desk only.
EMAIL_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
             "base-uri 'none'; form-action 'none'; frame-ancestors 'self'")
ROUTES = ("/", "/issue.html", "/issue.txt", "/issue.json")


def _cmd(*words: str) -> str:
    """A command line to copy; placeholders (NAME, ADDR, THEME) stay as written."""
    return " ".join(["msdigest", *(w if w.isupper() else shlex.quote(w) for w in words)])


def _check(c: Placed, titles: dict[str, str]) -> dict[str, Any]:
    """A theme decision to check: a weak match or a close call."""
    return {"id": c.summary.id, "title": c.summary.title, "theme": titles[c.theme],
            "runner_up": titles.get(c.runner_up, c.runner_up), "margin": f"{c.margin:.2f}",
            "explain": _cmd("themes", "explain", c.summary.id)}


def desk_context(store: Store, cfg: Config, period: Period, signer: Signer, base: str = "/"
                 ) -> tuple[Contents, dict[str, Any]]:
    """Everything the desk page shows, composed from the store as it is now; `base` is
    where the issue's own pages (issue.html...) are served."""
    d = draft(store, cfg, period)
    issue, p = d.issue, str(period)
    start, _ = period.bounds(cfg.tz)
    made = contents(d.edition, signer)
    titles = {t.id: t.title for t in cfg.themes}
    model, learned = learning.model(store, cfg), learning.status(store, cfg).describe()

    def why(marks: Placed | None) -> str:
        if marks is None:
            return ""
        s = marks.summary
        return explain(s, classify(s, cfg.themes, model), cfg.themes, model, learned)

    where = standing(store, d)
    frozen = where.state is ApprovalState.SENT

    sections: list[dict[str, Any]] = []
    for s in issue.sections:
        items: list[dict[str, Any]] = []
        for item in s.items:
            marks = d.marks(item.id)
            items.append({
                "id": item.id, "title": item.title, "link": item.link,
                "date": item.published.astimezone(cfg.tz).strftime("%Y-%m-%d"),
                "pinned": item.pinned, "moved": bool(marks and marks.moved),
                "weak": bool(marks and marks.weak), "theme": s.id,
                "late": item.published < start,
                "explain": why(marks),
                "review": bool(marks and marks.review),
                "commands": [] if frozen else [
                    _cmd("issue", "exclude", "--period", p, item.id),
                    _cmd("issue", "unpin" if item.pinned else "pin", "--period", p, item.id),
                    _cmd("issue", "move", "--period", p, item.id, "THEME"),
                ],
            })
        sections.append({"id": s.id, "title": s.title, "items": items})

    notes = store.issues.notes(period)
    context = {
        "site": cfg.site,
        "period": p,
        "issue": issue,
        "config": cfg.source,
        "store": str(cfg.store_location),
        "frozen": frozen,
        "require_approval": cfg.digest.require_approval,
        "html_kb": f"{made.html_bytes / 1024:.0f}",
        "clip_kb": GMAIL_CLIP_BYTES // 1024,
        "warnings": warnings(issue, made.html_bytes),
        "weak": [_check(c, titles) for c in d.chosen if c.weak],
        "review": [_check(c, titles) for c in d.chosen if c.review],
        "skipped": store.content.skipped(),
        "failing_feeds": [{"name": f.name, "url": f.url, "state": f.describe()}
                          for f in health.failing(store, cfg)],
        "sections": sections,
        "theme_ids": cfg.theme_ids,
        "intro_html": Markup(intro_html(issue.intro)),
        "subject_override": notes.subject,
        "pinned": [i for s in sections for i in s["items"] if i["pinned"]],
        "moved": [dict(i, theme=s["title"]) for s in sections for i in s["items"]
                  if i["moved"]],
        "excluded": [{"id": c.summary.id, "title": c.summary.title,
                      "theme": titles[c.theme],
                      "restore": _cmd("issue", "restore", "--period", p, c.summary.id)}
                     for c in d.excluded],
        "approval": {"state": str(where.state), "text": where.describe()},
        "approve": _cmd("approve", "--period", p, "--by", "NAME"),
        "send_test": _cmd("send-test", "--period", p, "--to", "ADDR"),
        "show": _cmd("issue", "show", "--period", p),
        "text": made.text,
        "base": base,
        # the signed-in desk (web/editing.py) fills these in
        "interactive": False, "csrf": "", "editor": None, "desk_root": "", "here": base,
        "intro_text": "", "intro_preview": None, "flash": "", "error": "",
        "themes": cfg.themes,
        "late": [i for s in sections for i in s["items"] if i["late"]],
        "held": [{"id": c.summary.id, "title": c.summary.title, "theme": titles[c.theme]}
                 for c in d.held],
        "audit": store.audit.entries(period),
        # what an approval now would cover (held summaries included): the desk's form
        # sends it back, so an approval of a page that has since changed is refused
        "content_hash": content_hash(draft(store, cfg, period, hold_late=False).issue)
        if not frozen else "",
    }
    return made, context


class DeskApp:
    """WSGI app: the desk page and the preview files of one issue."""

    def __init__(self, cfg: Config, period: Period, secret: bytes) -> None:
        self.cfg = cfg
        self.period = period
        self.signer = Signer.of(cfg, secret)

    def __call__(self, environ: Environ, start: StartResponse) -> Iterable[bytes]:
        body = self.route(environ, start)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else body

    def route(self, environ: Environ, start: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return respond(start, "405 Method Not Allowed", "text/plain",
                           "The editor's desk only shows the issue; it changes nothing.\n",
                           extra=[("Allow", "GET, HEAD")])
        if path not in ROUTES:
            return respond(start, "404 Not Found", "text/plain",
                           f"Not found: {path}\nThe desk serves {', '.join(ROUTES)}\n")
        try:
            # A new connection each time: `msdigest issue ...` in another terminal shows up
            # on reload.
            with Store.open(self.cfg.store_location, readonly=True) as store:
                made, context = desk_context(store, self.cfg, self.period, self.signer)
            if path == "/":
                page = pages(self.cfg).get_template("desk.html.j2").render(context)
                return respond(start, "200 OK", "text/html", page, DESK_CSP)
            if path == "/issue.html":
                return respond(start, "200 OK", "text/html", made.html, EMAIL_CSP,
                               [("X-Frame-Options", "SAMEORIGIN")])
            if path == "/issue.txt":
                return respond(start, "200 OK", "text/plain", made.text)
            return respond(start, "200 OK", "application/json", made.json)
        except Exception as exc:  # a broken template or config: say so on the page
            log.exception("editor's desk: %s", path)
            return respond(start, "500 Internal Server Error", "text/plain",
                           f"The issue could not be shown: {type(exc).__name__}: {exc}\n"
                           "Fix it and reload; details are in the terminal.\n")


def server(cfg: Config, period: Period, secret: bytes, host: str = "127.0.0.1",
           port: int = 8125) -> Server:
    """A bound server, not yet serving."""
    return Server(DeskApp(cfg, period, secret), host, port)


def serve_desk(cfg: Config, period: Period, secret: bytes, host: str = "127.0.0.1",
               port: int = 8125, announce: Callable[[str], Any] = print,
               ready: Callable[[Server], Any] | None = None) -> None:
    """Serve the editor's desk until SIGINT/SIGTERM (or until `server.shutdown()`, which
    `ready` may call from another thread: it is given the server once it listens)."""
    httpd = server(cfg, period, secret, host, port)

    def started(srv: Server) -> None:
        announce(f"editor's desk for the {period} issue: {srv.url}")
        announce("reload the page after `msdigest issue ...` changes; Ctrl-C or SIGTERM stops")
        if not is_loopback(host):
            announce(f"note: {host} is not a loopback address: anyone who can reach it can "
                     "read the unsent issue")
        if ready is not None:
            ready(srv)

    httpd.serve(started)
    announce("editor's desk stopped")
