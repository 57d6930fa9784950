"""Parsers: feed bytes → sanitized summaries. RSS and Atom through feedparser; JSON Feed
read directly (feedparser's PyPI release, 6.0.x, does not know it). Pure: no I/O."""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from ..errors import FeedError
from ..model import Skipped, Summary
from ..sanitize import clean_html, html_to_text, plain_title

# The summaries site writes dates as M/D/YYYY (e.g. 12/31/2026).
TEXT_DATE = re.compile(r"\b(1[0-2]|0?[1-9])/(3[01]|[12]\d|0?[1-9])/(\d{4})\b")


@dataclass(frozen=True)
class Entry:
    """One feed entry in the shape every format maps to, before any checks."""

    guid: str
    link: str
    title: str  # may hold markup
    html: str  # unsanitized
    published: datetime | None


@dataclass
class Parsed:
    summaries: list[Summary] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


ID_LENGTH = 16  # hex digits: 64 bits, so a collision needs ~4 billion summaries


def summary_id(key: str, length: int = ID_LENGTH) -> str:
    """Stable id an editor can type, or a unique prefix of it (`themes explain ID`)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:length]


def date_in_text(text: str, tz: tzinfo) -> datetime | None:
    for m in TEXT_DATE.finditer(text):
        month, day, year = (int(g) for g in m.groups())
        try:
            return datetime(year, month, day, tzinfo=tz)
        except ValueError:
            continue
    return None


def _describe(entry: Entry, index: int) -> str:
    title = plain_title(entry.title)
    ref = entry.guid or entry.link
    label = f"entry {index}"
    if title:
        label += f" {title[:70]!r}"
    if ref:
        label += f" ({ref})"
    return label


def _absolute(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def _to_summary(entry: Entry, index: int, feed: str, tz: tzinfo, out: Parsed) -> None:
    what = _describe(entry, index)
    if entry.link and not urlsplit(entry.link).scheme:
        out.skipped.append(Skipped(feed, what, f"relative link {entry.link[:80]!r}, and the "
                                   "feed does not say where it lives to resolve it against"))
        return
    if not _absolute(entry.link):
        out.skipped.append(Skipped(feed, what, "no http(s) link to read the summary"))
        return
    title = plain_title(entry.title)
    html = clean_html(entry.html)
    text = html_to_text(html)
    if not title:
        out.skipped.append(Skipped(feed, what, "no title"))
        return
    published = entry.published or date_in_text(f"{title}\n{text}", tz)
    if published is None:
        out.skipped.append(Skipped(feed, what, "no date in the feed or in the text"))
        return
    out.summaries.append(Summary(
        id=summary_id(entry.guid or entry.link), guid=entry.guid, title=title, link=entry.link,
        published=published, html=html, text=text, feed=feed))


# --- JSON Feed 1.x ---------------------------------------------------------------------------


def _json_date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def json_feed(body: bytes, feed: str, location: str = "") -> list[Entry]:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" \
            if isinstance(exc, json.JSONDecodeError) else ""
        raise FeedError(f"{feed}: not valid JSON{where}: {exc}") from None
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith(
            "https://jsonfeed.org/version/"):
        raise FeedError(f"{feed}: JSON but not a JSON Feed (no jsonfeed.org version)")
    items = data.get("items")
    if not isinstance(items, list):
        raise FeedError(f"{feed}: JSON Feed has no items list")
    # relative item URLs: against where the document was read, else where it says it lives
    base = location or next((str(data[k]) for k in ("feed_url", "home_page_url")
                             if _absolute(str(data.get(k) or ""))), "")
    return [Entry(guid=str(item.get("id", "")).strip(),
                  link=_resolve(base, str(item.get("url") or item.get("external_url") or "")),
                  title=str(item.get("title", "") or ""),
                  html=str(item.get("content_html") or item.get("content_text")
                           or item.get("summary") or ""),
                  published=_json_date(item.get("date_published"))
                  or _json_date(item.get("date_modified")))
            for item in items if isinstance(item, dict)]


# --- RSS and Atom, through feedparser --------------------------------------------------------


def _entry_date(entry: dict[str, Any]) -> datetime | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(name)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
    return None


def _entry_html(entry: dict[str, Any]) -> str:
    for part in entry.get("content") or []:
        if part.get("value"):
            return str(part["value"])
    return str(entry.get("summary", "") or "")


def _resolve(base: str, link: str) -> str:
    link = link.strip()
    return urljoin(base, link) if base and link and not _absolute(link) else link


def _home(feed: dict[str, Any]) -> str:
    """Where a feed says it lives: its self link, else its home page (absolute only)."""
    for link in feed.get("links") or []:
        if link.get("rel") == "self" and _absolute(str(link.get("href") or "")):
            return str(link["href"])
    home = str(feed.get("link") or "")
    return home if _absolute(home) else ""


def _feedparser(body: bytes, content_type: str, location: str) -> Any:
    headers = {"content-type": content_type} if content_type else {}
    if location:  # relative links (and xml:base) are relative to the document's URL
        headers["content-location"] = location
    return feedparser.parse(body, response_headers=headers or None, sanitize_html=False)


def rss_atom(body: bytes, feed: str, content_type: str, out: Parsed,
             location: str = "") -> list[Entry]:
    doc = _feedparser(body, content_type, location)
    if not location and any(e.get("link") and not _absolute(str(e["link"]))
                            for e in doc.entries):
        # A copy read from a file: its relative links are relative to where the feed
        # lives, which its self link says (a file:// base would make none of them http).
        home = _home(doc.get("feed") or {})
        if home:
            doc = _feedparser(body, content_type, home)
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
    return [Entry(guid=str(e.get("id") or "").strip(), link=str(e.get("link") or "").strip(),
                  title=str(e.get("title", "") or ""), html=_entry_html(e),
                  published=_entry_date(e)) for e in doc.entries]


def _looks_like_json(body: bytes, content_type: str) -> bool:
    return "json" in content_type or body.lstrip()[:1] == b"{"


def parse(body: bytes, feed: str, tz: tzinfo, content_type: str = "",
          location: str = "") -> Parsed:
    """Turn a feed document into summaries; raises FeedError if nothing is usable.
    `location`: the URL the document was read from (relative links are resolved
    against it); "" for a file, whose own self link is used instead."""
    out = Parsed()
    entries = json_feed(body, feed, location) if _looks_like_json(body, content_type) \
        else rss_atom(body, feed, content_type, out, location)
    for index, entry in enumerate(entries, 1):
        _to_summary(entry, index, feed, tz, out)
    return out
