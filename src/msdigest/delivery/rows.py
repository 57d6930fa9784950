"""Where a send run's work comes from, and where each outcome is recorded.

`LedgerRows` is the real thing: the issue's ledger in the store. `DryRows` reads the
same rows and records nothing (`send --dry-run`). `TestRows` are a few addresses an
editor gave (`send-test`): never in the ledger, a fresh Message-ID each time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from ..location import Location
from ..message import Sender
from ..model import Subscriber, SubscriberStatus
from ..period import Period
from ..records import Claim, DeliveryState, Tally
from ..store import Store
from ..store.leases import EVERY_LEASE

log = logging.getLogger(__name__)

LEASE_BATCH = 200  # rows a sender leases at a time (the rest stay free for other senders)


@dataclass(frozen=True)
class Job:
    """One subscriber to send to now (or at `not_before`)."""

    sub: Subscriber
    msgid: str
    attempts: int  # made before this one
    duplicate: bool  # an earlier attempt may have reached them
    not_before: datetime | None = None
    state: DeliveryState = DeliveryState.PENDING  # the row's state as last seen


class Rows(Protocol):
    where: Location  # the store, for messages about it

    def open(self) -> Tally:
        """Rows, and rows already done, for the report."""

    def jobs(self) -> Iterator[Job]: ...

    def claim(self, job: Job) -> Claim:
        """Take the row for sending (records "sending"), unless it is no longer ours."""

    def record(self, job: Job, state: DeliveryState, reason: str = "", *,
               attempt: bool = False, next_attempt: datetime | None = None,
               permanent: bool = False) -> None: ...

    def bounced(self, email: str, after: int) -> bool:
        """After a permanent failure: True if the address now counts as bounced."""

    def left(self) -> tuple[int, int]:
        """(deferred, not attempted yet) once the run is over."""

    @property
    def resume(self) -> str:
        """What to run to carry on after a stop ("" if nothing carries on)."""

    @property
    def sends_empty(self) -> bool:
        """Whether a subscriber with nothing in their themes is still sent the message."""

    def others(self) -> int:
        """Open rows other senders hold now (the run waits for them to finish or expire)."""

    def close(self) -> None:
        """The run is over: give back what it holds."""


def sender_name() -> str:
    """Who holds a lease: host, process and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LedgerRows:
    """The issue's ledger, leased a batch at a time (store.leases): any number of these,
    in any number of processes and hosts, share one issue without sending a row twice.
    `alone`: no other sender can be running (SQLite's lock beside the store says so), so
    leases found in the ledger are a dead sender's and are taken over at once."""

    def __init__(self, store: Store, period: Period, sender: Sender,
                 lease_seconds: float = 60, alone: bool = False) -> None:
        self.store, self.period, self.sender = store, period, sender
        self.where = store.where
        self.owner = sender_name()
        self.lease_seconds = lease_seconds
        self.alone = alone
        self.stopped = threading.Event()
        self.heart = threading.Thread(target=self.heartbeat, name="lease-heartbeat",
                                      daemon=True)

    def open(self) -> Tally:
        tally = self.store.ledger.open(self.period)
        self.heart.start()
        return tally

    def heartbeat(self) -> None:
        """Extend this sender's leases every third of their length; a process that stops
        (killed, paused, cut off) stops extending them, and its rows go to others."""
        while not self.stopped.wait(self.lease_seconds / 3):
            try:
                self.store.leases.renew(self.period, self.owner, self.lease_seconds)
            except Exception as exc:  # the next claim meets it too, and says so
                log.warning("could not extend this sender's leases: %s", exc)

    def close(self) -> None:
        self.stopped.set()
        if self.heart.is_alive():
            self.heart.join()
        self.store.leases.release(self.period, self.owner)

    def others(self) -> int:
        return 0 if self.alone else self.store.leases.others(self.period, self.owner)

    def jobs(self) -> Iterator[Job]:
        """Open rows nobody else holds, leased a batch at a time: memory stays flat, and
        other senders take the batches this one has not."""
        while True:
            batch = self.store.leases.take(
                self.period, self.owner, self.lease_seconds, LEASE_BATCH,
                EVERY_LEASE if self.alone else None)
            if not batch:
                return
            for row in batch:
                sub = row.subscriber
                # a retry keeps the Message-ID its first attempt carried, so a copy that
                # may have arrived is recognisably the same message
                msgid = row.message_id or self.sender.message_id(str(self.period), sub.email)
                yield Job(sub, msgid, row.attempts,
                          row.state is DeliveryState.SENDING,
                          row.next_attempt if row.state is DeliveryState.DEFERRED else None,
                          row.state)

    def claim(self, job: Job) -> Claim:
        return self.store.leases.claim(self.period, job.sub.email, job.state, job.msgid,
                                       self.owner)

    def record(self, job: Job, state: DeliveryState, reason: str = "", *,
               attempt: bool = False, next_attempt: datetime | None = None,
               permanent: bool = False) -> None:
        if not self.store.ledger.mark(self.period, job.sub.email, state, job.msgid, reason,
                                      attempt=attempt, next_attempt=next_attempt,
                                      duplicate=job.duplicate, permanent=permanent,
                                      owner=self.owner):
            # this sender stalled past its lease and another took the row over: that one
            # resends it (flagged as possibly duplicated) and records the outcome
            log.warning("%s: %s not recorded; another sender took the row over after this "
                        "one's lease ran out", job.sub.email, state)

    def bounced(self, email: str, after: int) -> bool:
        with self.store.transaction():
            if self.store.bounces.issues_bounced(email) < after:
                return False
            self.store.subscribers.set_status(email, SubscriberStatus.BOUNCED, "bounce")
            return True

    sends_empty = False

    @property
    def resume(self) -> str:
        return f"run `msdigest send --period {self.period}` again to resume"

    def left(self) -> tuple[int, int]:
        counts = self.store.ledger.counts(self.period)
        return (counts.get(DeliveryState.DEFERRED, 0),
                counts.get(DeliveryState.PENDING, 0) + counts.get(DeliveryState.SENDING, 0))


class _Unrecorded:
    """Rows whose outcomes go nowhere but the run's report."""

    def others(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def claim(self, job: Job) -> Claim:
        return Claim.CLAIMED

    def record(self, job: Job, state: DeliveryState, reason: str = "", *,
               attempt: bool = False, next_attempt: datetime | None = None,
               permanent: bool = False) -> None:
        pass

    def bounced(self, email: str, after: int) -> bool:
        return False

    def left(self) -> tuple[int, int]:
        return 0, 0


class DryRows(_Unrecorded):
    """What `send` would deliver now: active subscribers not yet done, nothing written."""

    def __init__(self, store: Store, period: Period, sender: Sender) -> None:
        self.store, self.period, self.sender = store, period, sender
        self.where = store.where
        self.done: set[str] = set()

    sends_empty = False

    @property
    def resume(self) -> str:
        return "run the dry run again for the rest"

    def open(self) -> Tally:
        self.done = self.store.ledger.done(self.period)
        total = done = 0
        for sub in self.store.subscribers.active():
            total += 1
            done += sub.email in self.done
        return Tally(total, done)

    def jobs(self) -> Iterator[Job]:
        for sub in self.store.subscribers.active():
            if sub.email not in self.done:
                yield Job(sub, self.sender.message_id(str(self.period), sub.email), 0, False)


class TestRows(_Unrecorded):
    """Given addresses: a subscriber gets their own themes, anyone else every theme."""

    def __init__(self, store: Store, period: Period, sender: Sender, addresses: list[str]) -> None:
        self.store, self.period, self.sender = store, period, sender
        self.where = store.where
        self.addresses = addresses
        self.results: dict[str, str] = {}  # address -> "sent" or why not

    sends_empty = True  # the editor asked for this address: it gets the (empty) variant

    @property
    def resume(self) -> str:
        return ""  # a test send is not resumed: run it again if you like

    def record(self, job: Job, state: DeliveryState, reason: str = "", *,
               attempt: bool = False, next_attempt: datetime | None = None,
               permanent: bool = False) -> None:
        if state.final:
            self.results[job.sub.email] = "sent" if state is DeliveryState.SENT else reason

    def open(self) -> Tally:
        return Tally(len(self.addresses), 0)

    def jobs(self) -> Iterator[Job]:
        for address in self.addresses:
            known = self.store.subscribers.get(address)
            # a subscriber's own themes and name, whatever their status: it is a test
            sub = replace(known, status=SubscriberStatus.ACTIVE) if known else Subscriber(
                address, "", (), SubscriberStatus.ACTIVE)
            # a fresh Message-ID each time: test copies must not thread into one
            yield Job(sub, self.sender.message_id(str(self.period), f"{address}\0{uuid.uuid4()}",
                                                  "test."), 0, False)
