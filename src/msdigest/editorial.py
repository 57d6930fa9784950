"""Editorial: the editor's changes to an issue, and the approval that lets it go out.

Changes are stored with the issue (not in the summaries), so the next collect cannot
undo them, and they stop at the first message sent: a frozen issue is never edited.
Approval records who approved which content, as a hash of exactly what subscribers
would get; any later change — an edit or a newly collected summary — needs a new one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import nh3
from markdown_it import MarkdownIt

from .collect import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, html_to_text
from .compose import Placed, candidates, compose, fill, parse_period
from .config import Config
from .model import Issue
from .store import Store

_markdown = MarkdownIt("commonmark", {"html": False})


class EditError(ValueError):
    """An edit that cannot be made; the message says why and what to do."""


class NotApproved(Exception):
    """An issue that may not be sent yet, with the plain reason."""


@dataclass(frozen=True)
class Approval:
    content_hash: str
    by: str
    at: str


# --- the intro note -------------------------------------------------------------------------


def intro_links(markdown: str) -> list[str]:
    hrefs = []
    for token in _markdown.parse(markdown):
        for child in token.children or []:
            if child.type == "link_open":
                hrefs.append(str(child.attrs.get("href", "")))
    return hrefs


def intro_html(markdown: str) -> str:
    """The note as email-safe HTML: CommonMark without raw HTML, then the allow-list."""
    if not markdown.strip():
        return ""
    return nh3.clean(_markdown.render(markdown), tags=ALLOWED_TAGS,
                     attributes=ALLOWED_ATTRIBUTES, url_schemes={"https"})


def intro_text(markdown: str) -> str:
    return html_to_text(intro_html(markdown))


# --- changes ----------------------------------------------------------------------------


def _editable(store: Store, period: str) -> None:
    parse_period(period)
    if store.is_frozen(period):
        raise EditError(f"the {period} issue has already been sent; it can no longer change")


def find(store: Store, cfg: Config, period: str, ref: str) -> Placed:
    """The issue's summary (included or excluded) whose id starts with `ref`."""
    everything = candidates(store, cfg, period)
    exact = [p for p in everything if p.summary.id == ref]
    matches = exact or [p for p in everything if p.summary.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise EditError(f"no summary {ref!r} in the {period} issue "
                        f"(`msdigest issue show --period {period}` lists them)")
    raise EditError(f"{ref!r} matches {len(matches)} summaries; give more of the id")


def exclude(store: Store, cfg: Config, period: str, ref: str, out: bool = True) -> Placed:
    _editable(store, period)
    placed = find(store, cfg, period, ref)
    store.set_edit(period, placed.summary.id, excluded=out)
    return placed


def move(store: Store, cfg: Config, period: str, ref: str, theme: str) -> Placed:
    _editable(store, period)
    if theme not in cfg.theme_ids:
        raise EditError(f"no theme {theme!r}; themes are {', '.join(cfg.theme_ids)}")
    placed = find(store, cfg, period, ref)
    store.set_edit(period, placed.summary.id, theme=theme)
    return placed


def pin(store: Store, cfg: Config, period: str, ref: str, pinned: bool = True) -> Placed:
    _editable(store, period)
    placed = find(store, cfg, period, ref)
    store.set_edit(period, placed.summary.id, pinned=pinned)
    return placed


def set_intro(store: Store, period: str, markdown: str) -> None:
    _editable(store, period)
    bad = [h for h in intro_links(markdown) if not h.startswith("https://")]
    if bad:
        raise EditError(f"links in the note must be absolute https:// addresses: {bad[0]!r}")
    store.set_notes(period, intro=markdown.strip())


def set_subject(store: Store, cfg: Config, period: str, subject: str) -> None:
    _editable(store, period)
    try:
        fill(subject, cfg, period, 1)
    except (KeyError, IndexError, ValueError) as exc:
        raise EditError(f"subject: unknown placeholder {exc}; use {{site}} {{month}} "
                        "{count} {summaries} {period}, or none") from None
    store.set_notes(period, subject=subject.strip())


# --- approval ---------------------------------------------------------------------------


def content_hash(issue: Issue) -> str:
    """A fingerprint of everything a subscriber would read in this issue."""
    content = {
        "period": issue.period, "subject": issue.subject_template, "intro": issue.intro,
        "sections": [[s.id, [[i.id, i.title, i.link, i.published.isoformat(), i.teaser,
                              i.pinned] for i in s.items]] for s in issue.sections],
    }
    blob = json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def approve(store: Store, cfg: Config, period: str, by: str) -> tuple[Issue, str]:
    if not by.strip():
        raise EditError("approve needs --by NAME: who approved this issue")
    issue = compose(store, cfg, period)
    if issue.count == 0:
        raise EditError(f"the {period} issue has no summaries; there is nothing to approve")
    digest = content_hash(issue)
    store.approve(period, digest, by.strip())
    return issue, digest


def approval(store: Store, period: str) -> Approval | None:
    found = store.approval(period)
    return Approval(*found) if found else None


def state(store: Store, issue: Issue) -> tuple[str, Approval | None]:
    """"sent", "none" (never approved), "approved" (as it stands) or "changed" since."""
    found = approval(store, issue.period)
    if store.is_frozen(issue.period):
        return "sent", found
    if found is None:
        return "none", None
    return ("approved" if found.content_hash == content_hash(issue) else "changed"), found


def check(store: Store, issue: Issue, require: bool) -> None:
    """Raise NotApproved unless the issue may go out as it stands."""
    status, found = state(store, issue)
    if not require or status in ("sent", "approved"):
        return  # a send already under way carries on with the content it froze
    period = issue.period
    again = f"check `msdigest preview --period {period}` and run `msdigest approve " \
            f"--period {period} --by NAME`"
    if found is None:
        raise NotApproved(f"the {period} issue has not been approved; {again}")
    raise NotApproved(f"the {period} issue changed after {found.by} approved it on "
                      f"{found.at[:16].replace('T', ' ')} UTC; {again} again")

