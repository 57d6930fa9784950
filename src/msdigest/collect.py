"""Collect: each feed retrieved, parsed and stored; a broken feed is a report, not a stop.

    retrieve (feeds.retrievers) → parse (feeds.parsers) → store (content)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from pathlib import Path

from .clock import Clock, system_clock
from .config import Collect
from .errors import FeedError
from .feeds.parsers import parse, summary_id
from .feeds.retrievers import Limits, retrieve
from .model import Skipped, Summary
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


def _store(store: Store, summary: Summary, seen: datetime, warnings: list[str]) -> Change:
    """Upsert; an id that belongs to another summary gets a longer one (and a warning)."""
    change = store.content.upsert(summary, seen)
    for length in (32, 64):
        if change is not Change.COLLISION:
            return change
        longer = summary_id(summary.guid or summary.link, length)
        warnings.append(f"{summary.feed}: {summary.title[:70]!r}: its id {summary.id} "
                        f"belongs to another summary; stored as {longer}")
        summary = replace(summary, id=longer)
        change = store.content.upsert(summary, seen)
    return change


def nothing_usable(url: str, skipped: list[Skipped]) -> str:
    """The error of a feed whose every entry was skipped: it gives nothing, like a 404."""
    return (f"{url}: every entry was skipped ({len(skipped)}; the first: "
            f"{skipped[0].reason}), so the feed gives nothing")


def collect_feed(store: Store, url: str, base_dir: Path, tz: tzinfo,
                 limits: Limits | None = None, clock: Clock = system_clock) -> FeedReport:
    """Fetch, parse and store one feed, and how the feed is doing (store.feeds)."""
    state = store.feeds.state(url)
    try:
        fetched = retrieve(url, base_dir, state, limits)
        if fetched.body is None:
            store.feeds.succeeded(url, state)
            return FeedReport(url, not_modified=True)
        parsed = parse(fetched.body, url, tz, fetched.content_type, fetched.location)
    except FeedError as exc:
        store.feeds.failed(url, str(exc))
        log.error("%s", exc)
        return FeedReport(url, error=str(exc))
    seen = clock()
    counts = dict.fromkeys(Change, 0)
    warnings = list(parsed.warnings)
    error = nothing_usable(url, parsed.skipped) if parsed.skipped and not parsed.summaries \
        else ""
    with store.transaction():
        for summary in parsed.summaries:
            counts[_store(store, summary, seen, warnings)] += 1
        store.content.replace_skipped(url, parsed.skipped)
        if error:
            store.feeds.failed(url, error)
        else:
            store.feeds.succeeded(url, fetched.state)
    for s in parsed.skipped:
        log.warning("%s: skipped %s: %s", url, s.entry, s.reason)
    for w in warnings:
        log.warning("%s", w)
    if error:
        log.error("%s", error)
    return FeedReport(url, counts[Change.NEW], counts[Change.UPDATED], counts[Change.SAME],
                      tuple(parsed.skipped), tuple(warnings), error)


def collect(store: Store, urls: list[str], base_dir: Path, tz: tzinfo,
            limits: Limits | None = None, clock: Clock = system_clock) -> list[FeedReport]:
    """Every feed, each on its own: one feed's failure, of any kind, never stops the rest."""
    reports = []
    for url in urls:
        try:
            reports.append(collect_feed(store, url, base_dir, tz, limits, clock))
        except Exception as exc:  # a bug or a store problem: this feed fails, the rest go on
            log.exception("collecting %s failed", url)
            reports.append(FeedReport(url, error=f"{url}: unexpected error: "
                                      f"{type(exc).__name__}: {exc}"))
    return reports


@dataclass(frozen=True)
class Collected:
    """A collect at a glance: the log line, the run's detail and its counts."""

    line: str  # "3 new, 0 updated, 1 feed failing"
    detail: str  # per feed
    counts: dict[str, int]
    failing: int


def summarize(reports: list[FeedReport]) -> Collected:
    new = sum(r.new for r in reports)
    updated = sum(r.updated for r in reports)
    failing = sum(bool(r.error) for r in reports)
    skipped = sum(len(r.skipped) for r in reports)
    line = f"{new} new, {updated} updated, " + (
        f"{failing} feed{'s' if failing != 1 else ''} failing" if failing
        else f"{len(reports)} feed{'s' if len(reports) != 1 else ''} ok")
    detail = "; ".join(r.error or (f"{r.feed}: not modified" if r.not_modified else
                                   f"{r.feed}: {r.new} new, {r.updated} updated")
                       for r in reports)
    return Collected(line, detail, {"feeds": len(reports), "failing": failing, "new": new,
                                  "updated": updated, "skipped": skipped}, failing)


def limits_of(settings: Collect) -> Limits:
    return Limits(settings.timeout, int(settings.max_feed_mb * 1024 * 1024))
