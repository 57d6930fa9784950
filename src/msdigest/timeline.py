"""The month's timeline, and what is due at each step: a schedule that waits for the editor.

    send time − review_days   the draft is composed; every editor is emailed a link to it
    send time − 1 day         a reminder, if it is not approved
    send time                 the send job: sends if approved; if not, it is not dropped:
    every collect after that  ... the send is tried again, until it is approved
    send time + give_up_days  editors are told it did not go out; no more tries
    after the send            editors get a short report; the archive is rebuilt

Level-triggered: `tick` looks at where things stand now and does what is due, so a
service that was down at the moment something fell due does it at the next tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import archive, notices
from .config import Config
from .cron import cron_trigger
from .delivery.report import Report
from .delivery.send import send
from .editorial import ApprovalState, standing
from .errors import MsdigestError, Refused
from .issue import draft
from .period import Period
from .records import OPEN, DeliveryState
from .store import Store

log = logging.getLogger(__name__)

DUE = "due"  # the mark: this issue's send time has come


@dataclass(frozen=True)
class Outcome:
    job: str
    outcome: str  # ok | partial | refused | error
    detail: str
    counts: dict[str, int] = field(default_factory=dict)


def next_send(cfg: Config, now: datetime) -> datetime | None:
    fire: datetime | None = cron_trigger(cfg.schedule.send, cfg.tz).get_next_fire_time(
        None, now)
    return fire


def period_at(when: datetime, cfg: Config) -> Period:
    """The issue a send at this time sends: the month just ended."""
    return Period.of(when.astimezone(cfg.tz).date()).previous()


def send_now(store: Store, cfg: Config, period: Period, secret: bytes | None) -> Outcome:
    """The send job for one issue; a refusal is recorded, not final (see tick)."""
    job = f"send {period}"
    store.audit.notice_once(period, DUE)
    if secret is None:
        return Outcome(job, "error", "MSDIGEST_SECRET is not set; cannot sign unsubscribe "
                                     "links")
    try:
        report = send(store, cfg, period, secret)
    except Refused as exc:
        return Outcome(job, "refused", f"{exc}; the send is tried again at every collect "
                       f"for {cfg.schedule.give_up_days:g} days")
    except MsdigestError as exc:
        return Outcome(job, "error", str(exc))
    archived = ""
    if report.complete:
        sent_report(store, cfg, period, report)
        archived = archive.after_send(store, cfg)  # "View in browser" works now
    return Outcome(job, report.outcome, "; ".join(filter(None, (report.line, archived))),
                   report.counts)


def sent_report(store: Store, cfg: Config, period: Period, report: Report) -> None:
    counts = store.ledger.counts(period)
    left = store.subscribers.left_since(store.issues.previous_frozen_at(period))
    notices.notify(store, cfg, period, "report", f"The {period.label} issue went out", [
        f"The {period.label} issue has been sent.", "",
        f"  sent:     {counts.get(DeliveryState.SENT, 0):,}",
        f"  failed:   {counts.get(DeliveryState.FAILED, 0):,}",
        f"  bounced:  {report.bounced:,}",
        f"  unsubscribed or bounced since the last issue: {left:,}", "",
        f"Details: `msdigest status --period {period}`; the issue: "
        f"{notices.desk_link(cfg, period)}"])


SendNow = Callable[[Store, Config, Period, bytes | None], Outcome | None]


def tick(store: Store, cfg: Config, now: datetime, secret: bytes | None,
         send_due: SendNow | None = None) -> list[Outcome]:
    """Do what is due now (after each collect): retries, notices, the give-up. A due send
    goes through `send_due` (default: send it here; the worker queues send jobs)."""
    done = []
    for period in store.audit.marked(DUE):  # send times that have come: still to go?
        if store.issues.is_frozen(period) and not any(
                state in OPEN for state in store.ledger.counts(period)):
            continue
        due_at = store.audit.notice_at(period, DUE)
        assert due_at is not None
        if now - due_at > timedelta(days=cfg.schedule.give_up_days):
            if not store.issues.is_frozen(period):
                notices.notify(store, cfg, period, "gave_up",
                               f"The {period.label} issue did not go out", [
                                   f"The {period.label} issue was due on {due_at:%Y-%m-%d} "
                                   f"and is still not approved, so msdigest stopped trying "
                                   "to send it.",
                                   f"To send it: approve it at {notices.desk_link(cfg, period)} "
                                   f"and run `msdigest send --period {period}`."])
            continue
        if not store.issues.is_frozen(period):
            d = draft(store, cfg, period)
            if cfg.digest.require_approval and standing(store, d).state is not \
                    ApprovalState.APPROVED:
                continue  # still waiting for the editor: nothing to record this time
        outcome = (send_due or send_now)(store, cfg, period, secret)
        if outcome is not None:
            done.append(outcome)
    upcoming = next_send(cfg, now)
    if upcoming is not None:
        remind(store, cfg, now, upcoming)
    return done


def remind(store: Store, cfg: Config, now: datetime, upcoming: datetime) -> None:
    period = period_at(upcoming, cfg)
    if store.issues.is_frozen(period):
        return
    when = f"{upcoming.astimezone(cfg.tz):%A %d %B at %H:%M}"
    if now >= upcoming - timedelta(days=cfg.schedule.review_days):
        d = draft(store, cfg, period)
        notices.notify(store, cfg, period, "review", f"The {period.label} issue is ready "
                       "for review", [
                           f"The {period.label} issue holds {d.issue.count} summaries and "
                           f"goes out on {when}, once approved.",
                           f"Review and approve it at {notices.desk_link(cfg, period)}"])
    if now >= upcoming - timedelta(days=1):
        d = draft(store, cfg, period)
        if standing(store, d).state is not ApprovalState.APPROVED:
            notices.notify(store, cfg, period, "reminder", f"Reminder: the {period.label} "
                           "issue is not approved yet", [
                               f"It goes out on {when} only if it is approved by then; "
                               "after that it goes out at the first collect after its "
                               "approval.",
                               f"Approve it at {notices.desk_link(cfg, period)}"])
