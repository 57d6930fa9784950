"""One send: a feeder (the calling thread) and a pool of workers, one transport each.

Nothing lost, nothing twice. A worker records "sending" before it hands a message to
its transport and the outcome as soon as the transport returns, and takes no new
message in between; so a crash leaves at most one message per connection in
"sending", which the next run resends with the same Message-ID and reports as
possibly duplicated. Temporary failures wait in a RetryQueue with exponential backoff.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

from ..clock import Clock, system_clock
from ..config import Smtp
from ..errors import MsdigestError, StoreError
from ..model import SubscriberStatus
from ..records import Claim, DeliveryState
from ..store.errors import describe
from .pacing import Limiter
from .report import Outcome, Report
from .retries import RetryQueue
from .rows import Job, Rows
from .transport import PermanentFailure, ServerUnavailable, TemporaryFailure, Transport
from .variants import Variants

log = logging.getLogger(__name__)

NO_CONTENT = "no new summaries in the themes this subscriber chose"
RESENT = "possibly duplicated: resent after an interrupted attempt"
LEFT = "no longer subscribed when the issue was sent"
# One subscriber's odd data fails that row; this many such failures in a row are a bug
# or a broken setting, and stop the run instead of failing everyone.
MAX_ERRORS_IN_A_ROW = 10


class Progress(Protocol):
    def start(self, total: int, done: int) -> None: ...
    def advance(self, n: int = 1) -> None: ...


class Pacer(Protocol):
    def wait(self, stop: threading.Event) -> bool:
        """Block until the next message may go; False if the run stopped meanwhile."""


class NoProgress:
    def start(self, total: int, done: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


@dataclass(frozen=True)
class Policy:
    """The [smtp] settings the run itself obeys (the transport reads its own)."""

    concurrency: int
    max_attempts: int
    retry_base_seconds: float
    bounce_after: int
    max_per_second: float = 0
    max_per_hour: int = 0

    @classmethod
    def of(cls, smtp: Smtp) -> Policy:
        return cls(smtp.concurrency, smtp.max_attempts, smtp.retry_base_seconds,
                   smtp.bounce_after, smtp.max_per_second, smtp.max_per_hour)

    def backoff(self, tries: int) -> float:
        return float(self.retry_base_seconds * 2 ** (tries - 1))


class SendRun:
    def __init__(self, rows: Rows, variants: Variants, connect: Callable[[], Transport],
                 policy: Policy, progress: Progress | None = None,
                 stop: threading.Event | None = None, clock: Clock = system_clock,
                 limiter: Pacer | None = None) -> None:
        self.rows = rows
        self.variants = variants
        self.connect = connect
        self.policy = policy
        self.progress = progress or NoProgress()
        self.stop = stop or threading.Event()
        self.clock = clock
        self.envelope_from = variants.sender.address
        self.fatal = ""  # why the run stopped early, set once by whoever hit it
        self.fatal_lock = threading.Lock()
        self.errors_in_a_row = 0
        self.jobs: queue.Queue[Job | None] = queue.Queue(maxsize=policy.concurrency * 4)
        self.retries = RetryQueue()
        self.limiter = limiter or Limiter(policy.max_per_second, policy.max_per_hour)
        self.report = Report(str(variants.edition.period))

    def pause(self, seconds: float) -> None:
        """Wait, but no longer than until the run stops or halts."""
        deadline = time.monotonic() + seconds
        while not self.halted and (left := deadline - time.monotonic()) > 0:
            self.stop.wait(min(left, 0.1))

    def halt(self, reason: str) -> None:
        with self.fatal_lock:
            self.fatal = self.fatal or reason
        self.retries.wake()

    @property
    def halted(self) -> bool:
        return self.stop.is_set() or bool(self.fatal)

    def finish(self, job: Job, outcome: Outcome, reason: str = "") -> None:
        self.report.record(outcome, job.sub.email, reason, job.duplicate)
        self.progress.advance(1)

    # --- a worker --------------------------------------------------------------------------

    def worker(self) -> None:
        try:
            transport = self.connect()
        except Exception as exc:  # a worker without a transport must stop the run
            log.exception("cannot make a transport")
            self.halt(f"cannot make a transport: {exc!r}")
            while (job := self.jobs.get()) is not None:  # keep the feeder's count right
                self.retries.finished()
            return
        try:
            while (job := self.jobs.get()) is not None:
                try:
                    if not self.halted:  # else left open in the ledger; the next send resumes
                        self.attempt(transport, job)
                except sqlite3.Error as exc:  # a full disk, say: stop, and say it in words
                    self.halt(describe(exc, self.rows.where))
                except StoreError as exc:  # PostgreSQL gone away, say (named in the text)
                    self.halt(str(exc))
                except Exception as exc:  # a bug must stop the run, not hang it
                    log.exception("sending to %s failed unexpectedly", job.sub.email)
                    self.halt(f"unexpected error: {exc!r}")
                finally:
                    self.retries.finished()
        finally:
            transport.close()

    def ready(self, transport: Transport) -> bool:
        """Connect first, retrying with backoff: "sending" must mean it may have gone."""
        tries = 0
        while not self.halted:
            try:
                transport.open()
                return True
            except ServerUnavailable as exc:
                tries += 1
                if tries >= self.policy.max_attempts:
                    self.halt(f"{exc} (tried {tries} times)")
                    return False
                delay = self.policy.backoff(tries)
                log.warning("%s; retrying in %.1f s", exc, delay)
                self.pause(delay)
            except MsdigestError as exc:  # a setting to fix (login, TLS, the outbox)
                self.halt(str(exc))
        return False

    def broken(self, job: Job, what: str, exc: Exception) -> None:
        """An error no failure kind covers, for this subscriber only: the row fails with
        the reason and the run goes on, unless it keeps happening."""
        # a user's mistake (a template, say) is said in words; anything else is a bug
        log.error("%s: %s: %s", job.sub.email, what, exc,
                  exc_info=None if isinstance(exc, MsdigestError) else exc)
        reason = f"{what}: {type(exc).__name__}: {exc}"
        self.rows.record(job, DeliveryState.FAILED, reason)
        self.finish(job, Outcome.FAILED, reason)
        with self.fatal_lock:
            self.errors_in_a_row += 1
            stop = self.errors_in_a_row >= MAX_ERRORS_IN_A_ROW
        if stop:
            self.halt(f"{MAX_ERRORS_IN_A_ROW} messages in a row failed unexpectedly, the last "
                      f"with {reason}")

    def attempt(self, transport: Transport, job: Job) -> None:
        try:
            data = self.variants.message(job.sub, job.msgid)
        except Exception as exc:
            self.broken(job, "could not build the message", exc)
            return
        if not self.ready(transport) or not self.limiter.wait(self.stop):
            return
        claim = self.rows.claim(job)
        if claim is Claim.LEFT:
            self.finish(job, Outcome.SKIPPED, LEFT)
            return
        if claim is Claim.TAKEN:  # another sender has it, or it is done: not ours to count
            return
        job = replace(job, state=DeliveryState.SENDING)
        try:
            transport.send(self.envelope_from, job.sub.email, data)
        except PermanentFailure as exc:
            self.rows.record(job, DeliveryState.FAILED, str(exc), permanent=True)
            if self.rows.bounced(job.sub.email, self.policy.bounce_after):
                self.report.bounce()
                log.warning("%s bounced %d times; no longer sent to", job.sub.email,
                            self.policy.bounce_after)
            self.finish(job, Outcome.FAILED, str(exc))
        except TemporaryFailure as exc:
            # If the reply to a whole message was lost the server may have it: the retry
            # carries the same Message-ID and is reported as possibly duplicated.
            self.defer(replace(job, duplicate=job.duplicate or exc.maybe_delivered), str(exc))
        except Exception as exc:  # it may have gone: close the connection, fail the row
            transport.close()
            self.broken(replace(job, duplicate=True), "sending failed unexpectedly", exc)
        else:
            self.rows.record(job, DeliveryState.SENT, RESENT if job.duplicate else "")
            self.finish(job, Outcome.SENT)
            with self.fatal_lock:
                self.errors_in_a_row = 0

    def defer(self, job: Job, reason: str) -> None:
        tries = job.attempts + 1
        if tries >= self.policy.max_attempts:
            given_up = f"gave up after {tries} attempts: {reason}"
            self.rows.record(job, DeliveryState.FAILED, given_up)
            self.finish(job, Outcome.FAILED, given_up)
            return
        delay = self.policy.backoff(tries)
        self.rows.record(job, DeliveryState.DEFERRED, reason,
                         next_attempt=self.clock() + timedelta(seconds=delay))
        log.info("%s: %s; retry %d in %.1f s", job.sub.email, reason, tries + 1, delay)
        self.retries.push(replace(job, attempts=tries, state=DeliveryState.DEFERRED), delay)

    # --- the feeder ------------------------------------------------------------------------

    def put(self, job: Job) -> None:
        self.retries.taken()
        while not self.halted:
            try:
                self.jobs.put(job, timeout=0.2)
                return
            except queue.Full:
                continue
        self.retries.finished()

    def feed(self) -> None:
        """Until every open row is done: this sender's own, then, while other senders
        hold rows, whatever they leave behind when they stop or die."""
        while True:
            self.feed_free_rows()
            if self.halted or not self.rows.others():
                return
            self.pause(0.5)

    def feed_free_rows(self) -> None:
        for job in self.rows.jobs():
            if self.halted:
                return
            if job.sub.status is not SubscriberStatus.ACTIVE:
                self.rows.record(job, DeliveryState.SKIPPED, LEFT)
                self.finish(job, Outcome.SKIPPED, LEFT)
                continue
            if not self.rows.sends_empty and not self.variants.has_content(job.sub):
                self.rows.record(job, DeliveryState.SKIPPED, NO_CONTENT)
                self.finish(job, Outcome.SKIPPED, NO_CONTENT)
                continue
            if job.not_before and job.not_before > (now := self.clock()):
                self.retries.push(job, (job.not_before - now).total_seconds())
                continue
            self.put(job)
            while (due := self.retries.due()) is not None:
                self.put(due)
        while (due := self.retries.wait(lambda: self.halted)) is not None:
            self.put(due)

    def run(self) -> Report:
        started = time.monotonic()
        tally = self.rows.open()
        total, done = tally.rows, tally.done
        self.report.total, self.report.already = total, done
        self.progress.start(total, done)
        log.info("issue %s: %d subscribers, %d already done", self.report.period, total, done)
        threads = [threading.Thread(target=self.worker, name=f"send-{i}", daemon=True)
                   for i in range(self.policy.concurrency)]
        for t in threads:
            t.start()
        try:
            self.feed()  # leasing rows writes too: a full disk stops it in words
        except sqlite3.Error as exc:
            self.halt(describe(exc, self.rows.where))
        except StoreError as exc:
            self.halt(str(exc))
        finally:
            for _ in threads:
                self.jobs.put(None)
            for t in threads:
                t.join()
            try:
                self.rows.close()
            except (sqlite3.Error, StoreError) as exc:  # the leases then simply run out
                log.warning("could not give back this sender's rows: %s", exc)
        self.report.seconds = time.monotonic() - started
        self.report.deferred, self.report.remaining = self.rows.left()
        resume = f"; {self.rows.resume}" if self.rows.resume else ""
        if self.fatal:
            self.report.stopped = f"{self.fatal}{resume}"
            log.error("%s", self.report.stopped)
        elif self.stop.is_set():
            self.report.interrupted = True
            self.report.stopped = f"interrupted; messages in flight were recorded{resume}"
        return self.report
