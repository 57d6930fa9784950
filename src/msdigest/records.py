"""What the store hands back: typed records, never rows or anonymous tuples."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from .model import Edition, Subscriber
from .period import Period


class DeliveryState(StrEnum):
    """One subscriber's progress through one issue, as the ledger records it."""

    PENDING = "pending"
    SENDING = "sending"  # committed before the SMTP transaction: it may have gone
    SENT = "sent"
    DEFERRED = "deferred"  # a temporary failure; retried at `next_attempt`
    FAILED = "failed"  # permanent (5xx) or given up after max_attempts
    SKIPPED = "skipped"  # nothing in their themes, or no longer subscribed

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset({DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.SKIPPED})
OPEN = frozenset({DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.DEFERRED})


class Claim(StrEnum):
    """What trying to take a row for sending found."""

    CLAIMED = "claimed"  # it is ours: send now
    LEFT = "left"  # the subscriber is no longer active: the row is closed as skipped
    TAKEN = "taken"  # another sender has it, or it is done


@dataclass(frozen=True)
class Delivery:
    """A row of the ledger."""

    period: Period
    email: str
    state: DeliveryState
    attempts: int
    message_id: str
    reason: str
    next_attempt: datetime | None
    updated_at: datetime
    duplicate: bool  # a copy may already have reached the subscriber
    permanent: bool  # refused outright (5xx): counts toward bounce_after


@dataclass(frozen=True)
class Tally:
    """An issue's ledger at a glance: rows, and how many of them are final."""

    rows: int
    done: int


@dataclass(frozen=True)
class OpenRow:
    """A subscriber still to be sent an issue, and where their row stands."""

    subscriber: Subscriber
    state: DeliveryState
    attempts: int
    next_attempt: datetime | None
    message_id: str = ""  # "" until the first attempt


@dataclass(frozen=True)
class Edit:
    """An editor's marks on one summary of one issue."""

    excluded: bool = False
    theme: str | None = None  # moved here by an editor
    pinned: bool = False


@dataclass(frozen=True)
class Notes:
    intro: str = ""  # Markdown
    subject: str = ""  # the editor's subject template; "" = [digest] subject


@dataclass(frozen=True)
class Approval:
    content_hash: str
    by: str
    at: datetime


@dataclass(frozen=True)
class FeedState:
    etag: str | None = None
    modified: str | None = None


@dataclass(frozen=True)
class FeedHealth:
    """How a feed has been doing: when it last worked, and since when it has not."""

    url: str
    checked_at: datetime | None
    last_ok: datetime | None
    failures: int  # in a row; 0 when the last fetch worked
    failing_since: datetime | None
    error: str  # the last one; "" when the last fetch worked
    alerted_at: datetime | None  # when ops were told it is failing (None: not told)

    @property
    def failing(self) -> bool:
        return self.failures > 0


class StartedBy(StrEnum):
    SCHEDULE = "schedule"  # `msdigest run`
    MANUAL = "manual"  # a command typed by someone


@dataclass(frozen=True)
class RunRecord:
    """One job run: by the scheduler or by hand, how it ended, and what it counted."""

    id: int
    job: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None  # None while running
    detail: str
    started_by: StartedBy = StartedBy.SCHEDULE
    counts: dict[str, int] = field(default_factory=dict)


class Change(StrEnum):
    """What storing a record did."""

    NEW = "new"
    UPDATED = "updated"
    SAME = "same"
    COLLISION = "collision"  # the id belongs to another summary: nothing stored


@dataclass(frozen=True)
class SubscriberRecord:
    """A subscriber, what last set their record, and how they came to be on the list."""

    subscriber: Subscriber
    source: str  # what last changed the record: import, form, link, bounce, editor...
    joined_via: str = "import"  # form, import, editor
    joined_at: datetime | None = None
    consent_version: str = ""  # the consent text they agreed to ("" = before forms)
    confirmed_at: datetime | None = None  # double opt-in
    changed_at: datetime | None = None


@dataclass(frozen=True)
class SubscriberEvent:
    at: datetime
    event: str  # joined, confirmed, status, themes
    detail: str
    source: str


@dataclass(frozen=True)
class Member:
    """A summary an issue carries, as frozen: where it went and whether it was pinned."""

    summary_id: str
    theme: str
    pinned: bool


@dataclass(frozen=True)
class Frozen:
    """An issue as fixed at its first real send."""

    frozen_at: datetime
    members: tuple[Member, ...]
    edition: Edition | None  # None: frozen by msdigest 0.1, which kept only the members


@dataclass(frozen=True)
class Editor:
    email: str
    name: str
    password_hash: str
    created_at: datetime


@dataclass(frozen=True)
class SessionRecord:
    token_hash: str
    email: str
    name: str
    csrf: str
    created_at: datetime
    seen_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    detail: str


@dataclass(frozen=True)
class Signup:
    """Someone who filled in the form and has not confirmed yet."""

    email: str
    name: str
    themes: tuple[str, ...]
    consent_version: str
    requested_at: datetime


class Source(StrEnum):
    """Where a labeled theme example came from; a later source outranks an earlier one."""

    MOVE = "move"  # `msdigest issue move`
    APPROVED = "approved"  # a placement in an approved issue
    SENT = "sent"  # a placement in an issue as it went out


@dataclass(frozen=True)
class Example:
    """A summary an editor placed under a theme, with what they saw."""

    summary_id: str
    title: str
    text: str
    theme: str
    source: Source
    period: Period
    correction: bool  # the editor moved it away from what msdigest chose


@dataclass(frozen=True)
class Placement:
    """A summary's theme as an editor decided or let stand, to record as an example."""

    summary_id: str
    theme: str
    correction: bool = False
