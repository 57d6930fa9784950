"""Deliver: send an issue to every active subscriber over a pool of SMTP connections.

Nothing lost, nothing twice. Each subscriber has a row in the ledger per issue:
pending → sending → sent, or deferred (temporary failure, with the next attempt's
time) or failed (permanent, with the server's reply). A worker commits "sending"
before its SMTP transaction and "sent" as soon as the server accepts, and takes no
new message in between; so a crash leaves at most one message per connection in
"sending", which the next run resends with the same Message-ID and reports as
possibly duplicated.

Work is done once per variant (a set of chosen themes): render, inline CSS and
serialize; each subscriber then costs a join of bytes (see message.Prepared).
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import queue
import re
import smtplib
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol

from . import editorial
from .compose import compose, freeze
from .config import Config, Smtp
from .message import Prepared, message_id
from .model import Issue, Subscriber
from .render import Rendered, render
from .store import Store, now
from .unsubscribe import links

log = logging.getLogger(__name__)

FINAL = ("sent", "skipped", "failed")
BATCH = 1000  # subscribers read from the store at a time


class DeliveryError(Exception):
    """A send that cannot start or go on (the message says what to do)."""


class TemporaryFailure(Exception):
    def __init__(self, reason: str, maybe_delivered: bool = False) -> None:
        super().__init__(reason)
        self.maybe_delivered = maybe_delivered  # the message went out, its reply did not come


class ReplyLost(smtplib.SMTPServerDisconnected):
    """The whole message was sent but the server's reply never came."""


class PermanentFailure(Exception):
    pass


class ServerUnavailable(Exception):
    pass


class Progress(Protocol):
    def start(self, total: int, done: int) -> None: ...
    def advance(self, n: int = 1) -> None: ...


class _NoProgress:
    def start(self, total: int, done: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
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
    remaining: int = 0  # not attempted yet (stopped or interrupted)
    duplicates: int = 0
    bounced: int = 0
    seconds: float = 0.0
    written: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    stopped: str = ""
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        return not self.deferred and not self.remaining and not self.stopped

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def _code_reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}"


# --- one SMTP connection ----------------------------------------------------------------

_LEADING_DOT = re.compile(rb"(?m)^\.")


def transaction(conn: smtplib.SMTP, sender: str, to: str, data: bytes) -> None:
    """MAIL, RCPT, DATA for one recipient, raising smtplib's exceptions like sendmail.

    Unlike `smtplib.sendmail` it does not parse the (already validated) addresses again
    or run a regex over every message: `data` must be CRLF-terminated lines (ours are),
    and dots are stuffed only when some line starts with one.
    """
    code, reply = conn.docmd("mail", f"FROM:<{sender}>")
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = conn.docmd("rcpt", f"TO:<{to}>")
    if code not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({to: (code, reply)})
    code, reply = conn.docmd("data")
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    if data.startswith(b".") or b"\n." in data:
        data = _LEADING_DOT.sub(b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    conn.send(data + b".\r\n")
    try:
        code, reply = conn.getreply()
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise ReplyLost(str(exc) or "connection closed") from None
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


class Mailer:
    """One SMTP connection, opened lazily, renewed after `reconnect_after` messages."""

    def __init__(self, smtp: Smtp, sleep: Callable[[float], None] = time.sleep) -> None:
        self.cfg = smtp
        self.conn: smtplib.SMTP | None = None
        self.sent_on_conn = 0
        self.sleep = sleep
        self.options: list[str] = []

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cfg.ca_file or None)

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
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP {c.host}:{c.port}: {exc} (check [smtp] security)"
                                ) from None
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

    def ready(self, stop: threading.Event | None = None) -> None:
        """Have an open connection, retrying with backoff; ServerUnavailable if none."""
        if self.conn is not None and self.sent_on_conn >= self.cfg.reconnect_after:
            self.close()
        tries = 0
        while self.conn is None:
            try:
                self.connect()
            except ServerUnavailable as exc:
                tries += 1
                if tries >= self.cfg.max_attempts or (stop is not None and stop.is_set()):
                    raise ServerUnavailable(f"{exc} (tried {tries} times)") from None
                delay = self.cfg.retry_base_seconds * 2 ** (tries - 1)
                log.warning("%s; retrying in %.1f s", exc, delay)
                if stop is not None:
                    stop.wait(delay)
                else:
                    self.sleep(delay)

    def send(self, sender: str, to: str, data: bytes) -> None:
        """Deliver one message; raises TemporaryFailure or PermanentFailure with the reply."""
        conn = self.conn or self.connect()
        try:
            transaction(conn, sender, to, data)
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
            lost = isinstance(exc, ReplyLost)
            raise TemporaryFailure(
                f"connection lost{' after the message was sent' if lost else ''}: "
                f"{exc or type(exc).__name__}", maybe_delivered=lost) from None

    def _reset(self, conn: smtplib.SMTP) -> None:
        if getattr(conn, "sock", None) is None:  # the server hung up with its reply
            self.conn = None
            return
        try:
            conn.rset()
        except (OSError, smtplib.SMTPException):
            self.conn = None
            with contextlib.suppress(OSError):
                conn.close()


# --- pacing -----------------------------------------------------------------------------


class Limiter:
    """Spaces sends evenly to `per_second`, and holds to `per_hour` in any rolling hour."""

    def __init__(self, per_second: float, per_hour: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.per_hour = per_hour
        self.clock = clock
        self.next = 0.0
        self.window: deque[float] = deque()
        self.lock = threading.Lock()

    def reserve(self) -> float:
        """Book the next start time (on `clock`) for one message."""
        with self.lock:
            at = max(self.clock(), self.next)
            if self.per_hour:
                while self.window and self.window[0] <= at - 3600:
                    self.window.popleft()
                if len(self.window) >= self.per_hour:
                    at = max(at, self.window.popleft() + 3600)
                self.window.append(at)
            self.next = at + self.interval
            return at

    def wait(self, stop: threading.Event) -> bool:
        """Block until the next send may start; False if `stop` was set meanwhile."""
        if not self.interval and not self.per_hour:
            return not stop.is_set()
        delay = self.reserve() - self.clock()
        return not stop.wait(delay) if delay > 0 else not stop.is_set()


# --- the plan for one issue ---------------------------------------------------------------


@dataclass
class Plan:
    """What sending one issue needs: its content, and each variant serialized once."""

    cfg: Config
    issue: Issue
    secret: bytes
    when: datetime
    subject_prefix: str = ""
    variants: dict[tuple[str, ...], Prepared] = field(default_factory=dict)
    rendered: dict[tuple[str, ...], Rendered] = field(default_factory=dict)
    nonempty: dict[tuple[str, ...], bool] = field(default_factory=dict)
    # premailer's CSS serializer (cssutils) keeps global state: one render at a time
    lock: threading.Lock = field(default_factory=threading.Lock)

    def key(self, themes: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(themes)) if themes else ()

    def render(self, themes: tuple[str, ...]) -> Rendered:
        key = self.key(themes)
        with self.lock:
            if key not in self.rendered:
                self.rendered[key] = render(self.cfg, self.issue, key)
            return self.rendered[key]

    def prepared(self, themes: tuple[str, ...]) -> Prepared:
        key = self.key(themes)
        found = self.variants.get(key)
        if found is None:
            rendered = self.render(key)
            with self.lock:
                found = self.variants.get(key) or Prepared.of(self.cfg, rendered, self.when,
                                                              self.subject_prefix)
                self.variants[key] = found
        return found

    def message(self, sub: Subscriber, msgid: str | None = None) -> bytes:
        msgid = msgid or message_id(self.cfg, self.issue.period, sub.email,
                                    "test." if self.subject_prefix else "")
        return self.prepared(sub.themes).render(
            sub, links(self.cfg, self.secret, sub.email), msgid)

    def has_content(self, sub: Subscriber) -> bool:
        key = self.key(sub.themes)
        if key not in self.nonempty:  # once per variant, not per subscriber
            self.nonempty[key] = any(s.items for s in self.issue.for_themes(key))
        return self.nonempty[key]


def plan(store: Store, cfg: Config, period: str, secret: bytes, freeze_it: bool) -> Plan:
    """Compose the issue; for a real send, check its approval and freeze it."""
    issue = compose(store, cfg, period)
    if issue.count == 0:
        raise DeliveryError(f"the {period} issue has no summaries; nothing to send "
                            "(run `msdigest collect` first, or check the period)")
    if freeze_it:
        editorial.check(store, issue, cfg.digest.require_approval)
        freeze(store, cfg, issue)
    return Plan(cfg, issue, secret, now())


# --- the send -----------------------------------------------------------------------------


@dataclass
class Job:
    sub: Subscriber
    msgid: str
    attempts: int  # made before this one
    duplicate: bool


class Run:
    """One `send`: a feeder (the calling thread) and a pool of SMTP workers."""

    def __init__(self, store: Store, cfg: Config, p: Plan, progress: Progress,
                 stop: threading.Event) -> None:
        self.store, self.cfg, self.plan = store, cfg, p
        self.period = p.issue.period
        self.progress = progress
        self.stop = stop
        self.fatal = ""
        self.lock = threading.Lock()  # the store and the report
        self.jobs: queue.Queue[Job | None] = queue.Queue(maxsize=cfg.smtp.concurrency * 4)
        self.retry: list[tuple[float, int, Job]] = []
        self.busy = 0  # jobs queued or in flight
        self.seq = 0
        self.limiter = Limiter(cfg.smtp.max_per_second, cfg.smtp.max_per_hour)
        self.sender = parseaddr(cfg.site.sender)[1]
        self.report = Report(self.period)

    # ledger writes, serialized: one connection, one writer at a time
    def mark(self, job: Job, state: str, reason: str = "", attempt: bool = False,
             next_attempt: datetime | None = None) -> None:
        with self.lock:
            self.store.mark(self.period, job.sub.email, state, job.msgid, reason, attempt,
                            next_attempt, job.duplicate)

    def finish(self, counter: str, job: Job | None = None, reason: str = "") -> None:
        with self.lock:
            setattr(self.report, counter, getattr(self.report, counter) + 1)
            if reason and job is not None:
                self.report.failures.append((job.sub.email, reason))
        self.progress.advance(1)

    def worker(self) -> None:
        mailer = Mailer(self.cfg.smtp)
        try:
            while True:
                job = self.jobs.get()
                if job is None:
                    return
                try:
                    if self.stop.is_set() or self.fatal:
                        continue  # left pending in the ledger; the next send resumes
                    self.deliver(mailer, job)
                except Exception as exc:  # a bug must stop the run, not hang it
                    log.exception("sending to %s failed unexpectedly", job.sub.email)
                    self.fatal = self.fatal or f"unexpected error: {exc!r}"
                finally:
                    with self.lock:
                        self.busy -= 1
        finally:
            mailer.close()

    def deliver(self, mailer: Mailer, job: Job) -> None:
        data = self.plan.message(job.sub, job.msgid)
        try:
            mailer.ready(self.stop)  # connect first: "sending" must mean it may have gone
        except (ServerUnavailable, DeliveryError) as exc:
            if not self.stop.is_set():
                self.fatal = self.fatal or str(exc)
            return
        if not self.limiter.wait(self.stop):
            return
        self.mark(job, "sending", attempt=True)
        try:
            mailer.send(self.sender, job.sub.email, data)
        except PermanentFailure as exc:
            self.mark(job, "failed", str(exc))
            self.bounce_check(job.sub.email)
            self.finish("failed", job, str(exc))
            return
        except TemporaryFailure as exc:
            # If the reply to a whole message was lost the server may have it: the retry
            # carries the same Message-ID and is reported as possibly duplicated.
            self.defer(replace(job, duplicate=job.duplicate or exc.maybe_delivered), str(exc))
            return
        self.mark(job, "sent", "possibly duplicated: resent after an interrupted attempt"
                  if job.duplicate else "")
        self.finish("sent")
        if job.duplicate:
            with self.lock:
                self.report.duplicates += 1

    def defer(self, job: Job, reason: str) -> None:
        tries = job.attempts + 1
        if tries >= self.cfg.smtp.max_attempts:
            self.mark(job, "failed", f"gave up after {tries} attempts: {reason}")
            self.finish("failed", job, f"gave up after {tries} attempts: {reason}")
            return
        delay = self.cfg.smtp.retry_base_seconds * 2 ** (tries - 1)
        self.mark(job, "deferred", reason, next_attempt=now() + timedelta(seconds=delay))
        log.info("%s: %s; retry %d in %.1f s", job.sub.email, reason, tries + 1, delay)
        with self.lock:
            self.seq += 1
            heapq.heappush(self.retry, (time.monotonic() + delay, self.seq,
                                        Job(job.sub, job.msgid, tries, job.duplicate)))

    def bounce_check(self, email: str) -> None:
        with self.lock:
            if self.store.permanent_failures(email) >= self.cfg.smtp.bounce_after:
                self.store.set_status(email, "bounced", "bounce")
                self.report.bounced += 1
                log.warning("%s bounced %d times; no longer sent to", email,
                            self.cfg.smtp.bounce_after)

    def put(self, job: Job) -> None:
        with self.lock:
            self.busy += 1
        while not self.stop.is_set() and not self.fatal:
            try:
                self.jobs.put(job, timeout=0.2)
                return
            except queue.Full:
                continue
        with self.lock:
            self.busy -= 1

    def due_retries(self, block: bool) -> Iterator[Job]:
        while not self.stop.is_set() and not self.fatal:
            with self.lock:
                head = self.retry[0] if self.retry else None
                idle = self.busy == 0
            if head is None:
                if not block or idle:
                    return
                time.sleep(0.01)  # a job in flight may still be deferred
                continue
            wait = head[0] - time.monotonic()
            if wait > 0:
                if not block:
                    return
                self.stop.wait(min(wait, 0.05))
                continue
            with self.lock:
                job = heapq.heappop(self.retry)[2]
            yield job

    def open_rows(self) -> Iterator[tuple[Subscriber, str, int, datetime | None]]:
        """Stream the ledger's open rows a batch at a time: memory stays flat."""
        after = ""
        while True:
            with self.lock:
                batch = self.store.open_batch(self.period, after, BATCH)
            if not batch:
                return
            yield from batch
            after = batch[-1][0].email

    def feed(self) -> None:
        for sub, state, attempts, next_attempt in self.open_rows():
            if self.stop.is_set() or self.fatal:
                return
            msgid = message_id(self.cfg, self.period, sub.email)
            job = Job(sub, msgid, attempts, state == "sending")
            if not self.plan.has_content(sub):
                self.mark(job, "skipped", "no new summaries in the themes this subscriber chose")
                self.finish("skipped")
                continue
            if state == "deferred" and next_attempt and next_attempt > now():
                delay = (next_attempt - now()).total_seconds()
                with self.lock:
                    self.seq += 1
                    heapq.heappush(self.retry, (time.monotonic() + delay, self.seq, job))
                continue
            self.put(job)
            for retry in self.due_retries(block=False):
                self.put(retry)
        for retry in self.due_retries(block=True):
            self.put(retry)

    def run(self) -> Report:
        started = time.monotonic()
        with self.lock:
            total, done = self.store.open_ledger(self.period)
        self.report.total = total
        self.report.already = done
        self.progress.start(total, done)
        log.info("issue %s: %d subscribers, %d already done", self.period, total, done)
        threads = [threading.Thread(target=self.worker, name=f"smtp-{i}", daemon=True)
                   for i in range(self.cfg.smtp.concurrency)]
        for t in threads:
            t.start()
        try:
            self.feed()
        finally:
            for _ in threads:
                self.jobs.put(None)
            for t in threads:
                t.join()
        self.report.seconds = time.monotonic() - started
        with self.lock:
            counts = self.store.delivery_counts(self.period)
        self.report.deferred = counts.get("deferred", 0)
        self.report.remaining = counts.get("pending", 0) + counts.get("sending", 0)
        if self.fatal:
            self.report.stopped = (f"{self.fatal}; run `msdigest send --period {self.period}`"
                                   " again to resume")
            log.error("%s", self.report.stopped)
        elif self.stop.is_set():
            self.report.interrupted = True
            self.report.stopped = (f"interrupted; messages in flight were recorded; run "
                                   f"`msdigest send --period {self.period}` again to resume")
        return self.report


def send(store: Store, cfg: Config, period: str, secret: bytes,
         progress: Progress | None = None, stop: threading.Event | None = None) -> Report:
    """Send the issue for `period` to everyone who has not had it; safe to run again."""
    p = plan(store, cfg, period, secret, freeze_it=True)
    return Run(store, cfg, p, progress or _NoProgress(), stop or threading.Event()).run()


def dry_run(store: Store, cfg: Config, period: str, secret: bytes, outbox: Path,
            progress: Progress | None = None) -> Report:
    """Write the .eml files send would deliver now, without connecting or recording."""
    p = plan(store, cfg, period, secret, freeze_it=False)
    progress = progress or _NoProgress()
    outbox.mkdir(parents=True, exist_ok=True)
    done = store.delivered_emails(period, FINAL)
    report = Report(period, total=store.count_subscribers().get("active", 0))
    progress.start(report.total, 0)
    for n, sub in enumerate(store.active_subscribers(), 1):
        if sub.email in done:
            report.already += 1
        elif not p.has_content(sub):
            report.skipped += 1
        else:
            path = outbox / f"{n:06d}-{_safe(sub.email)}.eml"
            path.write_bytes(p.message(sub))
            report.written.append(path)
            report.sent += 1
        progress.advance(1)
    return report


def _safe(email: str) -> str:
    return "".join(c if c.isalnum() or c in "@.-_" else "_" for c in email)


def send_test(store: Store, cfg: Config, period: str, secret: bytes, addresses: list[str]
              ) -> list[tuple[str, str]]:
    """Send the issue to these addresses only, subject marked [TEST]; never in the ledger.

    An address on the list gets its own theme choices; any other gets every theme.
    Returns (address, "sent" or the failure) per address.
    """
    p = plan(store, cfg, period, secret, freeze_it=False)
    p.subject_prefix = "[TEST] "
    mailer = Mailer(cfg.smtp)
    sender = parseaddr(cfg.site.sender)[1]
    results = []
    try:
        for address in addresses:
            sub = store.subscriber(address) or Subscriber(address.lower(), "", (), "active")
            msgid = message_id(cfg, period, f"{address}\0{uuid.uuid4()}", "test.")
            try:
                mailer.ready()
                mailer.send(sender, address, p.message(sub, msgid))
                results.append((address, "sent"))
            except (TemporaryFailure, PermanentFailure, ServerUnavailable) as exc:
                results.append((address, str(exc)))
    finally:
        mailer.close()
    return results
