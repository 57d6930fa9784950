"""The send's state machine, fast: a scripted transport instead of a server.

Each test scripts what the "server" does per recipient and checks what the ledger and
the report say. The same behaviour against a real SMTP server is in test_send.py and
test_delivery.py; these pin down the rules themselves: retries and backoff, permanent
failures and bounces, possibly duplicated messages, an unreachable server, a stop.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.delivery.send import dry_run, send, send_test
from msdigest.delivery.transport import (
    Memory,
    PermanentFailure,
    ServerUnavailable,
    TemporaryFailure,
)
from msdigest.errors import DeliveryError
from msdigest.message import Sender
from msdigest.model import Subscriber, SubscriberStatus
from msdigest.period import Period
from msdigest.records import DeliveryState
from msdigest.store import Store

from .conftest import SECRET

pytestmark = pytest.mark.both_stores  # the whole file again on PostgreSQL

PERIOD = Period(2026, 10)
Outcome = Exception | None  # None: accepted


@dataclass
class Script:
    """What the server does: per recipient, the outcome of each successive send (then
    accepts); per connection opened, the outcome of each successive open."""

    sends: dict[str, list[Outcome]] = field(default_factory=dict)
    opens: list[Outcome] = field(default_factory=list)
    accepted: list[tuple[str, str]] = field(default_factory=list)  # (rcpt, Message-ID)
    attempts: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def connection(self) -> ScriptedConnection:
        return ScriptedConnection(self)


class ScriptedConnection:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.open_now = False

    def open(self) -> None:
        if self.open_now:
            return
        with self.script.lock:
            outcome = self.script.opens.pop(0) if self.script.opens else None
        if outcome is not None:
            raise outcome
        self.open_now = True

    def send(self, envelope_from: str, rcpt: str, data: bytes) -> None:
        with self.script.lock:
            self.script.attempts[rcpt].append(time.monotonic())
            plan = self.script.sends.get(rcpt) or []
            outcome = plan.pop(0) if plan else None
            if outcome is None:
                msgid = next(line for line in data.split(b"\r\n")
                             if line.startswith(b"Message-ID: "))[12:].decode()
                self.script.accepted.append((rcpt, msgid))
        if isinstance(outcome, TemporaryFailure):
            self.open_now = False  # a dropped connection is opened again
        if outcome is not None:
            raise outcome

    def close(self) -> None:
        self.open_now = False


@pytest.fixture
def world(make_config: Callable[..., Config]) -> Iterator[tuple[Config, Store]]:
    cfg = make_config(smtp_extra={"retry_base_seconds": 0.02, "max_attempts": 4,
                                  "concurrency": 2, "bounce_after": 2})
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        for name in ("ana", "ben", "cy", "dee"):
            store.subscribers.put(Subscriber(f"{name}@example.org", name.title(), (),
                                             SubscriberStatus.ACTIVE), "test")
        yield cfg, store


def state(store: Store, email: str, period: Period = PERIOD) -> tuple[DeliveryState, int]:
    row = store.ledger.get(period, email)
    assert row is not None
    return row.state, row.attempts


def test_everyone_is_sent_once_and_recorded_sent(world: tuple[Config, Store]) -> None:
    cfg, store = world
    script = Script()
    report = send(store, cfg, PERIOD, SECRET, connect=script.connection)
    assert (report.sent, report.failed, report.deferred, report.remaining) == (4, 0, 0, 0)
    assert sorted(r for r, _ in script.accepted) == [
        "ana@example.org", "ben@example.org", "cy@example.org", "dee@example.org"]
    assert store.ledger.counts(PERIOD) == {DeliveryState.SENT: 4}
    again = send(store, cfg, PERIOD, SECRET, connect=script.connection)
    assert (again.sent, again.already, len(script.accepted)) == (0, 4, 4)


def test_temporary_failures_are_retried_with_growing_backoff(
        world: tuple[Config, Store]) -> None:
    cfg, store = world
    busy = TemporaryFailure("451 4.2.0 Mailbox busy")
    script = Script(sends={"ben@example.org": [busy, busy]})
    report = send(store, cfg, PERIOD, SECRET, connect=script.connection)
    assert report.sent == 4 and report.deferred == 0
    assert state(store, "ben@example.org") == (DeliveryState.SENT, 3)
    first, second, third = script.attempts["ben@example.org"]
    assert second - first >= 0.02 and third - second >= 0.04  # 0.02 s, then 0.04 s


def test_a_recipient_failing_past_max_attempts_is_given_up_with_the_reason(
        world: tuple[Config, Store]) -> None:
    cfg, store = world
    script = Script(sends={"cy@example.org": [TemporaryFailure("451 busy")] * 10})
    report = send(store, cfg, PERIOD, SECRET, connect=script.connection)
    assert (report.sent, report.failed) == (3, 1)
    assert report.failures == [("cy@example.org", "gave up after 4 attempts: 451 busy")]
    row = store.ledger.get(PERIOD, "cy@example.org")
    assert row is not None and row.state is DeliveryState.FAILED and not row.permanent


def test_a_permanent_refusal_is_final_and_bounces_after_bounce_after_issues(
        world: tuple[Config, Store]) -> None:
    cfg, store = world
    for period in (Period(2026, 9), PERIOD):
        script = Script(sends={"dee@example.org": [PermanentFailure("550 5.1.1 No such user")]})
        report = send(store, cfg, period, SECRET, connect=script.connection)
        assert report.failed == 1 and len(script.attempts["dee@example.org"]) == 1
        row = store.ledger.get(period, "dee@example.org")
        assert row is not None and row.permanent and row.reason == "550 5.1.1 No such user"
    assert report.bounced == 1  # the second issue refused: bounce_after = 2
    dee = store.subscribers.get("dee@example.org")
    assert dee is not None and dee.status is SubscriberStatus.BOUNCED


def test_a_lost_reply_is_resent_with_the_same_message_id_and_flagged(
        world: tuple[Config, Store]) -> None:
    cfg, store = world
    lost = TemporaryFailure("connection lost after the message was sent", maybe_delivered=True)
    script = Script(sends={"ana@example.org": [lost]})
    report = send(store, cfg, PERIOD, SECRET, connect=script.connection)
    assert (report.sent, report.duplicates) == (4, 1)
    row = store.ledger.get(PERIOD, "ana@example.org")
    assert row is not None and row.duplicate and row.state is DeliveryState.SENT
    assert row.message_id == Sender.of(cfg.site).message_id(str(PERIOD), "ana@example.org")


def test_a_row_left_sending_by_a_crash_is_resent_once_and_flagged(
        world: tuple[Config, Store]) -> None:
    cfg, store = world
    msgid = Sender.of(cfg.site).message_id(str(PERIOD), "ben@example.org")
    store.ledger.open(PERIOD)
    store.ledger.mark(PERIOD, "ben@example.org", DeliveryState.SENDING, msgid, attempt=True)
    script = Script()
    report = send(store, cfg, PERIOD, SECRET, connect=script.connection)
    assert report.duplicates == 1
    assert ("ben@example.org", msgid) in script.accepted
    assert state(store, "ben@example.org") == (DeliveryState.SENT, 2)


def test_an_unreachable_server_stops_the_run_with_nothing_marked_sending(
        world: tuple[Config, Store]) -> None:
    cfg, store = world
    script = Script(opens=[ServerUnavailable("cannot connect to SMTP x:25")] * 20)
    report = send(store, cfg, PERIOD, SECRET, connect=script.connection)
    assert report.sent == 0 and "cannot connect to SMTP x:25 (tried 4 times)" in report.stopped
    assert store.ledger.counts(PERIOD) == {DeliveryState.PENDING: 4}
    assert report.remaining == 4 and not report.complete


def test_a_setting_no_retry_can_fix_stops_the_run_at_once(world: tuple[Config, Store]) -> None:
    cfg, store = world
    script = Script(opens=[DeliveryError("SMTP x:25 refused the login for 'digest'")] * 2)
    report = send(store, cfg, PERIOD, SECRET, connect=script.connection)
    assert "refused the login" in report.stopped and report.sent == 0
    assert store.ledger.counts(PERIOD) == {DeliveryState.PENDING: 4}


def test_a_stop_leaves_the_rest_pending_for_the_next_send(world: tuple[Config, Store]) -> None:
    cfg, store = world
    stop = threading.Event()
    script = Script()
    real = ScriptedConnection.send

    def stop_after_first(self: ScriptedConnection, env: str, rcpt: str, data: bytes) -> None:
        real(self, env, rcpt, data)
        stop.set()
    ScriptedConnection.send = stop_after_first  # type: ignore[method-assign]
    try:
        report = send(store, cfg, PERIOD, SECRET, connect=script.connection, stop=stop)
    finally:
        ScriptedConnection.send = real  # type: ignore[method-assign]
    assert report.interrupted and 1 <= report.sent < 4
    counts = store.ledger.counts(PERIOD)
    assert DeliveryState.SENDING not in counts and counts[DeliveryState.SENT] == report.sent
    rest = send(store, cfg, PERIOD, SECRET, connect=Script().connection)
    assert rest.sent == 4 - report.sent


def test_an_odd_error_fails_that_row_only_and_the_run_goes_on(
        world: tuple[Config, Store]) -> None:
    cfg, store = world
    script = Script(sends={"ana@example.org": [ZeroDivisionError("bug")]})
    report = send(store, cfg, PERIOD, SECRET, connect=script.connection)
    assert (report.sent, report.failed, report.stopped) == (3, 1, "")
    row = store.ledger.get(PERIOD, "ana@example.org")
    assert row is not None and row.state is DeliveryState.FAILED
    assert row.reason == "sending failed unexpectedly: ZeroDivisionError: bug"
    assert row.duplicate  # it may have gone out before the error


def test_the_same_odd_error_again_and_again_stops_the_run(
        make_config: Callable[..., Config]) -> None:
    cfg = make_config(smtp_extra={"concurrency": 1})
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        for i in range(30):
            store.subscribers.put(Subscriber(f"r{i:02d}@example.org", "", (),
                                             SubscriberStatus.ACTIVE), "test")
        script = Script(sends={f"r{i:02d}@example.org": [ZeroDivisionError("bug")]
                               for i in range(30)})
        report = send(store, cfg, PERIOD, SECRET, connect=script.connection)
        assert report.failed == 10 and report.sent == 0
        assert "10 messages in a row failed unexpectedly" in report.stopped
        assert store.ledger.counts(PERIOD)[DeliveryState.PENDING] == 20


def test_a_deferred_row_waits_for_its_time_then_goes(world: tuple[Config, Store]) -> None:
    from datetime import timedelta

    from msdigest.clock import system_clock
    cfg, store = world
    msgid = Sender.of(cfg.site).message_id(str(PERIOD), "cy@example.org")
    store.ledger.open(PERIOD)
    store.ledger.mark(PERIOD, "cy@example.org", DeliveryState.DEFERRED, msgid, "451 busy",
                      attempt=True, next_attempt=system_clock() + timedelta(seconds=2))
    script = Script()
    started = time.monotonic()
    report = send(store, cfg, PERIOD, SECRET, connect=script.connection)
    assert report.sent == 4 and state(store, "cy@example.org") == (DeliveryState.SENT, 2)
    # stored to the second: at least a second of the two is left to wait
    assert script.attempts["cy@example.org"][0] - started >= 1.0  # not before its time


def test_test_sends_and_dry_runs_take_the_same_path_and_record_nothing(
        world: tuple[Config, Store], tmp_path: object) -> None:
    from pathlib import Path
    cfg, store = world
    memory = Memory()
    results = send_test(store, cfg, PERIOD, SECRET, ["Editor@Example.org"],
                        connect=memory.connection)
    assert results == [("editor@example.org", "sent")]
    assert [m.rcpt for m in memory.outbox] == ["editor@example.org"]
    assert b"Subject: [TEST] " in memory.outbox[0].data
    folder = Path(str(tmp_path)) / "outbox"
    report = dry_run(store, cfg, PERIOD, SECRET, folder)
    assert len(report.written) == 4
    assert folder.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in report.written)
    assert store.ledger.counts(PERIOD) == {} and not store.issues.is_frozen(PERIOD)


def test_a_stop_or_a_halt_cuts_a_reconnect_backoff_short(
        make_config: Callable[..., Config]) -> None:
    cfg = make_config(smtp_extra={"retry_base_seconds": 30, "max_attempts": 5,
                                  "concurrency": 2})
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        store.subscribers.put(Subscriber("a@example.org", "", (), SubscriberStatus.ACTIVE),
                              "test")
        store.subscribers.put(Subscriber("b@example.org", "", (), SubscriberStatus.ACTIVE),
                              "test")
        # one connection finds a setting to fix (the run halts), the other is backing off
        script = Script(opens=[ServerUnavailable("down"), DeliveryError("login refused")])
        started = time.monotonic()
        report = send(store, cfg, PERIOD, SECRET, connect=script.connection)
        assert "login refused" in report.stopped
        assert time.monotonic() - started < 10  # not the 30 s backoff
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        script = Script(opens=[ServerUnavailable("down")] * 10)
        started = time.monotonic()
        report = send(store, cfg, PERIOD, SECRET, connect=script.connection, stop=stop)
        assert report.interrupted and time.monotonic() - started < 10
