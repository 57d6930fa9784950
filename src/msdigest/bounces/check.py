"""Checking the bounce mailbox: each report read once, matched to a subscriber, acted on.

    hard bounce   the address is marked bounced: no more mail to it
    complaint     the subscriber is unsubscribed (source "complaint"): they said it is spam
    soft bounce   kept with its issue; bounced once [smtp] bounce_after issues did not
                  reach the address (refused at sending, or bounced later)
    delayed       nothing yet: the relay is still trying

Never twice: a report's key (the hash of its bytes) is stored in the same transaction as
what it did, before it is moved to the processed folder; a report seen again — moved back,
copied, or left behind by a move that failed — is only moved, never counted again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from ..addresses import AddressError, normalize
from ..config import Config
from ..errors import TokenError
from ..model import SubscriberStatus
from ..period import Period
from ..records import StartedBy
from ..store import Store
from ..unsubscribe import read_token
from .mailboxes import Mailbox, open_mailbox
from .reports import Finding, Kind, Report, read

log = logging.getLogger(__name__)


@dataclass
class Checked:
    """What one check did, for its run and its log line."""

    reports: int = 0  # bounces and complaints handled now
    seen_before: int = 0  # handled before (only moved this time)
    other: int = 0  # messages that are not reports: left for people
    kinds: dict[str, int] = field(default_factory=dict)  # findings by kind
    unknown: int = 0  # findings about no subscriber of ours
    stopped: list[str] = field(default_factory=list)  # addresses no longer sent to
    lines: list[str] = field(default_factory=list)  # one per finding, for the command line

    @property
    def counts(self) -> dict[str, int]:
        return {"reports": self.reports, "seen_before": self.seen_before, "other": self.other,
                "unknown": self.unknown, "stopped": len(self.stopped), **self.kinds}

    @property
    def line(self) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.kinds.items())) or "nothing"
        return (f"{self.reports} reports ({kinds}); {len(self.stopped)} addresses no longer "
                f"sent to; {self.other} other messages left in place")


def _address(text: str) -> str:
    try:
        return normalize(text) if "@" in text else ""
    except AddressError:
        return ""


def whom(store: Store, report: Report, finding: Finding, secret: bytes | None
         ) -> tuple[str, Period | None] | None:
    """The subscriber and issue a finding is about: the ledger row of the reported
    Message-ID (ours, whatever a forwarding address the report names), else the address
    it names, else (complaints hide it) the signed token in the original's headers."""
    rows = [d for mid in report.message_ids if (d := store.ledger.find(mid)) is not None]
    named = _address(finding.recipient)
    for d in rows:
        if d.email == named or (len(report.findings) == 1 and len({r.email for r in rows}) == 1):
            return d.email, d.period
    if named and store.subscribers.get(named) is not None:
        return named, None
    for token in report.tokens if secret else ():
        try:
            email = read_token(secret or b"", token)
        except TokenError:
            continue
        if store.subscribers.get(email) is not None:
            return email, None
    return None


def _apply(store: Store, cfg: Config, key: str, finding: Finding, email: str,
           period: Period | None, done: Checked) -> None:
    sub = store.subscribers.get(email)
    assert sub is not None
    if finding.kind is not Kind.DELAYED:
        store.bounces.add(email, period, str(finding.kind), finding.status, finding.reason, key)
    stop: SubscriberStatus | None = None
    source = "bounce"
    if finding.kind is Kind.COMPLAINT and sub.status is not SubscriberStatus.UNSUBSCRIBED:
        stop, source = SubscriberStatus.UNSUBSCRIBED, "complaint"
    elif sub.status is SubscriberStatus.ACTIVE and (
            finding.kind is Kind.HARD or (finding.kind is Kind.SOFT and
                                          store.bounces.issues_bounced(email)
                                          >= cfg.smtp.bounce_after)):
        stop = SubscriberStatus.BOUNCED
    if stop is not None:
        store.subscribers.set_status(email, stop, source)
        done.stopped.append(email)
    issue = f" ({period} issue)" if period else ""
    then = f"; now {stop}" if stop else ""
    done.lines.append(f"{finding.kind}: {email}{issue}: {finding.reason}{then}")


def handle(store: Store, cfg: Config, raw: bytes, done: Checked) -> bool:
    """Act on one message; True if it was a report (so it goes to the processed folder)."""
    key = hashlib.sha256(raw).hexdigest()
    if store.bounces.handled(key):
        done.seen_before += 1
        return True
    report = read(raw)
    if not report.kind:
        done.other += 1
        return False
    with store.transaction():
        if not store.bounces.handle(key, report.kind, report.subject[:200]):
            done.seen_before += 1  # another check got here first
            return True
        for finding in report.findings:
            done.kinds[str(finding.kind)] = done.kinds.get(str(finding.kind), 0) + 1
            found = whom(store, report, finding, cfg.secret)
            if found is None:
                done.unknown += 1
                done.lines.append(f"{finding.kind}: {finding.recipient or 'someone'} is not a "
                                  f"subscriber: {finding.reason}")
                continue
            _apply(store, cfg, key, finding, *found, done)
    done.reports += 1
    return True


def check(store: Store, cfg: Config, mailbox: Mailbox) -> Checked:
    """Every message in the mailbox that has not been handled yet."""
    done = Checked()
    for mail in mailbox.messages():
        if handle(store, cfg, mail.raw, done):
            mailbox.handled(mail)
        else:
            mailbox.ignored(mail)
    for line in done.lines:
        log.info("bounces: %s", line)
    return done


def check_recorded(store: Store, cfg: Config, started_by: StartedBy) -> tuple[Checked, str]:
    """One read of the configured bounce mailbox, recorded as a run (by hand or on the
    schedule); returns what it found and the mailbox's name."""
    with store.runs.recording("bounces", started_by) as run:
        mailbox = open_mailbox(cfg.bounces)
        try:
            done = check(store, cfg, mailbox)
        finally:
            mailbox.close()
        run.end("ok", done.line, done.counts)
    return done, mailbox.name
