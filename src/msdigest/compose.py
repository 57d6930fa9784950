"""Compose: decide what one month's issue holds, as plain data.

An issue covers the summaries dated in its month plus late arrivals (dated earlier,
first seen after the previous issue was frozen), never one already sent. Once the
first message of an issue goes out its content is frozen in the store, so a resumed
or repeated send delivers exactly the same issue.
"""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo

from .config import Config
from .model import Issue, Item, Section, Summary
from .store import Store
from .themes import classify

PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class PeriodError(ValueError):
    pass


def parse_period(text: str) -> tuple[int, int]:
    m = PERIOD.match(text or "")
    if not m:
        raise PeriodError(f"period must be YYYY-MM (e.g. 2026-07), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def month_bounds(period: str, tz: tzinfo) -> tuple[datetime, datetime]:
    year, month = parse_period(period)
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return start, end


def previous_period(today: date) -> str:
    """The month just ended, which the scheduled send composes."""
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def month_name(period: str) -> str:
    year, month = parse_period(period)
    return date(year, month, 1).strftime("%B %Y")


def teaser(text: str, limit: int) -> str:
    """The first paragraph, cut at a word boundary with an ellipsis if too long."""
    first = text.strip().split("\n", 1)[0].strip() if text.strip() else ""
    if len(first) <= limit:
        return first
    cut = first[: limit + 1]
    space = cut.rfind(" ")
    cut = cut[:space] if space > limit // 2 else first[:limit]
    return cut.rstrip(" ,;:—–-") + "…"


def fill(template: str, cfg: Config, period: str, count: int) -> str:
    return template.format(site=cfg.site.name, month=month_name(period), count=count,
                           summaries="summary" if count == 1 else "summaries", period=period)


def _item(summary: Summary, theme: str, cfg: Config) -> Item:
    return Item(summary.id, summary.title, summary.link, summary.published,
                teaser(summary.text, cfg.digest.teaser_chars), theme)


def build(cfg: Config, period: str, placed: list[tuple[Summary, str]]) -> Issue:
    """Pure: sections in theme order, newest first within a section."""
    sections = []
    for theme in cfg.themes:
        items = [_item(s, t, cfg) for s, t in placed if t == theme.id]
        items.sort(key=lambda i: (i.published, i.id), reverse=True)
        sections.append(Section(theme.id, theme.title, tuple(items)))
    count = sum(len(s.items) for s in sections)
    return Issue(period, month_name(period), fill(cfg.digest.subject, cfg, period, count),
                 fill(cfg.digest.preheader, cfg, period, count), tuple(sections))


def select(store: Store, cfg: Config, period: str) -> list[tuple[Summary, str]]:
    """The issue's summaries with their themes: frozen if already sent, else fresh."""
    frozen = store.frozen_items(period)
    if frozen is not None:
        by_id = {s.id: s for s in store.summaries(sid for sid, _ in frozen)}
        known = set(cfg.theme_ids)
        catch_all = next(t.id for t in cfg.themes if t.catch_all)
        return [(by_id[sid], theme if theme in known else catch_all)
                for sid, theme in frozen if sid in by_id]
    start, end = month_bounds(period, cfg.tz)
    late_since = store.previous_issue_frozen_at(period)
    return [(s, classify(s, cfg.themes).theme)
            for s in store.candidates(start, end, late_since)]


def compose(store: Store, cfg: Config, period: str) -> Issue:
    parse_period(period)
    return build(cfg, period, select(store, cfg, period))


def freeze(store: Store, cfg: Config, issue: Issue) -> None:
    """Record the issue's content before sending, if not done already."""
    if store.frozen_items(issue.period) is None:
        items = [(i.id, i.theme) for s in issue.sections for i in s.items]
        store.freeze_issue(issue.period, issue.subject, items)
