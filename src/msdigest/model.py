"""The plain data that moves between stages: collect → store → themes → compose → render."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Summary:
    """One research summary as collected from a feed, already sanitized."""

    id: str
    guid: str
    title: str
    link: str
    published: datetime  # timezone-aware
    html: str  # sanitized with an allow-list
    text: str  # plain text of `html`
    feed: str
    first_seen: datetime | None = None  # set by the store


@dataclass(frozen=True)
class Skipped:
    """An entry that could not become a summary, and why (shown to editors)."""

    feed: str
    entry: str
    reason: str


@dataclass(frozen=True)
class Subscriber:
    email: str
    name: str
    themes: tuple[str, ...]  # empty = every theme
    status: str  # active | unsubscribed | bounced


@dataclass(frozen=True)
class Item:
    """A summary as it appears in an issue."""

    id: str
    title: str
    link: str
    published: datetime
    teaser: str
    theme: str
    pinned: bool = False  # an editor put it first in its section


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Issue:
    period: str  # YYYY-MM
    month: str  # "July 2026"
    subject: str
    preheader: str
    sections: tuple[Section, ...]  # every theme, in config order, empty ones included
    intro: str = ""  # the editor's note, Markdown
    subject_template: str = ""  # the editor's subject, else [digest] subject

    @property
    def count(self) -> int:
        return sum(len(s.items) for s in self.sections)

    def for_themes(self, themes: tuple[str, ...]) -> tuple[Section, ...]:
        """The sections a subscriber with these theme choices receives."""
        return tuple(s for s in self.sections if not themes or s.id in themes)
