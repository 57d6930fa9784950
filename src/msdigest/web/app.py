"""`msdigest web`: one WSGI app for everything people open in a browser — the pages
behind every email's links, the editor's desk under /desk/, the archive of sent issues
under /archive/ ("View in browser"), and /healthz for monitors.

Paths are taken relative to [unsubscribe] base_url's path too, so a proxy may pass
/digest/desk/... or strip /digest: both work.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from urllib.parse import urlsplit

from ..archive import PAGE
from ..config import Config
from ..errors import MsdigestError
from ..store import Store
from ..store.schema import VERSION
from .editing import EditorsDesk
from .http import Environ, StartResponse, respond
from .joining import Joining
from .links import LinkPages
from .server import Limits, Server

# an issue's web copy: its own styles and https images, nothing that runs
ARCHIVE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class WebApp:
    def __init__(self, cfg: Config, secret: bytes) -> None:
        self.cfg = cfg
        self.links = LinkPages(cfg, secret)
        self.desk = EditorsDesk(cfg, secret)
        self.joining = Joining(cfg, secret)
        self.prefix = urlsplit(cfg.unsubscribe.base_url).path.rstrip("/")

    def __call__(self, environ: Environ, start: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", "") or "/")
        prefix = self.prefix if self.prefix and path.startswith(self.prefix + "/") else ""
        inner = path[len(prefix):]
        if inner == "/healthz":
            return self.health(environ, start)
        if inner == "/archive":
            return respond(start, "308 Permanent Redirect", "text/plain", "",
                           extra=[("Location", f"{prefix}/archive/")])
        if inner.startswith("/archive/"):
            return self.archive(environ, start, inner[len("/archive/"):] or "index.html")
        if inner == "/desk":
            return respond(start, "308 Permanent Redirect", "text/plain", "",
                           extra=[("Location", f"{prefix}/desk/")])
        if inner.startswith("/desk/"):
            return self.desk(environ, start, f"{prefix}/desk/")
        if inner in ("/subscribe", "/confirm"):
            return self.joining(environ, start, inner[1:])
        return self.links(environ, start)

    def health(self, environ: Environ, start: StartResponse) -> list[bytes]:
        """200 when the store answers a query; 503 with the reason otherwise."""
        try:
            with Store.open(self.cfg.store_location, readonly=True) as store:
                store.db.one("SELECT count(*) FROM meta")
            status, doc = "200 OK", {"status": "ok", "store": "reachable", "schema": VERSION}
        except (MsdigestError, sqlite3.Error) as exc:
            status, doc = "503 Service Unavailable", {"status": "unavailable",
                                                      "store": str(exc)}
        body = json.dumps(doc) + "\n"
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else \
            respond(start, status, "application/json", body)


    def archive(self, environ: Environ, start: StartResponse, name: str) -> list[bytes]:
        """The archive's pages, as `[digest] archive_dir` holds them: index.html and
        YYYY-MM.html, nothing else (no other name can reach the file system)."""
        folder = self.cfg.archive_dir
        page = folder / name if folder is not None and PAGE.fullmatch(name) else None
        try:
            body = page.read_bytes() if page is not None else None
        except OSError:
            body = None
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return respond(start, "405 Method Not Allowed", "text/plain",
                           "The archive is read only.\n", extra=[("Allow", "GET, HEAD")])
        if body is None:
            return respond(start, "404 Not Found", "text/plain",
                           "No such issue in the archive.\n")
        out = respond(start, "200 OK", "text/html", body, ARCHIVE_CSP)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else out


def server(cfg: Config, secret: bytes, host: str = "127.0.0.1", port: int = 8080) -> Server:
    limits = Limits(trusted_proxy=cfg.web.trusted_proxy)
    return Server(WebApp(cfg, secret), host, port, limits)
