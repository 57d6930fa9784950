"""Send: real messages to a real SMTP server, a ledger that never sends twice."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.smtp import Envelope

from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.delivery.send import dry_run, send
from msdigest.errors import EmptyIssue
from msdigest.message import Sender
from msdigest.model import Summary
from msdigest.period import Period
from msdigest.records import DeliveryState
from msdigest.store import Store
from msdigest.subscribers import import_file
from msdigest.unsubscribe import read_token

from .conftest import REPO, SECRET, SmtpServer

pytestmark = pytest.mark.both_stores  # the whole file again on PostgreSQL

PERIOD = Period(2026, 10)
ACTIVE = ["ana.silva@example.org", "ben.okafor@example.org", "chloe.martin@example.net",
          "dev.patel@example.com", "eva.novak@example.org", "farid.haddad@example.org"]


@pytest.fixture
def ready(make_config: Callable[..., Config], smtp_server: SmtpServer
          ) -> tuple[Config, Store]:
    cfg = make_config(smtp=smtp_server)
    store = Store.open(cfg.store_location)
    collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
    import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
    return cfg, store


def test_each_active_subscriber_gets_one_complete_message(
        ready: tuple[Config, Store], smtp_server: SmtpServer) -> None:
    cfg, store = ready
    report = send(store, cfg, PERIOD, SECRET)
    assert (report.sent, report.failed, report.deferred) == (6, 0, 0)
    got = sorted(r.recipients[0] for r in smtp_server.handler.received)
    assert got == sorted(ACTIVE)  # not grace.lee (unsubscribed), not the rejected rows
    ids = set()
    for r in smtp_server.handler.received:
        msg = r.message
        assert msg.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in msg.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        assert msg["From"] == cfg.site.sender
        assert msg["Date"] and msg["Subject"].startswith("MS Research Digest — October 2026")
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        https, mailto = (u.strip(" <>") for u in msg["List-Unsubscribe"].split(","))
        assert https.startswith(cfg.unsubscribe.base_url + "/unsubscribe?t=")
        assert mailto.startswith("mailto:unsubscribe@summaries.example.org?subject=")
        token = parse_qs(urlsplit(https).query)["t"][0]
        assert read_token(SECRET, token) == r.recipients[0]  # signed for this subscriber
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert https in html  # the footer link is the same signed link
        ids.add(msg["Message-ID"])
        for line in r.data.split(b"\r\n"):
            assert len(line) <= 998
    assert len(ids) == 6


def test_subscribers_get_only_the_themes_they_chose(
        ready: tuple[Config, Store], smtp_server: SmtpServer) -> None:
    cfg, store = ready
    send(store, cfg, PERIOD, SECRET)
    ben = smtp_server.handler.to("ben.okafor@example.org")[0].message
    html = ben.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = ben.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Exercise and rehabilitation" in html and "Therapies" in html
    assert "Gut microbiome" not in html and "GUT MICROBIOME" not in text
    assert ben["Subject"] == "MS Research Digest — October 2026: 4 new summaries"
    assert "Hello Ben Okafor," in text
    ana = smtp_server.handler.to("ana.silva@example.org")[0].message
    assert ana["Subject"] == "MS Research Digest — October 2026: 8 new summaries"


def test_sending_again_sends_nothing_twice(ready: tuple[Config, Store],
                                           smtp_server: SmtpServer) -> None:
    cfg, store = ready
    send(store, cfg, PERIOD, SECRET)
    again = send(store, cfg, PERIOD, SECRET)
    assert (again.sent, again.already) == (0, 6)
    assert len(smtp_server.handler.received) == 6
    assert store.ledger.counts(PERIOD) == {"sent": 6}


def test_refused_recipient_fails_with_the_reply_and_others_still_get_it(
        ready: tuple[Config, Store], smtp_server: SmtpServer) -> None:
    cfg, store = ready
    smtp_server.handler.refuse["dev.patel@example.com"] = "550 5.1.1 No such user here"
    report = send(store, cfg, PERIOD, SECRET)
    assert (report.sent, report.failed) == (5, 1)
    assert report.failures == [("dev.patel@example.com", "550 5.1.1 No such user here")]
    failed = store.ledger.get(PERIOD, "dev.patel@example.com")
    assert failed is not None and (failed.state, failed.reason) == (
        "failed", "550 5.1.1 No such user here")
    assert len(smtp_server.handler.received) == 5
    assert send(store, cfg, PERIOD, SECRET).sent == 0  # a permanent failure is final


def test_temporary_refusal_is_retried_in_the_same_run(
        ready: tuple[Config, Store], smtp_server: SmtpServer) -> None:
    cfg, store = ready
    tries: list[str] = []

    def greylist(envelope: Envelope) -> str | None:
        to = envelope.rcpt_tos[0]
        tries.append(to)
        if to == "eva.novak@example.org" and tries.count(to) < 3:
            return "451 4.7.1 Greylisted, try again later"
        return None

    smtp_server.handler.data_reply = greylist
    report = send(store, cfg, PERIOD, SECRET)
    assert (report.sent, report.deferred, report.failed) == (6, 0, 0)
    assert len(smtp_server.handler.to("eva.novak@example.org")) == 1
    assert store.ledger.get(PERIOD, "eva.novak@example.org").attempts == 3  # type: ignore


def test_connection_dropped_mid_send_loses_nothing(
        ready: tuple[Config, Store], smtp_server: SmtpServer) -> None:
    cfg, store = ready
    drops = []

    def drop_third(envelope: Envelope) -> str | None:
        if len(smtp_server.handler.received) == 2 and not drops:
            drops.append(envelope.rcpt_tos[0])
            return "421 4.3.2 Service shutting down, closing connection"
        return None

    smtp_server.handler.data_reply = drop_third
    report = send(store, cfg, PERIOD, SECRET)
    assert drops and report.sent == 6
    got = sorted(r.recipients[0] for r in smtp_server.handler.received)
    assert got == sorted(ACTIVE)  # everyone exactly once, the dropped one included


def test_connection_cut_during_data_loses_nothing(
        ready: tuple[Config, Store], smtp_server: SmtpServer) -> None:
    cfg, store = ready
    cut: list[str] = []
    original = smtp_server.handler.handle_DATA

    async def cut_fourth(server, session, envelope):  # type: ignore[no-untyped-def]
        if len(smtp_server.handler.received) == 3 and not cut:
            cut.append(envelope.rcpt_tos[0])
            server.transport.close()  # the TCP connection dies before any reply
            return "250 never seen by the client"
        return await original(server, session, envelope)

    smtp_server.handler.handle_DATA = cut_fourth  # type: ignore[method-assign]
    report = send(store, cfg, PERIOD, SECRET)
    assert cut and report.sent == 6 and report.deferred == 0
    got = sorted(r.recipients[0] for r in smtp_server.handler.received)
    assert got == sorted(ACTIVE)
    retried = store.ledger.get(PERIOD, cut[0])
    assert retried is not None and retried.attempts == 2
    # The whole message had gone out when the line died: it may have arrived, so the
    # retry is reported as possibly duplicated (here the server had not kept it).
    assert retried.duplicate == 1 and report.duplicates == 1


def test_server_down_stops_cleanly_and_the_next_send_resumes(
        ready: tuple[Config, Store], smtp_server: SmtpServer) -> None:
    cfg, store = ready
    smtp_server.stop()
    report = send(store, cfg, PERIOD, SECRET)
    assert report.sent == 0 and "cannot connect to SMTP 127.0.0.1" in report.stopped
    assert "send --period 2026-10" in report.stopped
    assert store.ledger.counts(PERIOD) == {"pending": 6}  # none marked sending or sent
    assert report.remaining == 6
    smtp_server.start()
    resumed = send(store, cfg, PERIOD, SECRET)
    assert resumed.sent == 6 and len(smtp_server.handler.received) == 6


def test_interrupted_message_is_resent_once_with_the_same_message_id(
        ready: tuple[Config, Store], smtp_server: SmtpServer) -> None:
    cfg, store = ready
    # What a crash between the server's "250" and the ledger's commit leaves behind.
    mid = Sender.of(cfg.site).message_id(str(PERIOD), "ana.silva@example.org")
    store.ledger.mark(PERIOD, "ana.silva@example.org", DeliveryState.SENDING, mid,
                      attempt=True)
    report = send(store, cfg, PERIOD, SECRET)
    assert (report.sent, report.duplicates) == (6, 1)
    ana = smtp_server.handler.to("ana.silva@example.org")
    assert len(ana) == 1 and ana[0].message["Message-ID"] == mid
    assert store.ledger.get(PERIOD, "ana.silva@example.org").duplicate == 1  # type: ignore


def test_nothing_in_chosen_themes_is_recorded_not_silently_skipped(
        make_config: Callable[..., Config], smtp_server: SmtpServer, tmp_path: Path) -> None:
    cfg = make_config(smtp=smtp_server)
    store = Store.open(cfg.store_location)
    when = datetime(2026, 7, 3, tzinfo=UTC)
    store.content.upsert(Summary("s1", "g1", "Gut bacteria and relapses",
                                 "https://t.example.org/1", when, "<p>x</p>", "x", "f"), when)
    csv = tmp_path / "s.csv"
    csv.write_text("email,name,themes,status\nz@example.org,Zed,exercise,active\n"
                   "y@example.org,Yan,,active\n")
    import_file(store, csv, cfg.theme_ids)
    report = send(store, cfg, Period(2026, 7), SECRET)
    assert (report.sent, report.skipped) == (1, 1)
    zed = store.ledger.get(Period(2026, 7), "z@example.org")
    assert zed is not None and zed.state == "skipped"
    assert zed.reason == "no new summaries in the themes this subscriber chose"
    assert not smtp_server.handler.to("z@example.org")


def test_empty_issue_is_refused(make_config: Callable[..., Config]) -> None:
    cfg = make_config()
    with Store.open(cfg.store_location) as store, pytest.raises(EmptyIssue,
                                                            match="has no summaries"):
        send(store, cfg, Period(2020, 1), SECRET)


def test_dry_run_writes_eml_files_and_records_nothing(
        ready: tuple[Config, Store], smtp_server: SmtpServer, tmp_path: Path) -> None:
    cfg, store = ready
    report = dry_run(store, cfg, PERIOD, SECRET, tmp_path / "outbox")
    assert len(report.written) == 6
    assert smtp_server.handler.received == []
    assert store.ledger.counts(PERIOD) == {} and store.issues.frozen_periods() == []
    first = message_from_bytes(report.written[0].read_bytes(), policy=default)
    again = dry_run(store, cfg, PERIOD, SECRET, tmp_path / "outbox2")
    second = message_from_bytes(again.written[0].read_bytes(), policy=default)
    assert first["Message-ID"] == second["Message-ID"]  # stable per issue and subscriber


def test_send_command_needs_the_secret_and_reports(
        ready: tuple[Config, Store], smtp_server: SmtpServer) -> None:
    cfg, _ = ready
    cmd = [sys.executable, "-m", "msdigest.cli", "--config", cfg.source, "send", "--period",
           str(PERIOD)]
    env = {k: v for k, v in os.environ.items() if k != "MSDIGEST_SECRET"}
    missing = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert missing.returncode == 1 and "MSDIGEST_SECRET is not set" in missing.stderr
    smtp_server.handler.refuse["dev.patel@example.com"] = "550 5.1.1 No such user here"
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                         env={**env, "MSDIGEST_SECRET": SECRET.decode()})
    assert run.returncode == 3, run.stderr
    assert "sent now" in run.stdout and "failed (permanent)" in run.stdout
    assert "dev.patel@example.com: 550 5.1.1 No such user here" in run.stdout
    status = subprocess.run([*cmd[:5], "status", "--period", str(PERIOD)], capture_output=True,
                            text=True, timeout=60, env=env)
    assert status.returncode == 0
    assert "failed: dev.patel@example.com: 550 5.1.1 No such user here" in status.stdout
