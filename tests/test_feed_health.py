"""Feed health: per feed, when it last worked, how many collects in a row failed and since
when, the last error; relative links resolved against the feed's own URL; a feed that
gives nothing counts as failing; `status` and the desk show failing feeds.

Real parts: an HTTP server for the feeds (also serving real-world feeds from the shared
corpus as they are), real SQLite, the CLI as a subprocess, the desk over HTTP."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.period import Period
from msdigest.store import Store
from msdigest.web import desk

from .conftest import CORPUS, SECRET, FeedServer, corpus, rss

NOW = datetime(2026, 11, 20, 6, tzinfo=UTC)
ITEM = {"title": "Aerobic exercise and fatigue", "link": "https://t.example.org/s/1",
        "guid": "urn:t:1", "date": "Wed, 14 Oct 2026 09:00:00 +0000"}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def corpus_server() -> Iterator[str]:
    """The shared corpus folder itself over HTTP, files served byte for byte."""
    corpus("feedjira__SamRuby.xml")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
        QuietHandler, directory=str(CORPUS)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def links(store: Store) -> list[str]:
    return sorted(s.link for s in store.content.all())


# --- health ---------------------------------------------------------------------------------


def test_a_failing_feed_keeps_its_last_success_and_counts_failures_since_when(
        tmp_path: Path, feed_server: FeedServer) -> None:
    clock = Clock(NOW)
    url = feed_server.put("feed.rss", rss([ITEM]))
    with Store.open(tmp_path / "s.sqlite", clock=clock) as store:
        assert collect_feed(store, url, tmp_path, UTC, clock=clock).new == 1
        ok = store.feeds.health(url)
        assert ok is not None and not ok.failing and ok.last_ok == NOW

        (feed_server.root / "feed.rss").unlink()
        for day in (1, 2, 3):
            clock.now = NOW + timedelta(days=day)
            assert "HTTP 404" in collect_feed(store, url, tmp_path, UTC, clock=clock).error
        bad = store.feeds.health(url)
        assert bad is not None and bad.failing
        assert (bad.failures, bad.failing_since, bad.last_ok) == (3, NOW + timedelta(days=1),
                                                                 NOW)
        assert "HTTP 404 File not found" in bad.error
        assert bad.checked_at == NOW + timedelta(days=3)

        feed_server.put("feed.rss", rss([ITEM]))
        clock.now = NOW + timedelta(days=4)
        assert not collect_feed(store, url, tmp_path, UTC, clock=clock).error
        back = store.feeds.health(url)
        assert back is not None and not back.failing
        assert (back.failures, back.failing_since, back.error, back.last_ok) == (
            0, None, "", NOW + timedelta(days=4))


def test_a_feed_whose_every_entry_is_skipped_is_failing_and_collect_exits_3(
        tmp_path: Path, make_config: Callable[..., Config]) -> None:
    """fastmailstatus: ten real status items without a link; nothing can be stored."""
    feed = corpus("rss2email__fastmailstatus__feed.rss")
    cfg = make_config(feeds=[str(feed)])
    done = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", cfg.source,
                           "collect"], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("MSDIGEST_")})
    assert done.returncode == 3, done.stdout + done.stderr
    assert "FAILED" in done.stdout and "every entry was skipped (10;" in done.stdout
    assert done.stdout.count("skipped entry") == 10  # each one still listed, with why
    with Store.open(cfg.store_location) as store:
        health = store.feeds.health(str(feed))
        assert health is not None and health.failing and "gives nothing" in health.error
        assert store.content.count() == 0


# --- relative links -------------------------------------------------------------------------


def test_root_relative_links_resolve_against_the_url_the_feed_was_fetched_from(
        tmp_path: Path, corpus_server: str) -> None:
    """Sam Ruby's real Atom feed: `<link href="/blog/...">` in every entry, no xml:base."""
    url = f"{corpus_server}/feedjira__SamRuby.xml"
    with Store.open(tmp_path / "s.sqlite") as store:
        report = collect_feed(store, url, tmp_path, UTC)
        assert (report.new, report.error, report.skipped) == (20, "", ())
        assert f"{corpus_server}/blog/2013/01/30/Plex" in links(store)
        assert all(link.startswith(f"{corpus_server}/blog/") for link in links(store))


def test_relative_links_in_a_feed_read_from_a_file_resolve_against_its_self_link(
        tmp_path: Path) -> None:
    """A file is a copy of a feed that lives elsewhere: its self link says where (a file://
    base would make no link http, and skip every entry)."""
    with Store.open(tmp_path / "s.sqlite") as store:
        report = collect_feed(store, str(corpus("feedjira__SamRuby.xml")), tmp_path, UTC)
        assert (report.new, report.error) == (20, "")
        assert "http://intertwingly.net/blog/2013/01/30/Plex" in links(store)


def test_xml_base_still_wins_over_the_feed_url(tmp_path: Path, corpus_server: str) -> None:
    with Store.open(tmp_path / "s.sqlite") as store:
        collect_feed(store, f"{corpus_server}/feedparser__docs-examples__base.xml", tmp_path,
                     UTC)
        collect_feed(store, str(corpus("feedparser__docs-examples__base.xml")), tmp_path, UTC)
        assert links(store) == ["http://example.org/archives/000001.html"]


def test_a_relative_link_with_nothing_to_resolve_it_against_says_so(
        tmp_path: Path) -> None:
    feed = tmp_path / "feed.rss"
    feed.write_text(rss([{**ITEM, "link": "/s/1"}, {**ITEM, "guid": "urn:t:2",
                                                    "link": "https://t.example.org/s/2"}]))
    feed.write_text(feed.read_text().replace("<link>https://t.example.org/</link>", ""))
    with Store.open(tmp_path / "s.sqlite") as store:
        report = collect_feed(store, str(feed), tmp_path, UTC)
    assert report.new == 1 and len(report.skipped) == 1
    assert "relative link '/s/1'" in report.skipped[0].reason
    assert "does not say where it lives" in report.skipped[0].reason


def test_a_redirected_feed_resolves_against_where_it_ended_up(
        tmp_path: Path, feed_server: FeedServer) -> None:
    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(301)
            self.send_header("Location", f"{feed_server.url}/news/feed.rss")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    (feed_server.root / "news").mkdir()
    feed_server.put("news/feed.rss", rss([{**ITEM, "link": "item-1.html"}]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with Store.open(tmp_path / "s.sqlite") as store:
            collect_feed(store, f"http://127.0.0.1:{httpd.server_port}/old.rss", tmp_path, UTC)
            assert links(store) == [f"{feed_server.url}/news/item-1.html"]
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- where failing feeds show ---------------------------------------------------------------


def failing_config(make_config: Callable[..., Config], feed_server: FeedServer) -> Config:
    good = feed_server.put("good.rss", rss([ITEM]))
    return make_config(feeds=[good, f"{feed_server.url}/gone.rss"])


def test_status_lists_each_feed_and_a_failing_one_makes_it_exit_3(
        make_config: Callable[..., Config], feed_server: FeedServer) -> None:
    cfg = failing_config(make_config, feed_server)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSDIGEST_")}
    cli = [sys.executable, "-m", "msdigest.cli", "--config", cfg.source]
    subprocess.run([*cli, "collect"], capture_output=True, timeout=60, env=env)
    subprocess.run([*cli, "collect"], capture_output=True, timeout=60, env=env)
    status = subprocess.run([*cli, "status"], capture_output=True, text=True, timeout=60,
                            env=env)
    assert status.returncode == 3, status.stdout + status.stderr
    lines = status.stdout.splitlines()
    good = next(line for line in lines if "good.rss" in line)
    gone = next(line for line in lines if "gone.rss" in line and "failing" in line)
    assert "ok (last worked" in good
    assert "failing since" in gone and "2 collects in a row" in gone and "last worked never" \
        in gone and "HTTP 404" in gone
    assert any(line.startswith("degraded: feed ") and "gone.rss" in line for line in lines)
    runs = [line for line in lines if "collect (manual)" in line]
    assert len(runs) == 2 and all(": partial" in line for line in runs)


def test_the_desk_warns_of_a_failing_feed(
        make_config: Callable[..., Config], feed_server: FeedServer) -> None:
    cfg = failing_config(make_config, feed_server)
    with Store.open(cfg.store_location) as store:
        for f in cfg.feeds:
            collect_feed(store, f.url, cfg.base_dir, cfg.tz)
    httpd = desk.server(cfg, Period(2026, 10), SECRET, "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        page = urllib.request.urlopen(f"{httpd.url}", timeout=30).read().decode()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert "No warnings" not in page
    warning = page[page.index('class="warning feed-failing"'):]
    warning = warning[:warning.index("</li>")]
    assert "Feed not working" in warning and "gone.rss" in warning and "HTTP 404" in warning
    assert "good.rss" not in warning
