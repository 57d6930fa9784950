"""Collect: RSS, Atom and JSON Feed from a real HTTP server and from files, into SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from msdigest.collect import collect_feed
from msdigest.errors import FeedError
from msdigest.feeds.parsers import parse
from msdigest.feeds.retrievers import Limits
from msdigest.sanitize import clean_html as sanitize_html
from msdigest.sanitize import html_to_text
from msdigest.store import Store

from .conftest import REPO, FeedServer, rss

TZ = ZoneInfo("UTC")

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom summaries</title><id>urn:test:atom</id><updated>2026-07-02T00:00:00Z</updated>
  <entry>
    <title>Aerobic exercise and fatigue</title>
    <id>urn:test:atom:1</id>
    <link href="https://t.example.org/atom-1"/>
    <published>2026-07-01T10:00:00+02:00</published>
    <updated>2026-07-01T10:00:00+02:00</updated>
    <summary type="html">&lt;p&gt;Cycling three times a week helped.&lt;/p&gt;</summary>
  </entry>
</feed>"""

JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "JSON summaries",
    "items": [
        {"id": "json-1", "url": "https://t.example.org/json-1", "title": "sNfL in blood",
         "content_html": "<p>A blood test for sNfL.</p>",
         "date_published": "2026-07-03T08:00:00Z"},
    ],
}


def rss_item(n: int, **extra: str) -> dict[str, str]:
    item = {"title": f"Summary {n}", "link": f"https://t.example.org/s/{n}",
            "guid": f"urn:t:{n}", "date": "Wed, 01 Jul 2026 09:00:00 +0000",
            "html": f"<p>Teaser {n}.</p><p>Body {n}.</p>"}
    item.update(extra)
    return item


def test_reads_rss_atom_and_json_feed_over_http(feed_server: FeedServer, store: Store) -> None:
    urls = [feed_server.put("feed.rss", rss([rss_item(1), rss_item(2)])),
            feed_server.put("feed.atom", ATOM),
            feed_server.put("feed.json", json.dumps(JSON_FEED))]
    reports = [collect_feed(store, u, Path("."), TZ) for u in urls]
    assert [(r.new, r.error) for r in reports] == [(2, ""), (1, ""), (1, "")]
    by_link = {s.link: s for s in store.content.all()}
    atom = by_link["https://t.example.org/atom-1"]
    assert atom.published == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)  # converted, tz-aware
    assert atom.text == "Cycling three times a week helped."
    js = by_link["https://t.example.org/json-1"]
    assert (js.title, js.guid, js.published.day) == ("sNfL in blood", "json-1", 3)
    assert all(s.first_seen is not None and s.first_seen.tzinfo for s in by_link.values())


def test_reads_a_feed_file_relative_to_the_config(tmp_path: Path, store: Store) -> None:
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "local.xml").write_text(rss([rss_item(7)]))
    report = collect_feed(store, "feeds/local.xml", tmp_path, TZ)
    assert report.new == 1
    assert store.content.all()[0].title == "Summary 7"


def test_sanitizes_html_with_an_allow_list() -> None:
    dirty = ('<p onclick="x()">Hi <a href="javascript:alert(1)">bad</a> '
             '<a href="https://ok.example.org/" onmouseover="y()">good</a></p>'
             '<script>alert(1)</script><img src=x onerror=alert(2)><iframe src="https://e"></iframe>'
             '<style>p{}</style>')
    clean = sanitize_html(dirty)
    for banned in ("onclick", "onmouseover", "onerror", "javascript:", "<script", "<img",
                   "<iframe", "<style", "alert"):
        assert banned not in clean
    assert 'href="https://ok.example.org/"' in clean
    assert html_to_text(clean) == "Hi bad good"


def test_bundled_sample_feed_is_sanitized_and_dated_from_text(store: Store) -> None:
    report = collect_feed(store, "msdigest:sample-feed.xml", Path("."), TZ)
    assert (report.new, report.error, report.skipped) == (25, "", ())
    for s in store.content.all():
        assert "<script" not in s.html and "javascript:" not in s.html
        assert "onclick" not in s.html
    dated_from_text = [s for s in store.content.all() if s.text.startswith("9/15/2026")]
    assert len(dated_from_text) == 1
    assert dated_from_text[0].published == datetime(2026, 9, 15, tzinfo=TZ)


def test_date_written_in_text_else_skipped_with_a_reason(feed_server: FeedServer,
                                                         store: Store) -> None:
    items = [
        {"title": "Dated in text", "link": "https://t.example.org/a", "guid": "a",
         "html": "<p>Posted 12/31/2026. Gut bacteria.</p>"},
        {"title": "No date anywhere", "link": "https://t.example.org/b", "guid": "b",
         "html": "<p>Nothing here.</p>"},
        {"title": "No link", "guid": "c", "date": "Wed, 01 Jul 2026 09:00:00 +0000"},
    ]
    report = collect_feed(store, feed_server.put("f.xml", rss(items)), Path("."),
                          ZoneInfo("America/New_York"))
    assert report.new == 1
    stored = store.content.all()[0]
    assert stored.published == datetime(2026, 12, 31, tzinfo=ZoneInfo("America/New_York"))
    reasons = {s.entry: s.reason for s in report.skipped}
    assert any("No date anywhere" in e and "(b)" in e for e in reasons)
    assert "no date in the feed or in the text" in reasons.values()
    assert "no http(s) link to read the summary" in reasons.values()
    assert {s.entry for s in store.content.skipped()} == set(reasons)  # kept for the editors


def test_collect_twice_changes_nothing_and_updates_are_counted(tmp_path: Path,
                                                               store: Store) -> None:
    feed = tmp_path / "f.xml"
    feed.write_text(rss([rss_item(1), rss_item(2)]))
    first = collect_feed(store, str(feed), Path("."), TZ)
    before = [(s.id, s.first_seen, s.html) for s in store.content.all()]
    second = collect_feed(store, str(feed), Path("."), TZ)
    assert (first.new, second.new, second.updated, second.unchanged) == (2, 0, 0, 2)
    assert [(s.id, s.first_seen, s.html) for s in store.content.all()] == before
    feed.write_text(rss([rss_item(1, title="Summary 1, corrected"), rss_item(2)]))
    third = collect_feed(store, str(feed), Path("."), TZ)
    assert (third.new, third.updated, third.unchanged) == (0, 1, 1)
    assert store.content.count() == 2
    fixed = next(s for s in store.content.all() if s.guid == "urn:t:1")
    assert fixed.title == "Summary 1, corrected"
    assert fixed.first_seen == next(seen for sid, seen, _ in before if sid == fixed.id)


def test_duplicates_by_guid_else_link_across_feeds(feed_server: FeedServer,
                                                   store: Store) -> None:
    a = feed_server.put("a.xml", rss([rss_item(1)]))
    same_guid = feed_server.put("b.xml", rss([rss_item(1, link="https://t.example.org/moved")]))
    same_link = feed_server.put("c.xml", rss([rss_item(
        9, guid="other-guid", link="https://t.example.org/moved")]))
    reports = [collect_feed(store, u, Path("."), TZ) for u in (a, same_guid, same_link)]
    assert [r.new for r in reports] == [1, 0, 0]
    assert store.content.count() == 1


def test_broken_feed_is_reported_and_others_still_collected(feed_server: FeedServer,
                                                            store: Store) -> None:
    good = feed_server.put("good.xml", rss([rss_item(1)]))
    broken = feed_server.put("broken.xml", "<html><body>Maintenance <b>page</body>")
    missing = f"{feed_server.url}/missing.xml"
    bad_json = feed_server.put("bad.json", '{"version": "https://jsonfeed.org/version/1",\n'
                               '"items": [}')
    reports = {r.feed: r for r in (collect_feed(store, u, Path("."), TZ)
                                   for u in (broken, missing, bad_json, good))}
    assert "not a readable RSS/Atom feed" in reports[broken].error or \
        "not an RSS, Atom or JSON feed" in reports[broken].error
    assert reports[missing].error == f"{missing}: HTTP 404 File not found"
    assert "not valid JSON at line 2" in reports[bad_json].error
    assert reports[good].new == 1 and not reports[good].error
    assert store.content.count() == 1


def test_malformed_xml_names_the_line() -> None:
    body = b'<?xml version="1.0"?>\n<rss version="2.0"><channel>\n<title>x</titl>\n'
    with pytest.raises(FeedError, match=r"f\.xml: .*line 3"):
        parse(body, "f.xml", TZ)


def test_unreachable_host_is_a_clear_error(store: Store) -> None:
    report = collect_feed(store, "http://127.0.0.1:9/feed.xml", Path("."), TZ, Limits(2))
    assert report.error.startswith("http://127.0.0.1:9/feed.xml: cannot fetch:")


def test_conditional_get_skips_an_unchanged_feed(feed_server: FeedServer,
                                                 store: Store) -> None:
    url = feed_server.put("f.xml", rss([rss_item(1)]))
    collect_feed(store, url, Path("."), TZ)
    again = collect_feed(store, url, Path("."), TZ)
    assert again.not_modified
    assert "If-Modified-Since" in feed_server.requests[-1][1]
    path = feed_server.root / "f.xml"
    path.write_text(rss([rss_item(1), rss_item(2)]))
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    changed = collect_feed(store, url, Path("."), TZ)
    assert (changed.not_modified, changed.new, changed.unchanged) == (False, 1, 1)


def test_collect_command_prints_a_line_per_feed_and_exit_code(
        tmp_path: Path, feed_server: FeedServer) -> None:
    good = feed_server.put("good.xml", rss([rss_item(1), rss_item(2, title="")]))
    cfg = tmp_path / "digest.toml"
    cfg.write_text(f'[store]\npath = "s.sqlite"\n[[feeds]]\nurl = "{good}"\n'
                   f'[[feeds]]\nurl = "{feed_server.url}/gone.xml"\n')
    run = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", str(cfg),
                          "collect"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert run.returncode == 3, run.stderr
    assert f"{good}: 1 new, 0 updated, 0 unchanged, 1 skipped" in run.stdout
    assert "skipped entry 2 (urn:t:2): no title" in run.stdout
    assert f"{feed_server.url}/gone.xml: FAILED — " in run.stdout
    assert "HTTP 404" in run.stdout
