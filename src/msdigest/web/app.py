"""`msdigest web`: one WSGI app for everything people open in a browser — the pages
behind every email's links, the editor's desk under /desk/, and /healthz for monitors.

Paths are taken relative to [unsubscribe] base_url's path too, so a proxy may pass
/digest/desk/... or strip /digest: both work.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from urllib.parse import urlsplit

from ..config import Config
from ..errors import MsdigestError
from ..store import Store
from ..store.schema import VERSION
from .editing import EditorsDesk
from .http import Environ, StartResponse, respond
from .joining import Joining
from .links import LinkPages
from .server import Limits, Server


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
            with Store.open(self.cfg.store_path, readonly=True) as store:
                store.db.one("SELECT count(*) FROM sqlite_master")
            status, doc = "200 OK", {"status": "ok", "store": "reachable", "schema": VERSION}
        except (MsdigestError, sqlite3.Error) as exc:
            status, doc = "503 Service Unavailable", {"status": "unavailable",
                                                      "store": str(exc)}
        body = json.dumps(doc) + "\n"
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else \
            respond(start, status, "application/json", body)


def server(cfg: Config, secret: bytes, host: str = "127.0.0.1", port: int = 8080) -> Server:
    limits = Limits(trusted_proxy=cfg.web.trusted_proxy)
    return Server(WebApp(cfg, secret), host, port, limits)
