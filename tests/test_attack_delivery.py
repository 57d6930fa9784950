"""What the attack run broke in delivery (shared/notes/reliability_attack.md), each
against a real SMTP server, real SQLite files and real `msdigest send` processes.

D8 the reply to the final dot; D9 an unreachable server; D10 and D11 concurrent sends;
D13 people who unsubscribe during a send; I8 one subscriber's unsendable address.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiosmtpd.smtp import Envelope

from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.delivery.send import send
from msdigest.model import Subscriber, SubscriberStatus
from msdigest.period import Period
from msdigest.records import DeliveryState
from msdigest.store import Store
from msdigest.subscribers import import_file

from .conftest import SECRET, SmtpHandler, SmtpServer, start_smtp
from .test_delivery import ENV, cli, subscribers, wait_for

pytestmark = pytest.mark.both_stores  # the whole file again on PostgreSQL

PERIOD = Period(2026, 10)


class SlowHandler(SmtpHandler):
    """Takes `delay` seconds before answering the final dot."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow() -> Iterator[SmtpServer]:
    server = start_smtp(SlowHandler(0.01))
    yield server
    server.stop()


def loaded(make_config: Callable[..., Config], server: SmtpServer, n: int,
           **smtp: Any) -> tuple[Config, list[Subscriber]]:
    # a short lease: a killed sender's rows are taken over after 5 s, not a minute
    cfg = make_config(smtp=server, smtp_extra={"concurrency": 4, **smtp},
                      store={"lease_seconds": 5})
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        return cfg, subscribers(store, n)


def check_once_each(cfg: Config, server: SmtpServer, subs: list[Subscriber],
                    killed_connections: int) -> None:
    """Everyone got it; anyone who got it twice is flagged; no more than one per
    connection that a kill -9 left open."""
    counts = Counter(r.recipients[0] for r in server.handler.received)
    assert set(counts) == {s.email for s in subs}
    twice = {email for email, n in counts.items() if n > 1}
    with Store.open(cfg.store_location) as store:
        assert store.ledger.counts(PERIOD) == {DeliveryState.SENT: len(subs)}
        flagged = {d.email for d in store.ledger.rows(PERIOD, duplicates=True)}
    assert twice <= flagged, twice - flagged
    assert len(flagged) <= killed_connections and max(counts.values()) <= 2


def kill_mid_send(cfg: Config, server: SmtpServer, after: int) -> None:
    proc = subprocess.Popen(cli(cfg, "send", "--period", PERIOD), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(server.handler.received) >= after)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()


@pytest.mark.parametrize("senders", [2, 3])
def test_concurrent_sends_resuming_one_issue_send_nobody_the_issue_twice_unflagged(
        make_config: Callable[..., Config], slow: SmtpServer, senders: int) -> None:
    cfg, subs = loaded(make_config, slow, 400)
    kill_mid_send(cfg, slow, 60)  # a partly sent issue, as in the report (D11)
    procs = [subprocess.Popen(cli(cfg, "send", "--period", PERIOD), env=ENV, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(senders)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    results = [(p.returncode, err) for p, err in zip(procs, errors, strict=True)]
    for code, err in results:
        assert "Traceback" not in err, err
        if code != 0:  # the ones that found a send running say so and do nothing
            assert code == 4 and "a send of the 2026-10 issue is already running" in err, err
    assert [code for code, _ in results].count(0) >= 1
    check_once_each(cfg, slow, subs, killed_connections=4)


def test_two_first_sends_at_once_freeze_the_issue_once_without_a_traceback(
        make_config: Callable[..., Config], slow: SmtpServer) -> None:
    cfg, subs = loaded(make_config, slow, 200)
    procs = [subprocess.Popen(cli(cfg, "send", "--period", PERIOD), env=ENV, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    for p in procs:
        err = p.communicate(timeout=120)[1]
        code = p.returncode
        assert "Traceback" not in err and "IntegrityError" not in err, err
        assert code in (0, 4), err
    check_once_each(cfg, slow, subs, killed_connections=0)


def test_the_reply_to_a_whole_message_may_take_longer_than_the_command_timeout(
        make_config: Callable[..., Config]) -> None:
    server = start_smtp(SlowHandler(2.0))  # a server that scans mail before it answers
    try:
        cfg, subs = loaded(make_config, server, 4, timeout=1, data_timeout=10)
        with Store.open(cfg.store_location) as store:
            report = send(store, cfg, PERIOD, SECRET)
        assert (report.sent, report.duplicates, report.deferred) == (4, 0, 0)
        assert Counter(r.recipients[0] for r in server.handler.received) == Counter(
            s.email for s in subs)  # each once: nothing resent after a patient server
    finally:
        server.stop()


def test_an_unreachable_server_with_nothing_sent_exits_1(
        make_config: Callable[..., Config], smtp_server: SmtpServer) -> None:
    cfg, _ = loaded(make_config, smtp_server, 3, max_attempts=2)
    smtp_server.stop()
    run = subprocess.run(cli(cfg, "send", "--period", PERIOD), env=ENV, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    assert "cannot connect to SMTP 127.0.0.1" in run.stderr and "Traceback" not in run.stderr


def test_people_who_unsubscribe_during_a_send_are_skipped_in_that_send(
        make_config: Callable[..., Config], slow: SmtpServer) -> None:
    cfg, subs = loaded(make_config, slow, 120, concurrency=1)
    leaving = [s.email for s in subs[-20:]]
    done = threading.Event()

    def unsubscribe_some(envelope: Envelope) -> None:
        if len(slow.handler.received) == 5 and not done.is_set():
            done.set()
            with Store.open(cfg.store_location) as other:  # as the link pages would
                for email in leaving:
                    other.subscribers.set_status(email, SubscriberStatus.UNSUBSCRIBED, "link")
    slow.handler.data_reply = unsubscribe_some  # type: ignore[assignment]
    with Store.open(cfg.store_location) as store:
        report = send(store, cfg, PERIOD, SECRET)
        assert done.is_set() and report.complete and report.remaining == 0
        assert report.skipped >= 20
        for email in leaving:
            row = store.ledger.get(PERIOD, email)
            assert row is not None and row.state is DeliveryState.SKIPPED
            assert row.reason == "no longer subscribed when the issue was sent"
        assert DeliveryState.PENDING not in store.ledger.counts(PERIOD)
    assert not any(slow.handler.to(email) for email in leaving)


def test_an_internationalized_domain_is_sent_as_idna_and_one_bad_row_stops_nobody(
        make_config: Callable[..., Config], smtp_server: SmtpServer, tmp_path: Any) -> None:
    cfg, _ = loaded(make_config, smtp_server, 30)
    csv = tmp_path / "idn.csv"
    csv.write_text("email,name,themes,status\nidn@bücher.example,Idn,,active\n", "utf-8")
    with Store.open(cfg.store_location) as store:
        report = import_file(store, csv, cfg.theme_ids)
        assert (report.new, report.errors) == (1, [])
        assert store.subscribers.get("idn@xn--bcher-kva.example") is not None
        # An address no import would accept now, left in the store by an older release:
        # its message cannot be built (no SMTPUTF8), so its row fails, and only its row.
        store.subscribers.put(Subscriber("jörg@example.org", "Jörg", (),
                                         SubscriberStatus.ACTIVE), "test")
        sent = send(store, cfg, PERIOD, SECRET)
        assert (sent.sent, sent.failed, sent.stopped) == (31, 1, "")
        row = store.ledger.get(PERIOD, "jörg@example.org")
        assert row is not None and row.state is DeliveryState.FAILED
        assert "could not build the message" in row.reason
    assert smtp_server.handler.to("idn@xn--bcher-kva.example")
