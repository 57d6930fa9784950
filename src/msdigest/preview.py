"""Preview: an issue as editors check it — the email as sent, its text part, and JSON —
written to files, or served as the editor's desk (`msdigest preview --serve`)."""

from __future__ import annotations

import ipaddress
import json
import logging
import shlex
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from . import editorial
from .compose import draft, parse_period
from .config import Config
from .model import Issue
from .render import (
    GMAIL_CLIP_BYTES,
    Personal,
    Rendered,
    environment,
    greeting,
    personalize,
    render,
)
from .store import Store
from .unsubscribe import links
from .web import ThreadingServer, bind

log = logging.getLogger(__name__)

SAMPLE_EMAIL = "subscriber@example.org"
SAMPLE_NAME = "Alex"


@dataclass(frozen=True)
class PreviewFiles:
    html: Path
    text: Path
    json: Path
    html_bytes: int
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Contents:
    """What the three preview files hold."""

    html: str
    text: str
    json: str

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))


def issue_json(issue: Issue) -> dict[str, Any]:
    return {
        "period": issue.period,
        "subject": issue.subject,
        "themes": [
            {"id": s.id, "title": s.title, "items": [
                {"id": i.id, "title": i.title, "link": i.link,
                 "published": i.published.isoformat(), "teaser": i.teaser}
                for i in s.items]}
            for s in issue.sections
        ],
    }


def sample(cfg: Config, rendered: Rendered, secret: bytes) -> tuple[str, str]:
    """The all-themes email as a sample subscriber would receive it."""
    lk = links(cfg, secret, SAMPLE_EMAIL)
    return personalize(rendered, Personal(greeting(SAMPLE_NAME), SAMPLE_EMAIL,
                                          lk.unsubscribe, lk.preferences))


def contents(cfg: Config, issue: Issue, secret: bytes) -> Contents:
    page, text = sample(cfg, render(cfg, issue), secret)
    return Contents(page, text,
                    json.dumps(issue_json(issue), indent=2, ensure_ascii=False) + "\n")


def warnings(issue: Issue, html_bytes: int) -> list[str]:
    found = [f"theme {s.title!r} has no summaries this month" for s in issue.sections
             if not s.items]
    if html_bytes >= GMAIL_CLIP_BYTES * 0.9:
        found.append(f"the HTML is {html_bytes / 1024:.0f} KB; Gmail clips messages over "
                     f"{GMAIL_CLIP_BYTES // 1024} KB")
    return found


def write(cfg: Config, issue: Issue, out: Path, secret: bytes) -> PreviewFiles:
    out.mkdir(parents=True, exist_ok=True)
    made = contents(cfg, issue, secret)
    paths = out / "issue.html", out / "issue.txt", out / "issue.json"
    paths[0].write_text(made.html, "utf-8")
    paths[1].write_text(made.text, "utf-8")
    paths[2].write_text(made.json, "utf-8")
    return PreviewFiles(*paths, made.html_bytes, tuple(warnings(issue, made.html_bytes)))


# --- the editor's desk: one page to check an issue before approving it ---------------------

StartResponse = Callable[..., Any]

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


def _when(iso_text: str) -> str:
    return iso_text[:16].replace("T", " ") + " UTC"


def desk_context(store: Store, cfg: Config, period: str, secret: bytes
                 ) -> tuple[Contents, dict[str, Any]]:
    """Everything the desk page shows, composed from the store as it is now."""
    d = draft(store, cfg, period)
    issue, chosen, excluded = d.issue, d.chosen, d.excluded
    made = contents(cfg, issue, secret)
    placed = {p.summary.id: p for p in chosen}
    titles = {t.id: t.title for t in cfg.themes}
    status, found = editorial.state(store, issue)
    frozen = status == "sent"

    sections = []
    for s in issue.sections:
        items = []
        for item in s.items:
            p = placed.get(item.id)
            items.append({
                "id": item.id, "title": item.title, "link": item.link,
                "date": item.published.astimezone(cfg.tz).strftime("%Y-%m-%d"),
                "pinned": item.pinned, "moved": bool(p and p.moved),
                "weak": bool(p and p.weak),
                "commands": [] if frozen else [
                    _cmd("issue", "exclude", "--period", period, item.id),
                    _cmd("issue", "unpin" if item.pinned else "pin", "--period", period,
                         item.id),
                    _cmd("issue", "move", "--period", period, item.id, "THEME"),
                ],
            })
        sections.append({"id": s.id, "title": s.title, "items": items})

    if status == "sent":
        text = "Sent: the issue went out and can no longer change."
    elif found is None:
        text = "Not approved yet."
    elif status == "approved":
        text = f"Approved by {found.by} at {_when(found.at)}."
    else:
        text = (f"Changed since {found.by} approved it at {_when(found.at)}: approve it "
                "again before sending.")
    approval = {"state": status, "text": text}

    intro, subject_override = store.notes(period)
    context = {
        "site": cfg.site,
        "period": period,
        "issue": issue,
        "config": cfg.source,
        "store": str(cfg.store_path),
        "frozen": frozen,
        "require_approval": cfg.digest.require_approval,
        "html_kb": f"{made.html_bytes / 1024:.0f}",
        "clip_kb": GMAIL_CLIP_BYTES // 1024,
        "warnings": warnings(issue, made.html_bytes),
        "weak": [{"id": p.summary.id, "title": p.summary.title, "theme": titles[p.theme],
                  "explain": _cmd("themes", "explain", p.summary.id)}
                 for p in chosen if p.weak],
        "skipped": store.skipped(),
        "sections": sections,
        "theme_ids": cfg.theme_ids,
        "intro_html": Markup(editorial.intro_html(intro)),
        "subject_override": subject_override,
        "pinned": [i for s in sections for i in s["items"] if i["pinned"]],
        "moved": [dict(i, theme=s["title"]) for s in sections for i in s["items"]
                  if i["moved"]],
        "excluded": [{"id": p.summary.id, "title": p.summary.title,
                      "theme": titles[p.theme],
                      "restore": _cmd("issue", "restore", "--period", period, p.summary.id)}
                     for p in excluded],
        "approval": approval,
        "approve": _cmd("approve", "--period", period, "--by", "NAME"),
        "send_test": _cmd("send-test", "--period", period, "--to", "ADDR"),
        "show": _cmd("issue", "show", "--period", period),
        "text": made.text,
    }
    return made, context


class DeskApp:
    """WSGI app: the desk page and the preview files of one issue, fresh on every request."""

    def __init__(self, cfg: Config, period: str, secret: bytes) -> None:
        parse_period(period)
        self.cfg = cfg
        self.period = period
        self.secret = secret

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        body = self.route(environ, start)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else body

    def route(self, environ: dict[str, Any], start: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return self.respond(start, "405 Method Not Allowed", "text/plain",
                                "The editor's desk only shows the issue; it changes nothing.\n",
                                [("Allow", "GET, HEAD")])
        if path not in ROUTES:
            return self.respond(start, "404 Not Found", "text/plain",
                                f"Not found: {path}\nThe desk serves {', '.join(ROUTES)}\n")
        try:
            # A new connection each time: `msdigest issue ...` in another terminal shows up
            # on reload.
            with Store.open(self.cfg.store_path) as store:
                made, context = desk_context(store, self.cfg, self.period, self.secret)
            if path == "/":
                page = environment(self.cfg).get_template("desk.html.j2").render(context)
                return self.respond(start, "200 OK", "text/html", page, csp=DESK_CSP)
            if path == "/issue.html":
                return self.respond(start, "200 OK", "text/html", made.html, csp=EMAIL_CSP,
                                    extra=[("X-Frame-Options", "SAMEORIGIN")])
            if path == "/issue.txt":
                return self.respond(start, "200 OK", "text/plain", made.text)
            return self.respond(start, "200 OK", "application/json", made.json)
        except Exception as exc:  # a broken template or config: say so on the page
            log.exception("editor's desk: %s", path)
            return self.respond(start, "500 Internal Server Error", "text/plain",
                                f"The issue could not be shown: {type(exc).__name__}: {exc}\n"
                                "Fix it and reload; details are in the terminal.\n")

    @staticmethod
    def respond(start: StartResponse, status: str, kind: str, body: str,
                extra: list[tuple[str, str]] | None = None, csp: str = "default-src 'none'"
                ) -> list[bytes]:
        data = body.encode("utf-8")
        start(status, [("Content-Type", f"{kind}; charset=utf-8"),
                       ("Content-Length", str(len(data))),
                       ("Cache-Control", "no-store"),
                       ("Content-Security-Policy", csp),
                       ("X-Content-Type-Options", "nosniff"),
                       ("Referrer-Policy", "no-referrer"),
                       *(extra or [])])
        return [data]


def server(cfg: Config, period: str, secret: bytes, host: str = "127.0.0.1",
           port: int = 8125) -> ThreadingServer:
    """A bound server, not yet serving: run `serve_forever()` (in a thread, for tests)."""
    return bind(DeskApp(cfg, period, secret), host, port)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(cfg: Config, period: str, secret: bytes, host: str = "127.0.0.1", port: int = 8125,
          announce: Callable[[str], Any] = print,
          ready: Callable[[ThreadingServer], Any] | None = None) -> None:
    """Serve the editor's desk until SIGINT/SIGTERM (or until `server.shutdown()`, which
    `ready` may call from another thread: it is given the server once it listens)."""
    httpd = server(cfg, period, secret, host, port)
    stop = threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    worker = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                              name="msdigest-desk", daemon=True)
    worker.start()
    try:
        announce(f"editor's desk for the {period} issue: {httpd.url}")
        announce("reload the page after `msdigest issue ...` changes; Ctrl-C or SIGTERM stops")
        if not _loopback(host):
            announce(f"note: {host} is not a loopback address: anyone who can reach it can "
                     "read the unsent issue")
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
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    announce("editor's desk stopped")
