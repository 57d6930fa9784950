"""Compose: decide what one month's issue holds, as plain data (pure, no I/O).

An issue covers the summaries dated in its month plus late arrivals (dated earlier,
first seen after the previous issue was frozen), never one already sent; the store
picks those candidates, this module places them under themes and builds the Issue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .config import Config
from .learned import Model
from .model import Issue, Item, Section, Summary
from .period import Period
from .records import Edit
from .verdict import classify


@dataclass(frozen=True)
class Placed:
    """A candidate summary under its theme, with the editor's marks."""

    summary: Summary
    theme: str
    pinned: bool = False
    moved: bool = False  # the theme was set by an editor
    weak: bool = False  # the theme rules matched only weakly
    excluded: bool = False  # an editor left it out
    automatic: str = ""  # what msdigest chose (rules and model), "" if not decided here
    runner_up: str = ""
    margin: float = 1.0
    decided_by: str = "rules"
    review: bool = False  # a close call (low margin, not weak): listed for the editor


def teaser(text: str, limit: int) -> str:
    """The first paragraph, cut at a word boundary with an ellipsis if too long."""
    first = text.strip().split("\n", 1)[0].strip() if text.strip() else ""
    if len(first) <= limit:
        return first
    cut = first[: limit + 1]
    space = cut.rfind(" ")
    cut = cut[:space] if space > limit // 2 else first[:limit]
    return cut.rstrip(" ,;:—–-") + "…"


def place(cfg: Config, summaries: Iterable[Summary], edits: Mapping[str, Edit],
          model: Model | None = None, approved: Mapping[str, str] | None = None
          ) -> list[Placed]:
    """What the rules (and the model learned from editors) give, then the editor's marks
    on top. A summary placed in an approved issue keeps that place unless an editor moves
    it, so what the model learns from one approval cannot change what was approved."""
    known = set(cfg.theme_ids)
    approved = approved or {}
    placed = []
    for s in summaries:
        d = classify(s, cfg.themes, model)
        edit = edits.get(s.id, Edit())
        moved = edit.theme in known and edit.theme != d.theme
        kept = approved.get(s.id)
        theme = edit.theme if moved and edit.theme else kept if kept in known and \
            edit.theme is None else d.theme
        own = theme == d.theme and not moved
        placed.append(Placed(s, theme, pinned=edit.pinned, moved=moved,
                             weak=d.weak and own, excluded=edit.excluded, automatic=d.theme,
                             runner_up=d.runner_up, margin=d.margin, decided_by=d.decided_by,
                             review=d.low_margin and own and not d.weak))
    return placed


def item(p: Placed, teaser_chars: int) -> Item:
    s = p.summary
    return Item(s.id, s.title, s.link, s.published, teaser(s.text, teaser_chars), p.theme,
                p.pinned)


def build(cfg: Config, period: Period, items: Iterable[Item], intro: str = "",
          subject: str = "") -> Issue:
    """Sections in theme order; pinned first, then newest first, in each."""
    chosen = list(items)
    sections = []
    for theme in cfg.themes:
        mine = sorted((i for i in chosen if i.theme == theme.id),
                      key=lambda i: (i.pinned, i.published, i.id), reverse=True)
        sections.append(Section(theme.id, theme.title, tuple(mine)))
    return Issue(period, cfg.site.name, tuple(sections), subject or cfg.digest.subject,
                 cfg.digest.preheader, intro)
