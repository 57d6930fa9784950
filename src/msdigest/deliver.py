"""Deliver: send an issue to every active subscriber over SMTP, recording each in the ledger.

Nothing lost, nothing twice: each subscriber's state is committed before and after
the SMTP transaction. `sent`, `skipped` and `failed` are final; `sending` left by a
crash means the server may have the message, so it is resent with the same
Message-ID and reported as a possible duplicate; `deferred` is retried.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

from .compose import compose, freeze
from .config import Config, Smtp
from .message import build, message_id
from .model import Issue, Subscriber
from .render import Rendered, render
from .store import Store, now
from .unsubscribe import links

log = logging.getLogger(__name__)

FINAL = ("sent", "skipped", "failed")


class DeliveryError(Exception):
    """A send that cannot start or go on (the message says what to do)."""


class TemporaryFailure(Exception):
    pass


class PermanentFailure(Exception):
    pass


class ServerUnavailable(Exception):
    pass


@dataclass
class Report:
    period: str
    total: int = 0
    sent: int = 0
    already: int = 0
    skipped: int = 0
    failed: int = 0
    deferred: int = 0
    duplicates: int = 0
    written: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    stopped: str = ""

    @property
    def complete(self) -> bool:
        return not self.deferred and not self.stopped


def _code_reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}"


class Mailer:
    """One SMTP connection, opened lazily and reopened after errors."""

    def __init__(self, smtp: Smtp, ca_file: str | None = None) -> None:
        self.cfg = smtp
        self.conn: smtplib.SMTP | None = None
        self.sent_on_conn = 0
        self.ca_file = ca_file

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def connect(self) -> smtplib.SMTP:
        c = self.cfg
        try:
            if c.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout,
                                                      context=self._context())
            else:
                conn = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            conn.ehlo()
            if c.security == "starttls":
                conn.starttls(context=self._context())
                conn.ehlo()
            if c.username:
                conn.login(c.username, c.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP {c.host}:{c.port} refused the login for {c.username!r}: "
                                f"{_code_reply(exc.smtp_code, exc.smtp_error)} (check "
                                "[smtp] username and MSDIGEST_SMTP_PASSWORD)") from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"SMTP {c.host}:{c.port}: TLS failed: {exc}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerUnavailable(f"cannot connect to SMTP {c.host}:{c.port}: {exc}") from None
        self.conn, self.sent_on_conn = conn, 0
        return conn

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (OSError, smtplib.SMTPException):
                self.conn.close()
            self.conn = None

    def ready(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Have an open connection, retrying with backoff; ServerUnavailable if none."""
        if self.conn is not None and self.sent_on_conn >= self.cfg.reconnect_after:
            self.close()
        tries = 0
        while self.conn is None:
            try:
                self.connect()
            except ServerUnavailable as exc:
                tries += 1
                if tries >= self.cfg.max_attempts:
                    raise ServerUnavailable(f"{exc} (tried {tries} times)") from None
                delay = self.cfg.retry_base_seconds * 2 ** (tries - 1)
                log.warning("%s; retrying in %.0f s", exc, delay)
                sleep(delay)

    def send(self, sender: str, to: str, data: bytes) -> None:
        """Deliver one message; raises TemporaryFailure or PermanentFailure with the reply."""
        conn = self.conn or self.connect()
        try:
            conn.sendmail(sender, [to], data)
            self.sent_on_conn += 1
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(to, (550, b"recipient refused"))
            self._reset(conn)
            raise (PermanentFailure if code >= 500 else TemporaryFailure)(
                _code_reply(code, reply)) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            self._reset(conn)
            raise (PermanentFailure if exc.smtp_code >= 500 else TemporaryFailure)(
                _code_reply(exc.smtp_code, exc.smtp_error)) from None
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException, OSError) as exc:
            self.conn = None
            with contextlib.suppress(OSError):
                conn.close()
            raise TemporaryFailure(f"connection lost: {exc or type(exc).__name__}") from None

    def _reset(self, conn: smtplib.SMTP) -> None:
        try:
            conn.rset()
        except (OSError, smtplib.SMTPException):
            self.conn = None


@dataclass
class Plan:
    """What is needed to send one issue: its content and one render per variant."""

    cfg: Config
    issue: Issue
    secret: bytes
    when: datetime
    variants: dict[tuple[str, ...], Rendered] = field(default_factory=dict)

    def variant(self, themes: tuple[str, ...]) -> Rendered:
        key = tuple(sorted(themes)) if themes else ()
        if key not in self.variants:
            self.variants[key] = render(self.cfg, self.issue, key)
        return self.variants[key]

    def message(self, sub: Subscriber, subject_prefix: str = "") -> bytes:
        rendered = self.variant(sub.themes)
        msg = build(self.cfg, rendered, sub, links(self.cfg, self.secret, sub.email),
                    self.issue.period, self.when, subject_prefix)
        return msg.as_bytes()


def plan(store: Store, cfg: Config, period: str, secret: bytes, freeze_it: bool) -> Plan:
    issue = compose(store, cfg, period)
    if issue.count == 0:
        raise DeliveryError(f"the {period} issue has no summaries; nothing to send "
                            "(run `msdigest collect` first, or check the period)")
    if freeze_it:
        freeze(store, cfg, issue)
    return Plan(cfg, issue, secret, now())


def _has_content(issue: Issue, sub: Subscriber) -> bool:
    return any(s.items for s in issue.for_themes(sub.themes))


Progress = Callable[[int], None]


def send(store: Store, cfg: Config, period: str, secret: bytes,
         progress: Progress | None = None, ca_file: str | None = None,
         sleep: Callable[[float], None] = time.sleep) -> Report:
    """Send the issue for `period` to everyone who has not had it; safe to run again."""
    p = plan(store, cfg, period, secret, freeze_it=True)
    report = Report(period, total=store.count_subscribers().get("active", 0))
    sender = parseaddr(cfg.site.sender)[1]
    mailer = Mailer(cfg.smtp, ca_file)
    states = {d.email: d for d in store.deliveries(period)}
    retry: list[tuple[float, int, str]] = []  # (due, attempts, email)
    by_email: dict[str, Subscriber] = {}
    tick = progress or (lambda n: None)

    def attempt(sub: Subscriber, attempts_before: int) -> None:
        prior = states.get(sub.email)
        duplicate = prior is not None and prior.state == "sending"
        mid = message_id(cfg, period, sub.email)
        data = p.message(sub)
        mailer.ready(sleep)  # connect first: "sending" must mean the server may have it
        store.mark(period, sub.email, "sending", mid, attempt=True, duplicate=duplicate)
        try:
            mailer.send(sender, sub.email, data)
        except PermanentFailure as exc:
            store.mark(period, sub.email, "failed", mid, reason=str(exc))
            report.failed += 1
            report.failures.append((sub.email, str(exc)))
            tick(1)
            return
        except TemporaryFailure as exc:
            tries = attempts_before + 1
            if tries >= cfg.smtp.max_attempts:
                store.mark(period, sub.email, "deferred", mid, reason=str(exc))
                report.deferred += 1
                report.failures.append((sub.email, f"gave up this run after {tries} "
                                        f"tries: {exc}"))
                tick(1)
                return
            delay = cfg.smtp.retry_base_seconds * 2 ** (tries - 1)
            store.mark(period, sub.email, "deferred", mid, reason=str(exc),
                       next_attempt=now() + timedelta(seconds=delay))
            by_email[sub.email] = sub
            heapq.heappush(retry, (time.monotonic() + delay, tries, sub.email))
            log.info("temporary failure for %s (%s); retry %d in %.0f s", sub.email, exc,
                     tries + 1, delay)
            return
        store.mark(period, sub.email, "sent", mid,
                   reason="possibly duplicated: resent after an interrupted attempt"
                   if duplicate else "")
        report.sent += 1
        report.duplicates += int(duplicate)
        tick(1)

    def run_due(block: bool) -> None:
        while retry and (block or retry[0][0] <= time.monotonic()):
            due, tries, email = heapq.heappop(retry)
            wait = due - time.monotonic()
            if wait > 0:
                sleep(wait)
            attempt(by_email.pop(email), tries)

    try:
        for sub in store.active_subscribers():
            prior = states.get(sub.email)
            if prior is not None and prior.state in FINAL:
                report.already += 1
                tick(1)
                continue
            if not _has_content(p.issue, sub):
                store.mark(period, sub.email, "skipped", message_id(cfg, period, sub.email),
                           reason="no new summaries in the themes this subscriber chose")
                report.skipped += 1
                tick(1)
                continue
            attempt(sub, 0)
            run_due(block=False)
        run_due(block=True)
    except ServerUnavailable as exc:
        report.stopped = f"{exc}; run `msdigest send --period {period}` again to resume"
        log.error("%s", report.stopped)
    except KeyboardInterrupt:
        report.stopped = "interrupted; run send again to resume"
    finally:
        mailer.close()
    return report


def dry_run(store: Store, cfg: Config, period: str, secret: bytes, outbox: Path,
            progress: Progress | None = None) -> Report:
    """Write the .eml files send would deliver now, without connecting or recording."""
    p = plan(store, cfg, period, secret, freeze_it=False)
    outbox.mkdir(parents=True, exist_ok=True)
    done = {d.email for d in store.deliveries(period, FINAL)}
    report = Report(period, total=store.count_subscribers().get("active", 0))
    for n, sub in enumerate(store.active_subscribers(), 1):
        if sub.email in done:
            report.already += 1
        elif not _has_content(p.issue, sub):
            report.skipped += 1
        else:
            path = outbox / f"{n:06d}-{_safe(sub.email)}.eml"
            path.write_bytes(p.message(sub))
            report.written.append(path)
            report.sent += 1
        if progress:
            progress(1)
    return report


def _safe(email: str) -> str:
    return "".join(c if c.isalnum() or c in "@.-_" else "_" for c in email)
