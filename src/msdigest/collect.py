"""Collect: each feed retrieved, parsed and stored; a broken feed is a report, not a stop.

    retrieve (feeds.retrievers) → parse (feeds.parsers) → store (content)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path

from .clock import Clock, system_clock
from .errors import FeedError
from .feeds.parsers import parse
from .feeds.retrievers import retrieve
from .model import Skipped
from .records import Change
from .store import Store

log = logging.getLogger(__name__)


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


def collect_feed(store: Store, url: str, base_dir: Path, tz: tzinfo, timeout: float = 30,
                 clock: Clock = system_clock) -> FeedReport:
    """Fetch, parse and store one feed."""
    state = store.content.feed_state(url)
    try:
        fetched = retrieve(url, base_dir, state, timeout)
        if fetched.body is None:
            store.content.record_feed(url, state, None)
            return FeedReport(url, not_modified=True)
        parsed = parse(fetched.body, url, tz, fetched.content_type)
    except FeedError as exc:
        store.content.record_feed(url, None, str(exc))
        log.error("%s", exc)
        return FeedReport(url, error=str(exc))
    seen = clock()
    counts = {Change.NEW: 0, Change.UPDATED: 0, Change.SAME: 0}
    with store.transaction():
        for summary in parsed.summaries:
            counts[store.content.upsert(summary, seen)] += 1
        store.content.replace_skipped(url, parsed.skipped)
        store.content.record_feed(url, fetched.state, None)
    for s in parsed.skipped:
        log.warning("%s: skipped %s: %s", url, s.entry, s.reason)
    for w in parsed.warnings:
        log.warning("%s", w)
    return FeedReport(url, counts[Change.NEW], counts[Change.UPDATED], counts[Change.SAME],
                      tuple(parsed.skipped), tuple(parsed.warnings))


def collect(store: Store, urls: list[str], base_dir: Path, tz: tzinfo,
            clock: Clock = system_clock) -> list[FeedReport]:
    return [collect_feed(store, url, base_dir, tz, clock=clock) for url in urls]
