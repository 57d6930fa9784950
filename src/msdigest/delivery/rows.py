"""Where a send run's work comes from, and where each outcome is recorded.

`LedgerRows` is the real thing: the issue's ledger in the store. `DryRows` reads the
same rows and records nothing (`send --dry-run`). `TestRows` are a few addresses an
editor gave (`send-test`): never in the ledger, a fresh Message-ID each time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ..message import Sender
from ..model import Subscriber, SubscriberStatus
from ..period import Period
from ..records import Claim, DeliveryState, Tally
from ..store import Store

BATCH = 1000  # ledger rows read from the store at a time


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
    store_path: Path  # for messages about the store

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


class LedgerRows:
    def __init__(self, store: Store, period: Period, sender: Sender) -> None:
        self.store, self.period, self.sender = store, period, sender
        self.store_path = store.path

    def open(self) -> Tally:
        return self.store.ledger.open(self.period)

    def jobs(self) -> Iterator[Job]:
        """The ledger's open rows, a batch at a time: memory stays flat."""
        after = ""
        while True:
            batch = self.store.ledger.open_batch(self.period, after, BATCH)
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
            after = batch[-1].subscriber.email

    def claim(self, job: Job) -> Claim:
        return self.store.ledger.claim(self.period, job.sub.email, job.state, job.msgid)

    def record(self, job: Job, state: DeliveryState, reason: str = "", *,
               attempt: bool = False, next_attempt: datetime | None = None,
               permanent: bool = False) -> None:
        self.store.ledger.mark(self.period, job.sub.email, state, job.msgid, reason,
                               attempt=attempt, next_attempt=next_attempt,
                               duplicate=job.duplicate, permanent=permanent)

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
        self.store_path = store.path
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
        self.store_path = store.path
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
