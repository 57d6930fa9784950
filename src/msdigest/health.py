"""Health: how the service is doing, in one record — what `msdigest status` prints, what
`status --json` hands to monitoring, and the failing feeds the desk warns about.

Degraded (exit 3) when a configured feed is failing, or a send is unfinished past its
time: an issue that has started going out with rows still open and no row changed for
STALLED (a send under way records a row every message, and a relay may take up to
[smtp] data_timeout over one), or the latest issue whose send time has come and that
has not gone out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .clock import iso
from .config import Config
from .editorial import ApprovalState, standing
from .errors import Exit
from .issue import draft
from .period import Period
from .records import OPEN, FeedHealth, RunRecord
from .store import Store
from .timeline import DUE

RECENT_ISSUES = 12
STALLED = timedelta(minutes=30)


def _when(dt: datetime | None) -> str:
    return f"{dt:%Y-%m-%d %H:%M} UTC" if dt else "never"


def _iso(dt: datetime | None) -> str | None:
    return iso(dt) if dt else None


@dataclass(frozen=True)
class FeedStatus:
    """A configured feed and how it has been doing (None: not collected yet)."""

    name: str
    url: str
    health: FeedHealth | None

    @property
    def failing(self) -> bool:
        return self.health is not None and self.health.failing

    def describe(self) -> str:
        h = self.health
        if h is None:
            return "not collected yet"
        if not h.failing:
            return f"ok (last worked {_when(h.last_ok)})"
        tries = f"{h.failures} collect{'s' if h.failures != 1 else ''} in a row"
        return (f"failing since {_when(h.failing_since)} ({tries}; last worked "
                f"{_when(h.last_ok)}): {h.error}")

    def to_json(self) -> dict[str, Any]:
        h = self.health
        return {"name": self.name, "url": self.url, "failing": self.failing,
                "last_checked": _iso(h.checked_at) if h else None,
                "last_ok": _iso(h.last_ok) if h else None,
                "consecutive_failures": h.failures if h else 0,
                "failing_since": _iso(h.failing_since) if h else None,
                "last_error": h.error if h else "",
                "alerted_at": _iso(h.alerted_at) if h else None}


@dataclass(frozen=True)
class IssueStatus:
    period: Period
    states: dict[str, int]  # ledger rows by state
    approval: ApprovalState
    approved_by: str
    approved_at: datetime | None
    frozen_at: datetime | None  # the first real send
    sent_at: datetime | None  # the last message accepted
    due_at: datetime | None  # when its send time came (under `msdigest run`)
    changed_at: datetime | None = None  # when a row of its ledger last changed

    @property
    def open_rows(self) -> int:
        return sum(n for state, n in self.states.items() if state in OPEN)

    def to_json(self) -> dict[str, Any]:
        return {"period": str(self.period), "states": self.states,
                "approval": str(self.approval), "approved_by": self.approved_by or None,
                "approved_at": _iso(self.approved_at), "frozen_at": _iso(self.frozen_at),
                "sent_at": _iso(self.sent_at), "due_at": _iso(self.due_at),
                "unfinished": self.open_rows}


def feeds(store: Store, cfg: Config) -> list[FeedStatus]:
    """The configured feeds (not one-off `collect --feed` ones), in config order."""
    return [FeedStatus(f.name, f.url, store.feeds.health(f.url)) for f in cfg.feeds]


def failing(store: Store, cfg: Config) -> list[FeedStatus]:
    return [f for f in feeds(store, cfg) if f.failing]


def issue_status(store: Store, cfg: Config, period: Period) -> IssueStatus:
    frozen = store.issues.frozen(period)
    approval = store.issues.approval(period)
    state = ApprovalState.SENT if frozen else standing(store, draft(store, cfg, period)).state
    return IssueStatus(
        period, {str(s): n for s, n in sorted(store.ledger.counts(period).items())}, state,
        approval.by if approval and approval.content_hash else "",
        approval.at if approval and approval.content_hash else None,
        frozen.frozen_at if frozen else None, store.ledger.last_sent_at(period),
        store.audit.notice_at(period, DUE), store.ledger.last_change(period))


def issues(store: Store, cfg: Config) -> list[IssueStatus]:
    """The recent issues anyone worked on or that fell due, newest first."""
    periods = sorted({*store.audit.periods(), *store.audit.marked(DUE)}, reverse=True)
    return [issue_status(store, cfg, p) for p in periods[:RECENT_ISSUES]]


@dataclass(frozen=True)
class Health:
    generated_at: datetime
    feeds: list[FeedStatus]
    issues: list[IssueStatus]
    runs: list[RunRecord]
    schedule: dict[str, tuple[str, datetime | None]] | None  # job -> (cron, next run)

    @property
    def problems(self) -> list[str]:
        found = [f"feed {f.name}: {f.describe()}" for f in self.feeds if f.failing]
        latest_due = max((i.period for i in self.issues if i.due_at), default=None)
        for i in self.issues:
            stalled = i.changed_at is None or self.generated_at - i.changed_at > STALLED
            if i.frozen_at and i.open_rows and stalled:
                found.append(f"the {i.period} issue is not sent to {i.open_rows:,} "
                             f"subscribers yet ({', '.join(f'{n:,} {s}' for s, n in i.states.items() if s in OPEN)}); "  # noqa: E501
                             f"`msdigest send --period {i.period}` carries on")
            elif i.period == latest_due and not i.frozen_at:
                found.append(f"the {i.period} issue was due {_when(i.due_at)} and has not "
                             f"gone out (approval: {i.approval})")
        return found

    @property
    def exit_code(self) -> Exit:
        return Exit.PARTIAL if self.problems else Exit.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "degraded" if self.problems else "ok",
            "problems": self.problems,
            "generated_at": iso(self.generated_at),
            "feeds": [f.to_json() for f in self.feeds],
            "runs": [{"id": r.id, "job": r.job, "started_by": str(r.started_by),
                      "started_at": iso(r.started_at), "finished_at": _iso(r.finished_at),
                      "outcome": r.outcome or "running", "detail": r.detail,
                      "counts": r.counts} for r in self.runs],
            "issues": [i.to_json() for i in self.issues],
            "schedule": None if self.schedule is None else {
                job: {"cron": cron, "next_run": _iso(when)}
                for job, (cron, when) in self.schedule.items()},
        }


def check(store: Store, cfg: Config, now: datetime, runs: int = 20) -> Health:
    stored = store.runs.scheduled()
    crons = {"collect": cfg.schedule.collect, "send": cfg.schedule.send}
    if cfg.schedule.bounces:
        crons["bounces"] = cfg.schedule.bounces
    schedule = None if stored is None else {
        job: (crons.get(job, ""), when) for job, when in stored.items()}
    return Health(now, feeds(store, cfg), issues(store, cfg), store.runs.recent(runs), schedule)
