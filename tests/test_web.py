"""The links in the email work: one-click unsubscribe and theme preferences over real HTTP."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from urllib.parse import urlencode, urlsplit

import pytest

from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.delivery.send import send
from msdigest.period import Period
from msdigest.store import Store
from msdigest.subscribers import import_file
from msdigest.web.links import server

from .conftest import REPO, SECRET, SmtpServer


@pytest.fixture
def site(make_config: Callable[..., Config], smtp_server: SmtpServer
         ) -> Iterator[tuple[Config, Store, str]]:
    cfg = make_config(smtp=smtp_server)
    store = Store.open(cfg.store_location)
    collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
    import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
    httpd = server(cfg, SECRET, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield cfg, store, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def local(url: str, base: str) -> str:
    """The email's public link, pointed at the test server."""
    parts = urlsplit(url)
    return f"{base}{parts.path}?{parts.query}"


def fetch(url: str, data: bytes | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_one_click_unsubscribe_from_the_header(site: tuple[Config, Store, str],
                                               smtp_server: SmtpServer) -> None:
    cfg, store, base = site
    send(store, cfg, Period.parse("2026-09"), SECRET)
    msg = smtp_server.handler.to("eva.novak@example.org")[0].message
    link = msg["List-Unsubscribe"].split(",")[0].strip(" <>")
    status, page = fetch(local(link, base))  # a GET (e.g. a link scanner) changes nothing
    assert status == 200 and "Stop sending the monthly digest to" in page
    assert store.subscribers.get("eva.novak@example.org").status == "active"  # type: ignore
    status, page = fetch(local(link, base), b"List-Unsubscribe=One-Click")  # RFC 8058 POST
    assert status == 200 and "You are unsubscribed" in page
    assert store.subscribers.get("eva.novak@example.org").status == "unsubscribed"  # type: ignore
    smtp_server.handler.received.clear()
    send(store, cfg, Period.parse("2026-10"), SECRET)
    assert not smtp_server.handler.to("eva.novak@example.org")
    assert len(smtp_server.handler.received) == 5


def test_tampered_link_is_refused(site: tuple[Config, Store, str]) -> None:
    _, store, base = site
    status, page = fetch(f"{base}/digest/unsubscribe?t=YW5hLnNpbHZhQGV4YW1wbGUub3Jn.forged",
                         b"List-Unsubscribe=One-Click")
    assert status == 400 and "This link does not work" in page
    assert store.subscribers.get("ana.silva@example.org").status == "active"  # type: ignore


def test_preferences_link_changes_the_themes(site: tuple[Config, Store, str],
                                             smtp_server: SmtpServer) -> None:
    cfg, store, base = site
    send(store, cfg, Period.parse("2026-09"), SECRET)
    msg = smtp_server.handler.to("ana.silva@example.org")[0].message
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    start = html.index(cfg.unsubscribe.base_url + "/preferences?t=")
    link = html[start:html.index('"', start)]
    status, page = fetch(local(link, base))
    assert status == 200 and 'value="exercise" checked' in page
    token = urlsplit(link).query.split("=", 1)[1]
    body = urlencode([("t", token), ("theme", "exercise"), ("theme", "biomarkers")]).encode()
    status, page = fetch(local(link, base), body)
    assert status == 200 and "Saved." in page
    assert store.subscribers.get("ana.silva@example.org").themes == (  # type: ignore[union-attr]
        "exercise", "biomarkers")
    status, page = fetch(local(link, base), urlencode([("t", token)]).encode())
    assert "Choose at least one theme" in page
    assert store.subscribers.get("ana.silva@example.org").themes == (  # type: ignore[union-attr]
        "exercise", "biomarkers")
    # An unsubscribe token does not open the preferences page (purpose is signed).
    unsub = msg["List-Unsubscribe"].split(",")[0].strip(" <>").replace("/unsubscribe",
                                                                         "/preferences")
    assert fetch(local(unsub, base))[0] == 400
