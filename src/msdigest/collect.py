"""Collect: read feeds (RSS, Atom, JSON Feed; URLs or files) into sanitized summaries.

Pure parsing is separate from fetching so each can be tested alone; nothing here
touches the store.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import feedparser
import nh3

from . import __version__
from .model import Skipped, Summary
from .store import Store

log = logging.getLogger(__name__)

USER_AGENT = f"msdigest/{__version__} (+feed collector)"
BUNDLED_PREFIX = "msdigest:"

# What a summary may keep: text structure and links. No scripts, no styles, no event
# handlers (nh3 drops every attribute not listed) and only http(s)/mailto URLs.
ALLOWED_TAGS = {"p", "br", "a", "em", "strong", "b", "i", "ul", "ol", "li", "blockquote",
                "h3", "h4", "sup", "sub", "code"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}

# The summaries site writes dates as M/D/YYYY (e.g. 12/31/2026).
TEXT_DATE = re.compile(r"\b(1[0-2]|0?[1-9])/(3[01]|[12]\d|0?[1-9])/(\d{4})\b")


class FeedError(Exception):
    """A feed that could not be read at all; the message says what and where."""


@dataclass(frozen=True)
class Fetched:
    body: bytes | None  # None: not modified since last time
    content_type: str
    etag: str | None = None
    modified: str | None = None


@dataclass
class Parsed:
    summaries: list[Summary] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def sanitize_html(html: str) -> str:
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes=URL_SCHEMES, link_rel="noopener noreferrer").strip()


class _TextExtractor(HTMLParser):
    BLOCKS: ClassVar[set[str]] = {"p", "br", "li", "blockquote", "h3", "h4", "ul", "ol", "div"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text with one paragraph per line, whitespace collapsed."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def plain_title(title: str) -> str:
    return " ".join(html_to_text(nh3.clean(title, tags=set())).split())


def summary_id(key: str) -> str:
    """Short, stable id an editor can type (`msdigest themes explain ID`)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]


def date_in_text(text: str, tz: tzinfo) -> datetime | None:
    for m in TEXT_DATE.finditer(text):
        month, day, year = (int(g) for g in m.groups())
        try:
            return datetime(year, month, day, tzinfo=tz)
        except ValueError:
            continue
    return None


def _entry_date(entry: dict[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
    return None


def _entry_html(entry: dict[str, Any]) -> str:
    content = entry.get("content") or []
    for part in content:
        if part.get("value"):
            return part["value"]
    return entry.get("summary", "") or ""


def _describe(entry: dict[str, Any], index: int) -> str:
    title = plain_title(entry.get("title", "") or "")
    ref = entry.get("id") or entry.get("link") or ""
    label = f"entry {index}"
    if title:
        label += f" {title[:70]!r}"
    if ref:
        label += f" ({ref})"
    return label


def _to_summary(entry: dict[str, Any], index: int, feed: str, tz: tzinfo,
                out: Parsed) -> None:
    what = _describe(entry, index)
    guid = (entry.get("id") or "").strip()
    link = (entry.get("link") or "").strip()
    if not link.startswith(("http://", "https://")):
        out.skipped.append(Skipped(feed, what, "no http(s) link to read the summary"))
        return
    title = plain_title(entry.get("title", "") or "")
    html = sanitize_html(_entry_html(entry))
    text = html_to_text(html)
    if not title:
        out.skipped.append(Skipped(feed, what, "no title"))
        return
    published = _entry_date(entry) or date_in_text(f"{title}\n{text}", tz)
    if published is None:
        out.skipped.append(Skipped(feed, what, "no date in the feed or in the text"))
        return
    out.summaries.append(Summary(
        id=summary_id(guid or link), guid=guid, title=title, link=link,
        published=published, html=html, text=text, feed=feed,
    ))


def _json_feed_entries(data: Any, feed: str) -> list[dict[str, Any]]:
    """Map JSON Feed 1.x items onto feedparser's entry keys.

    The feedparser release on PyPI (6.0.x) reads RSS and Atom but not JSON Feed,
    so this small adapter gives JSON Feed items the same shape.
    """
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith(
            "https://jsonfeed.org/version/"):
        raise FeedError(f"{feed}: JSON but not a JSON Feed (no jsonfeed.org version)")
    items = data.get("items")
    if not isinstance(items, list):
        raise FeedError(f"{feed}: JSON Feed has no items list")
    entries = []
    for item in items:
        if not isinstance(item, dict):
            continue
        entry: dict[str, Any] = {
            "id": str(item.get("id", "")), "link": item.get("url") or item.get("external_url"),
            "title": item.get("title", ""),
            "summary": item.get("content_html") or item.get("content_text") or
            item.get("summary", ""),
        }
        for src, dst in (("date_published", "published_parsed"),
                         ("date_modified", "updated_parsed")):
            when = item.get(src)
            if when:
                try:
                    dt = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
                except ValueError:
                    continue
                if dt.tzinfo is None:
                    dt = dt.replace(tzinfo=UTC)
                entry[dst] = dt.astimezone(UTC).timetuple()
        entries.append(entry)
    return entries


def _looks_like_json(body: bytes, content_type: str) -> bool:
    if "json" in content_type:
        return True
    return body.lstrip()[:1] == b"{"


def parse(body: bytes, feed: str, tz: tzinfo, content_type: str = "") -> Parsed:
    """Turn a feed document into summaries; raises FeedError if nothing is usable."""
    out = Parsed()
    if _looks_like_json(body, content_type):
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            where = f" at line {exc.lineno}, column {exc.colno}" if hasattr(exc, "lineno") else ""
            raise FeedError(f"{feed}: not valid JSON{where}: {exc}") from None
        entries = _json_feed_entries(data, feed)
    else:
        doc = feedparser.parse(body, response_headers={"content-type": content_type}
                               if content_type else None, sanitize_html=False)
        if doc.bozo:
            exc = doc.get("bozo_exception")
            line = getattr(exc, "getLineNumber", lambda: None)()
            where = f" at line {line}" if line else ""
            problem = f"{type(exc).__name__}{where}: {getattr(exc, 'getMessage', lambda: exc)()}"
            if not doc.entries:
                raise FeedError(f"{feed}: not a readable RSS/Atom feed ({problem})")
            out.warnings.append(f"{feed}: feed is not well-formed ({problem}); "
                                f"read {len(doc.entries)} entries leniently")
        elif not doc.entries and not doc.get("version"):
            raise FeedError(f"{feed}: not an RSS, Atom or JSON feed")
        entries = doc.entries
    for index, entry in enumerate(entries, 1):
        _to_summary(entry, index, feed, tz, out)
    return out


def bundled_feed(name: str) -> bytes:
    return resources.files("msdigest").joinpath("data", name).read_bytes()


def fetch(url: str, base_dir: Path, etag: str | None = None, modified: str | None = None,
          timeout: float = 30) -> Fetched:
    """Read a feed from http(s), a bundled name (msdigest:NAME) or a file path."""
    if url.startswith(BUNDLED_PREFIX):
        name = url[len(BUNDLED_PREFIX):]
        try:
            return Fetched(bundled_feed(name), "")
        except (FileNotFoundError, OSError):
            raise FeedError(f"{url}: no bundled feed named {name!r}") from None
    if url.startswith(("http://", "https://")):
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": (
            "application/rss+xml, application/atom+xml, application/feed+json, "
            "application/xml;q=0.9, */*;q=0.5")})
        if etag:
            request.add_header("If-None-Match", etag)
        if modified:
            request.add_header("If-Modified-Since", modified)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return Fetched(resp.read(), resp.headers.get("Content-Type", ""),
                               resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return Fetched(None, "", etag, modified)
            raise FeedError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise FeedError(f"{url}: cannot fetch: {reason}") from None
    path = Path(url.removeprefix("file://"))
    if not path.is_absolute():
        path = base_dir / path
    try:
        return Fetched(path.read_bytes(), "")
    except OSError as exc:
        raise FeedError(f"{url}: cannot read file {path}: {exc.strerror}") from None



@dataclass(frozen=True)
class FeedReport:
    """One line of `msdigest collect` output."""

    feed: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: tuple[Skipped, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str = ""
    not_modified: bool = False


def collect_feed(store: Store, url: str, base_dir: Path, tz: tzinfo,
                 timeout: float = 30) -> FeedReport:
    """Fetch, parse and store one feed; a broken feed gives a report, not an exception."""
    etag, modified = store.feed_state(url)
    try:
        fetched = fetch(url, base_dir, etag, modified, timeout)
        if fetched.body is None:
            store.record_feed(url, etag, modified, None)
            return FeedReport(url, not_modified=True)
        parsed = parse(fetched.body, url, tz, fetched.content_type)
    except FeedError as exc:
        store.record_feed(url, None, None, str(exc))
        log.error("%s", exc)
        return FeedReport(url, error=str(exc))
    seen = datetime.now(UTC)
    counts = {"new": 0, "updated": 0, "same": 0}
    with store.transaction():
        for summary in parsed.summaries:
            counts[store.upsert_summary(summary, seen)] += 1
        store.replace_skipped(url, parsed.skipped)
        store.record_feed(url, fetched.etag, fetched.modified, None)
    for s in parsed.skipped:
        log.warning("%s: skipped %s: %s", url, s.entry, s.reason)
    for w in parsed.warnings:
        log.warning("%s", w)
    return FeedReport(url, counts["new"], counts["updated"], counts["same"],
                      tuple(parsed.skipped), tuple(parsed.warnings))
