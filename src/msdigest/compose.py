"""Compose: decide what one month's issue holds, as plain data.

An issue covers the summaries dated in its month plus late arrivals (dated earlier,
first seen after the previous issue was frozen), never one already sent. Once the
first message of an issue goes out its content is frozen in the store, so a resumed
or repeated send delivers exactly the same issue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
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


@dataclass(frozen=True)
class Placed:
    """A summary chosen for an issue, with its theme and the editor's marks."""

    summary: Summary
    theme: str
    pinned: bool = False
    moved: bool = False  # the theme was set by an editor
    weak: bool = False  # the theme rules matched only weakly


def _item(p: Placed, cfg: Config) -> Item:
    s = p.summary
    return Item(s.id, s.title, s.link, s.published, teaser(s.text, cfg.digest.teaser_chars),
                p.theme, p.pinned)


def build(cfg: Config, period: str, placed: list[Placed], intro: str = "",
          subject: str = "") -> Issue:
    """Pure: sections in theme order; pinned first, then newest first, in each."""
    sections = []
    for theme in cfg.themes:
        items = [_item(p, cfg) for p in placed if p.theme == theme.id]
        items.sort(key=lambda i: (i.pinned, i.published, i.id), reverse=True)
        sections.append(Section(theme.id, theme.title, tuple(items)))
    count = sum(len(s.items) for s in sections)
    template = subject or cfg.digest.subject
    return Issue(period, month_name(period), fill(template, cfg, period, count),
                 fill(cfg.digest.preheader, cfg, period, count), tuple(sections), intro,
                 template)


def candidates(store: Store, cfg: Config, period: str) -> list[Placed]:
    """What the theme rules and dates give, before the editor's changes."""
    start, end = month_bounds(period, cfg.tz)
    late_since = store.previous_issue_frozen_at(period)
    placed = []
    for s in store.candidates(start, end, late_since):
        decision = classify(s, cfg.themes)
        placed.append(Placed(s, decision.theme, weak=decision.weak))
    return placed


def select(store: Store, cfg: Config, period: str) -> tuple[list[Placed], list[Placed]]:
    """(in the issue, excluded by an editor): frozen if already sent, else fresh."""
    known = set(cfg.theme_ids)
    catch_all = next(t.id for t in cfg.themes if t.catch_all)
    frozen = store.frozen_items(period)
    if frozen is not None:
        by_id = {s.id: s for s in store.summaries(sid for sid, _, _ in frozen)}
        return [Placed(by_id[sid], theme if theme in known else catch_all, pinned)
                for sid, theme, pinned in frozen if sid in by_id], []
    edits = store.edits(period)
    chosen, excluded = [], []
    for p in candidates(store, cfg, period):
        out, theme, pinned = edits.get(p.summary.id, (False, None, False))
        if theme in known and theme != p.theme:
            p = replace(p, theme=theme, moved=True, weak=False)
        p = replace(p, pinned=pinned)
        (excluded if out else chosen).append(p)
    return chosen, excluded


@dataclass(frozen=True)
class Draft:
    """An issue with what the editor's views need beside it: the marks on each summary
    and the summaries an editor left out."""

    issue: Issue
    chosen: tuple[Placed, ...]
    excluded: tuple[Placed, ...]


def draft(store: Store, cfg: Config, period: str) -> Draft:
    parse_period(period)
    intro, subject = store.notes(period)
    chosen, excluded = select(store, cfg, period)
    return Draft(build(cfg, period, chosen, intro, subject), tuple(chosen), tuple(excluded))


def compose(store: Store, cfg: Config, period: str) -> Issue:
    return draft(store, cfg, period).issue


def freeze(store: Store, cfg: Config, issue: Issue) -> None:
    """Record the issue's content before sending, if not done already."""
    if store.frozen_items(issue.period) is None:
        items = [(i.id, i.theme, i.pinned) for s in issue.sections for i in s.items]
        store.freeze_issue(issue.period, issue.subject, items)
