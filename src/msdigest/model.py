"""The plain values that move one way: collect → store → themes → compose → render → send.

An `Edition` is what subscribers receive: the `Issue` (what it holds) and the `Look`
(how it is presented: templates, footer, time zone). At the first real send it is
frozen in the store as JSON, so a resumed send renders exactly the same email.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from .period import Period

SUBJECT_FIELDS = frozenset({"site", "month", "count", "summaries", "period"})


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


class SubscriberStatus(StrEnum):
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"


@dataclass(frozen=True)
class Subscriber:
    email: str  # normalized once, at import (see addresses.normalize)
    name: str
    themes: tuple[str, ...]  # empty = every theme
    status: SubscriberStatus


@dataclass(frozen=True)
class Theme:
    id: str
    title: str
    terms: tuple[str, ...]
    exact: tuple[str, ...]
    minor: tuple[str, ...] = ()  # generic words: support a theme, count half

    @property
    def catch_all(self) -> bool:
        return not self.terms and not self.exact and not self.minor


@dataclass(frozen=True)
class Site:
    name: str
    url: str
    sender: str  # the TOML key is `from`, a Python keyword
    postal_address: str
    reply_to: str


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


def fill(template: str, site: str, period: Period, count: int) -> str:
    """A subject or preheader with its placeholders filled in."""
    return template.format(site=site, month=period.label, count=count,
                           summaries="summary" if count == 1 else "summaries",
                           period=str(period))


def placeholders(template: str) -> set[str]:
    """The {names} a subject template uses; ValueError if it is malformed."""
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


def subject_problem(template: str) -> str | None:
    """What is wrong with a subject or preheader template, or None: the one check for
    the config's [digest] subject and an editor's `issue subject`."""
    try:
        unknown = placeholders(template) - SUBJECT_FIELDS
    except ValueError as exc:
        return str(exc)
    if unknown:
        return (f"unknown placeholder {{{sorted(unknown)[0]}}}; use any of "
                f"{', '.join('{' + f + '}' for f in sorted(SUBJECT_FIELDS))}, or none")
    return None


@dataclass(frozen=True)
class Issue:
    """What one month's issue holds, every theme in config order (empty ones too)."""

    period: Period
    site: str  # the site's name, for {site}
    sections: tuple[Section, ...]
    subject_template: str  # the editor's subject, else [digest] subject
    preheader_template: str
    intro: str = ""  # the editor's note, Markdown

    @property
    def month(self) -> str:
        return self.period.label

    @property
    def count(self) -> int:
        return sum(len(s.items) for s in self.sections)

    def for_themes(self, themes: tuple[str, ...]) -> tuple[Section, ...]:
        """The sections a subscriber with these theme choices receives."""
        return tuple(s for s in self.sections if not themes or s.id in themes)

    def subject_for(self, themes: tuple[str, ...] = ()) -> str:
        """Counted for what this variant holds."""
        count = sum(len(s.items) for s in self.for_themes(themes))
        return fill(self.subject_template, self.site, self.period, count)

    def preheader_for(self, themes: tuple[str, ...] = ()) -> str:
        count = sum(len(s.items) for s in self.for_themes(themes))
        return fill(self.preheader_template, self.site, self.period, count)

    @property
    def subject(self) -> str:
        return self.subject_for()

    @property
    def preheader(self) -> str:
        return self.preheader_for()

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(i for s in self.sections for i in s.items)


@dataclass(frozen=True)
class Look:
    """How an issue is presented: taken from the config and templates, frozen with it."""

    site: Site
    disclaimer: str
    caveats: tuple[str, ...]
    archive_url: str
    timezone: str
    templates: tuple[tuple[str, str], ...]  # (name, source) of every email template

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def view_url(self, period: Period) -> str:
        """The issue's web version, written by `msdigest archive`."""
        return f"{self.archive_url.rstrip('/')}/{period}.html"

    @property
    def archive_index(self) -> str:
        return f"{self.archive_url.rstrip('/')}/index.html"


@dataclass(frozen=True)
class Edition:
    """An issue in the look it goes out in: everything that decides what subscribers read."""

    issue: Issue
    look: Look

    @property
    def period(self) -> Period:
        return self.issue.period

    def to_json(self) -> dict[str, Any]:
        i, k = self.issue, self.look
        return {
            "version": 1,
            "issue": {
                "period": str(i.period), "site": i.site, "intro": i.intro,
                "subject_template": i.subject_template,
                "preheader_template": i.preheader_template,
                "sections": [{"id": s.id, "title": s.title, "items": [
                    {"id": t.id, "title": t.title, "link": t.link,
                     "published": t.published.isoformat(), "teaser": t.teaser,
                     "theme": t.theme, "pinned": t.pinned} for t in s.items]}
                    for s in i.sections],
            },
            "look": {
                "site": vars(k.site), "disclaimer": k.disclaimer, "caveats": list(k.caveats),
                "archive_url": k.archive_url, "timezone": k.timezone,
                "templates": dict(k.templates),
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Edition:
        if data.get("version") != 1:
            raise ValueError(f"an edition in format {data.get('version')!r}, this msdigest "
                             "reads format 1")
        i, k = data["issue"], data["look"]
        sections = tuple(
            Section(s["id"], s["title"], tuple(
                Item(t["id"], t["title"], t["link"], datetime.fromisoformat(t["published"]),
                     t["teaser"], t["theme"], bool(t["pinned"])) for t in s["items"]))
            for s in i["sections"])
        issue = Issue(Period.parse(i["period"]), i["site"], sections, i["subject_template"],
                      i["preheader_template"], i["intro"])
        look = Look(Site(**k["site"]), k["disclaimer"], tuple(k["caveats"]), k["archive_url"],
                    k["timezone"], tuple(sorted(k["templates"].items())))
        return cls(issue, look)
