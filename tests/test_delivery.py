"""Delivery at scale: prepared messages equal full builds, TLS and AUTH, faults, crashes."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.delivery.pacing import Limiter
from msdigest.delivery.send import send
from msdigest.issue import draft
from msdigest.message import Sender, build
from msdigest.model import Subscriber, SubscriberStatus
from msdigest.period import Period
from msdigest.records import DeliveryState
from msdigest.render import render
from msdigest.store import Store
from msdigest.unsubscribe import Signer

from .conftest import SECRET, SmtpHandler, SmtpServer, start_smtp
from .conftest import write_config as write_toml

pytestmark = pytest.mark.both_stores  # the whole file again on PostgreSQL

PERIOD = Period(2026, 10)
NAMES = ["Ana Silva", "Zoë Ünal-Ørsted", 'Dr. "Doc" O\'Brien, MD', "", "李小龙", "A" * 150]


def subscribers(store: Store, n: int, seed: int = 7) -> list[Subscriber]:
    """n active subscribers with mixed names and theme choices."""
    rng = random.Random(seed)
    themes = ["gut_microbiome", "exercise", "biomarkers", "therapies", "other"]
    subs = []
    for i in range(n):
        chosen = () if i % 3 == 0 else tuple(sorted(rng.sample(themes, rng.randint(1, 4))))
        sub = Subscriber(f"reader{i:04d}@example.org", NAMES[i % len(NAMES)], chosen,
                         SubscriberStatus.ACTIVE)
        store.subscribers.put(sub, "test")
        subs.append(sub)
    return subs


@pytest.fixture
def loaded(make_config: Callable[..., Config], smtp_server: SmtpServer
           ) -> tuple[Config, Store]:
    cfg = make_config(smtp=smtp_server, smtp_extra={})
    store = Store.open(cfg.store_location)
    collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
    return cfg, store


def decoded(msg: EmailMessage) -> dict[str, Any]:
    """What a mail client shows: headers decoded, each part's text."""
    heads = {k: str(msg[k]) for k in ("From", "To", "Subject", "Date", "Message-ID",
                                      "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
                                      "Precedence", "Content-Type")}
    heads["Content-Type"] = msg.get_content_type()
    parts = [(p.get_content_type(), p.get_content()) for p in msg.iter_parts()]
    return {"headers": heads, "parts": parts}


def check_wire_format(data: bytes) -> EmailMessage:
    """Valid MIME as a strict reader sees it: CRLF only, lines <= 998 octets, no defects."""
    assert b"\n" not in data.replace(b"\r\n", b""), "bare LF"
    assert b"\r" not in data.replace(b"\r\n", b""), "bare CR"
    for line in data.split(b"\r\n"):
        assert len(line) <= 998
    msg = message_from_bytes(data, policy=default)
    assert not msg.defects
    for part in msg.walk():
        assert not part.defects, part.defects
        if part.get("Content-Transfer-Encoding") == "quoted-printable":
            raw = part.get_payload(decode=False)
            assert all(len(line) <= 76 for line in raw.splitlines()), "QP line over 76"
    return msg  # type: ignore[return-value]


def test_prepared_messages_equal_a_full_build(loaded: tuple[Config, Store],
                                              smtp_server: SmtpServer) -> None:
    cfg, store = loaded
    subs = {s.email: s for s in subscribers(store, 60)}
    report = send(store, cfg, PERIOD, SECRET)
    assert report.sent == len(smtp_server.handler.received) == 60
    edition = draft(store, cfg, PERIOD).edition
    sender = Sender.of(cfg.site)
    for received in smtp_server.handler.received:
        got = check_wire_format(received.data)
        sub = subs[received.recipients[0]]
        when = datetime.fromtimestamp(got["Date"].datetime.timestamp(), UTC)
        full = build(sender, render(edition, sub.themes), sub,
                     Signer.of(cfg, SECRET).links(sub.email),
                     sender.message_id(str(PERIOD), sub.email), when)
        reference = message_from_bytes(full.as_bytes(), policy=default)
        mine, theirs = decoded(got), decoded(reference)  # type: ignore[arg-type]
        assert mine["headers"] == theirs["headers"]
        for (kind, body), (ref_kind, ref_body) in zip(mine["parts"], theirs["parts"],
                                                      strict=True):
            assert kind == ref_kind
            assert body.splitlines() == ref_body.splitlines()
            assert body == ref_body


def test_names_and_themes_reach_the_right_subscriber(loaded: tuple[Config, Store],
                                                     smtp_server: SmtpServer) -> None:
    cfg, store = loaded
    subscribers(store, 12)
    send(store, cfg, PERIOD, SECRET)
    zoe = smtp_server.handler.to("reader0001@example.org")[0].message
    assert zoe["To"].addresses[0].display_name == "Zoë Ünal-Ørsted"
    text = zoe.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hello Zoë Ünal-Ørsted," in text
    doc = smtp_server.handler.to("reader0002@example.org")[0].message
    assert doc["To"].addresses[0].display_name == 'Dr. "Doc" O\'Brien, MD'
    html = doc.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Hello Dr. &quot;Doc&quot; O&#x27;Brien, MD," in html  # escaped in HTML


# --- TLS and AUTH against a real server ---------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_server(ca: trustme.CA, mode: str) -> SmtpServer:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"digest", b"s3cret")
        return AuthResult(success=ok, handled=False)

    auth: dict[str, Any] = {"authenticator": authenticator, "auth_required": True}
    if mode == "starttls":
        return start_smtp(SmtpHandler(), tls_context=ctx, require_starttls=True, **auth)
    # aiosmtpd does not count implicit TLS as TLS for AUTH; the socket is TLS anyway.
    return start_smtp(SmtpHandler(), ssl_context=ctx, auth_require_tls=False, **auth)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_and_auth(mode: str, ca: trustme.CA, tmp_path: Path) -> None:
    server = tls_server(ca, mode)
    handler, port = server.handler, server.port
    try:
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        cfg_path = write_toml(tmp_path / "digest.toml", {
            "store": {"path": str(tmp_path / "s.sqlite")},
            "digest": {"require_approval": False},
            "smtp": {"host": "127.0.0.1", "port": port, "security": mode,
                     "username": "digest", "ca_file": str(ca_file)}})
        from msdigest import config as config_mod
        cfg = config_mod.load(cfg_path, env={"MSDIGEST_SMTP_PASSWORD": "s3cret"})
        with Store.open(cfg.store_location) as store:
            collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
            subscribers(store, 5)
            report = send(store, cfg, PERIOD, SECRET)
            assert report.sent == 5 and len(handler.received) == 5
        wrong = config_mod.load(cfg_path, env={"MSDIGEST_SMTP_PASSWORD": "nope"})
        with Store.open(wrong.store_location) as store:
            store.db.execute("DELETE FROM deliveries")
            report = send(store, wrong, PERIOD, SECRET)
            assert "refused the login for 'digest'" in report.stopped
            assert report.sent == 0
    finally:
        server.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_untrusted_certificate_is_refused(ca: trustme.CA, tmp_path: Path) -> None:
    server = tls_server(ca, "ssl")
    handler, port = server.handler, server.port
    try:
        cfg_path = write_toml(tmp_path / "digest.toml", {
            "store": {"path": str(tmp_path / "s.sqlite")},
            "digest": {"require_approval": False},
            "smtp": {"host": "127.0.0.1", "port": port, "security": "ssl",
                     "username": "digest"}})  # no ca_file: the system store does not know it
        from msdigest import config as config_mod
        cfg = config_mod.load(cfg_path, env={"MSDIGEST_SMTP_PASSWORD": "s3cret"})
        with Store.open(cfg.store_location) as store:
            collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
            subscribers(store, 2)
            report = send(store, cfg, PERIOD, SECRET)
        assert "TLS failed" in report.stopped and "CERTIFICATE_VERIFY_FAILED" in report.stopped
        assert handler.received == []
    finally:
        server.stop()


# --- faults -------------------------------------------------------------------------------


class ChaosHandler(SmtpHandler):
    """Refuses with 451/421 and drops connections at random, before accepting a message."""

    def __init__(self, seed: int, rate: float) -> None:
        super().__init__()
        self.rng = random.Random(seed)
        self.rate = rate
        self.faults: Counter[str] = Counter()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if self.rng.random() < self.rate:
            self.faults["451 at RCPT"] += 1
            return "451 4.3.0 Try again later"
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        roll = self.rng.random()
        if roll < self.rate:
            self.faults["dropped during DATA"] += 1
            server.transport.close()
            return "250 never seen"
        if roll < 2 * self.rate:
            self.faults["421 at DATA"] += 1
            return "421 4.3.2 Closing connection"
        return await super().handle_DATA(server, session, envelope)


def test_chaos_server_still_delivers_everyone_exactly_once(
        make_config: Callable[..., Config]) -> None:
    handler = ChaosHandler(seed=1234, rate=0.12)
    server = start_smtp(handler)
    try:
        cfg = make_config(smtp=server, smtp_extra={"max_attempts": 10, "concurrency": 4,
                                                   "reconnect_after": 7})
        with Store.open(cfg.store_location) as store:
            collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
            subs = subscribers(store, 150)
            report = send(store, cfg, PERIOD, SECRET)
            counts = Counter(r.recipients[0] for r in handler.received)
            assert sum(handler.faults.values()) > 30, handler.faults  # it really was chaotic
            assert report.sent == 150 and report.failed == 0
            assert counts == Counter(s.email for s in subs)  # each exactly once
            assert store.ledger.counts(PERIOD) == {"sent": 150}
    finally:
        server.stop()


def test_repeated_permanent_failures_mark_a_subscriber_bounced(
        loaded: tuple[Config, Store], smtp_server: SmtpServer) -> None:
    cfg, store = loaded
    subscribers(store, 3)
    smtp_server.handler.refuse["reader0001@example.org"] = "550 5.1.1 Mailbox unavailable"
    for period in (Period(2026, 8), Period(2026, 9)):
        assert send(store, cfg, period, SECRET).failed == 1
    assert store.subscribers.get("reader0001@example.org").status == "active"  # type: ignore
    report = send(store, cfg, Period(2026, 10), SECRET)  # the third refusal (bounce_after = 3)
    assert report.bounced == 1
    assert store.subscribers.get("reader0001@example.org").status == "bounced"  # type: ignore


def test_rate_limiter_spaces_sends_and_holds_an_hourly_quota() -> None:
    clock = [100.0]
    limiter = Limiter(per_second=4, per_hour=10, clock=lambda: clock[0])
    starts = [limiter.reserve() - 100 for _ in range(12)]
    assert starts[:10] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25]
    assert starts[10:] == [3600.0, 3600.25]  # the 11th waits for the hour to roll over
    clock[0] = 100 + 5000.0  # a late caller is not held back by old bookings
    assert limiter.reserve() == 5100.0


# --- crashes and signals, with real processes ---------------------------------------------


class SlowHandler(SmtpHandler):
    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_server() -> Iterator[SmtpServer]:
    server = start_smtp(SlowHandler())
    yield server
    server.stop()


def cli(cfg: Config, *args: object) -> list[str]:
    return [sys.executable, "-m", "msdigest.cli", "--config", cfg.source, *map(str, args)]


ENV = {**os.environ, "MSDIGEST_SECRET": SECRET.decode(), "PYTHONUNBUFFERED": "1"}


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_kill_9_then_send_again_delivers_everyone_once(
        make_config: Callable[..., Config], slow_server: SmtpServer) -> None:
    cfg = make_config(smtp=slow_server, smtp_extra={"concurrency": 4})
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        subs = subscribers(store, 300)
    proc = subprocess.Popen(cli(cfg, "send", "--period", PERIOD), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(slow_server.handler.received) >= 60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    at_kill = len(slow_server.handler.received)
    assert at_kill < 300  # killed mid-send
    again = subprocess.run(cli(cfg, "send", "--period", PERIOD), env=ENV, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    counts = Counter(r.recipients[0] for r in slow_server.handler.received)
    assert set(counts) == {s.email for s in subs}  # nobody skipped
    twice = {email for email, n in counts.items() if n > 1}
    assert all(n <= 2 for n in counts.values())
    assert len(twice) <= 4  # at most one per connection
    with Store.open(cfg.store_location) as store:
        flagged = {d.email for d in store.ledger.rows(PERIOD) if d.duplicate}
        assert store.ledger.counts(PERIOD) == {"sent": 300}
    assert twice <= flagged and len(flagged) <= 4
    for email in twice:
        ids = {r.message["Message-ID"] for r in slow_server.handler.to(email)}
        assert len(ids) == 1  # the second copy carries the first one's Message-ID
    status = subprocess.run(cli(cfg, "status", "--period", PERIOD), env=ENV,
                            capture_output=True, text=True, timeout=60)
    for email in flagged:
        assert f"possibly duplicated: {email}" in status.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_finishes_in_flight_messages_and_the_next_send_resumes(
        sig: signal.Signals, make_config: Callable[..., Config],
        slow_server: SmtpServer) -> None:
    cfg = make_config(smtp=slow_server, smtp_extra={"concurrency": 4})
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        subs = subscribers(store, 300)
    proc = subprocess.Popen(cli(cfg, "send", "--period", PERIOD), env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(slow_server.handler.received) >= 40)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "sent now" in out
    with Store.open(cfg.store_location) as store:
        counts = store.ledger.counts(PERIOD)
        assert "sending" not in counts  # every message in flight was recorded
        assert counts["sent"] == len(slow_server.handler.received) < 300
    again = subprocess.run(cli(cfg, "send", "--period", PERIOD), env=ENV, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert Counter(r.recipients[0] for r in slow_server.handler.received) == Counter(
        s.email for s in subs)


def test_status_shows_states_and_reasons(loaded: tuple[Config, Store],
                                         smtp_server: SmtpServer) -> None:
    cfg, store = loaded
    subscribers(store, 4)
    smtp_server.handler.refuse["reader0003@example.org"] = "550 5.7.1 Policy rejection"
    send(store, cfg, PERIOD, SECRET)
    run = subprocess.run(cli(cfg, "status", "--period", PERIOD), env=ENV,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0
    assert re.search(r"sent\s*│\s*3", run.stdout) and re.search(r"failed\s*│\s*1", run.stdout)
    assert "failed: reader0003@example.org: 550 5.7.1 Policy rejection" in run.stdout


def test_lines_starting_with_a_dot_survive_the_smtp_transfer(
        loaded: tuple[Config, Store], smtp_server: SmtpServer) -> None:
    from msdigest import editorial
    cfg, store = loaded
    subscribers(store, 2)
    # A line that is only "." would end the DATA phase early if it were not dot-stuffed.
    editorial.set_intro(store, PERIOD, "\\.\n\n\\.leading dot")
    send(store, cfg, PERIOD, SECRET)
    for received in smtp_server.handler.received:
        text = received.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        lines = text.splitlines()
        assert "." in lines and ".leading dot" in lines
        assert "Unsubscribe" in text  # the message was not cut short


def test_deferred_rows_are_retried_on_the_next_send_and_attempts_add_up(
        loaded: tuple[Config, Store], smtp_server: SmtpServer) -> None:
    from msdigest.clock import system_clock
    cfg, store = loaded  # max_attempts = 5
    sender = Sender.of(cfg.site)
    subscribers(store, 3)
    store.ledger.open(PERIOD)
    # What an interrupted run leaves: two subscribers deferred after 2 and 4 attempts.
    for email, attempts in (("reader0000@example.org", 2), ("reader0001@example.org", 4)):
        for _ in range(attempts):
            store.ledger.mark(PERIOD, email, DeliveryState.DEFERRED,
                              sender.message_id(str(PERIOD), email), "451 4.2.0 Mailbox busy",
                              attempt=True, next_attempt=system_clock())
    smtp_server.handler.refuse["reader0001@example.org"] = "451 4.2.0 Mailbox busy"
    report = send(store, cfg, PERIOD, SECRET)
    assert (report.sent, report.failed) == (2, 1)
    first = store.ledger.get(PERIOD, "reader0000@example.org")
    assert first is not None and (first.state, first.attempts) == ("sent", 3)
    last = store.ledger.get(PERIOD, "reader0001@example.org")
    assert last is not None and (last.state, last.attempts) == ("failed", 5)
    assert last.reason == "gave up after 5 attempts: 451 4.2.0 Mailbox busy"
    assert len(smtp_server.handler.to("reader0000@example.org")) == 1
