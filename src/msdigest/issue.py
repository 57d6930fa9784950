"""The issue of a month as it stands: drafted from the store while editors work on it,
frozen at its first real send, and read back from the freeze from then on.

    candidates (store) → place (themes + edits) → build → Edition ─┬→ preview, desk, approve
                                                                   └→ freeze → send, archive
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import learning
from .compose import Placed, build, item, place
from .config import Config
from .errors import EmptyIssue
from .model import Edition, Issue
from .period import Period
from .records import Source
from .store import Store
from .templates import look


@dataclass(frozen=True)
class Draft:
    """An edition with what the editor's views need beside it: the marks on each
    summary and the summaries an editor left out (none once frozen)."""

    edition: Edition
    chosen: tuple[Placed, ...] = ()
    excluded: tuple[Placed, ...] = ()
    frozen: bool = False
    held: tuple[Placed, ...] = ()  # collected after the approval: for the next issue
    cutoff: datetime | None = None  # when summaries stopped joining this issue

    @property
    def issue(self) -> Issue:
        return self.edition.issue

    def marks(self, summary_id: str) -> Placed | None:
        return next((p for p in self.chosen if p.summary.id == summary_id), None)


def candidates(store: Store, cfg: Config, period: Period) -> list[Placed]:
    """Every summary the issue could hold, placed and marked, excluded ones included."""
    start, end = period.bounds(cfg.tz)
    late_since = store.issues.previous_frozen_at(period)
    summaries = store.content.candidates(start, end, late_since)
    return place(cfg, summaries, store.issues.edits(period), learning.model(store, cfg),
                 store.labels.approved(s.id for s in summaries))


def draft(store: Store, cfg: Config, period: Period, hold_late: bool = True) -> Draft:
    """The issue as subscribers would get it now: frozen if it went out, else fresh.
    With [digest] late_summaries = "next_issue", what was collected after the approval
    is held for the next issue (`hold_late=False`: what a new approval would cover)."""
    frozen = store.issues.frozen(period)
    if frozen is not None:
        if frozen.edition is None:  # frozen by msdigest 0.1: rebuild once, keep from now on
            known = set(cfg.theme_ids)
            by_id = {s.id: s for s in store.content.all(m.summary_id for m in frozen.members)}
            items = [item(Placed(by_id[m.summary_id], m.theme if m.theme in known
                                 else cfg.catch_all, m.pinned), cfg.digest.teaser_chars)
                     for m in frozen.members if m.summary_id in by_id]
            notes = store.issues.notes(period)
            edition = Edition(build(cfg, period, items, notes.intro, notes.subject), look(cfg))
            store.issues.keep_edition(edition)
            return Draft(edition, frozen=True)
        return Draft(frozen.edition, frozen=True)
    placed = candidates(store, cfg, period)
    approval = store.issues.approval(period)
    cutoff = None
    if hold_late and cfg.digest.late_summaries == "next_issue" and approval and \
            approval.content_hash:
        cutoff = approval.at  # what was collected since waits for the next issue
    late = tuple(p for p in placed if cutoff and p.summary.first_seen
                 and p.summary.first_seen > cutoff)
    chosen = tuple(p for p in placed if not p.excluded and p not in late)
    notes = store.issues.notes(period)
    issue = build(cfg, period, (item(p, cfg.digest.teaser_chars) for p in chosen),
                  notes.intro, notes.subject)
    return Draft(Edition(issue, look(cfg)), chosen,
                 tuple(p for p in placed if p.excluded and p not in late), held=late,
                 cutoff=cutoff)


def for_sending(store: Store, cfg: Config, period: Period) -> Draft:
    d = draft(store, cfg, period)
    if d.issue.count == 0:
        raise EmptyIssue(f"the {period} issue has no summaries; nothing to send "
                            "(run `msdigest collect` first, or check the period)")
    return d


def freeze(store: Store, d: Draft) -> Edition:
    """Fix the content before the first message goes out; returns what was frozen (another
    process's freeze if it came first). Its placements become theme examples."""
    if d.frozen:
        return d.edition
    with store.transaction():
        won = store.issues.freeze(d.edition, d.cutoff)
        if won:
            learning.record_issue(store, d.edition.period, Source.SENT, d.chosen)
    if won:
        return d.edition
    frozen = store.issues.frozen(d.edition.period)
    assert frozen is not None and frozen.edition is not None
    return frozen.edition
