"""Bounces and complaints after acceptance, read from a real mailbox: a real dovecot IMAP
server over TLS (started here), and a Maildir. The issue goes out over real SMTP first;
what comes back is written as Postfix, Exim, Gmail and a feedback loop write it.

Hard bounces and complaints stop mail to the address (a complaint unsubscribes, source
"complaint"); soft bounces count toward [smtp] bounce_after with refusals at sending;
each handled report is moved to the processed folder and never counted twice."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from msdigest import schedule
from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.delivery.send import send
from msdigest.model import SubscriberStatus
from msdigest.period import Period
from msdigest.records import StartedBy
from msdigest.store import Store
from msdigest.subscribers import import_file

from .conftest import REPO, SECRET, Received, SmtpServer
from .mailserver import FULL, PASSWORD, USER, ImapServer, dovecot, report

OCTOBER, SEPTEMBER = Period(2026, 10), Period(2026, 9)
ANA, BEN, CHLOE = "ana.silva@example.org", "ben.okafor@example.org", "chloe.martin@example.net"
DEV, FARID = "dev.patel@example.com", "farid.haddad@example.org"
PROCESSED = "msdigest-processed"


@pytest.fixture(scope="module")
def imap_server() -> Iterator[ImapServer]:
    yield from dovecot()


@dataclass
class World:
    cfg: Config
    smtp: SmtpServer

    def sent(self, email: str, period: Period = OCTOBER) -> Received:
        return next(r for r in self.smtp.handler.to(email)
                    if str(period) in str(r.message["Message-ID"]))

    def status(self, email: str) -> tuple[SubscriberStatus, str]:
        with Store.open(self.cfg.store_path) as store:
            found = store.subscribers.record(email)
            assert found is not None
            return found.subscriber.status, found.source

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("MSDIGEST_")},
               "MSDIGEST_SECRET": SECRET.decode(), "MSDIGEST_IMAP_PASSWORD": PASSWORD}
        return subprocess.run([sys.executable, "-m", "msdigest.cli", "--config",
                               self.cfg.source, *args], capture_output=True, text=True,
                              timeout=60, env=env)


def world_of(make_config: Callable[..., Config], smtp: SmtpServer, bounces: dict[str, object],
             bounce_after: int = 2) -> World:
    cfg = make_config(smtp=smtp, smtp_extra={"bounce_after": bounce_after}, bounces=bounces)
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
        send(store, cfg, SEPTEMBER, SECRET)
        send(store, cfg, OCTOBER, SECRET)
    return World(cfg, smtp)


@pytest.fixture
def imap_world(make_config: Callable[..., Config], smtp_server: SmtpServer,
               imap_server: ImapServer) -> World:
    return world_of(make_config, smtp_server, {
        "source": "imap", "host": imap_server.host, "port": imap_server.port,
        "username": USER, "ca_file": str(imap_server.ca_file), "timeout": 10,
        "processed_folder": PROCESSED})


def empty(imap: ImapServer) -> None:
    conn = imap.connect()
    try:
        for folder in ("INBOX", PROCESSED):
            if conn.select(f'"{folder}"')[0] == "OK" and conn.search(None, "ALL")[1][0]:
                conn.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
                conn.expunge()
    finally:
        conn.logout()


def test_bounces_check_reads_imap_acts_on_each_report_once_and_moves_it(
        imap_world: World, imap_server: ImapServer) -> None:
    w = imap_world
    empty(imap_server)
    reports = [report("postfix-bounce.eml", w.sent(ANA)),  # no such user: hard
               report("exim-bounce.eml", w.sent(BEN)),  # Exim's 5.0.0 with the remote 5.1.1
               report("gmail-bounce.eml", w.sent(CHLOE)),
               report("arf-complaint.eml", w.sent(DEV), redacted=True),  # the recipient hidden
               report("postfix-delayed.eml", w.sent(FARID))]
    for raw in reports:
        imap_server.deliver(raw)
    reply = report("reply.eml", w.sent(FARID))
    imap_server.deliver(reply)

    done = w.cli("bounces", "check")
    assert done.returncode == 0, done.stderr
    assert "5 reports (1 complaint, 1 delayed, 3 hard); 4 addresses no longer sent to; " \
           "1 other messages left in place" in done.stdout
    assert f"hard: {ANA} ({OCTOBER} issue): 550 5.1.1" in done.stdout
    for email in (ANA, BEN, CHLOE):
        assert w.status(email) == (SubscriberStatus.BOUNCED, "bounce")
    assert w.status(DEV) == (SubscriberStatus.UNSUBSCRIBED, "complaint")
    assert w.status(FARID) == (SubscriberStatus.ACTIVE, "import")  # only delayed

    inbox = imap_server.folder("INBOX")
    assert len(inbox) == 1 and b"yoga and balance" in inbox[0][0]
    assert "\\Seen" not in inbox[0][1]  # still unread, for a person
    assert len(imap_server.folder(PROCESSED)) == 5

    again = w.cli("bounces", "check")
    assert again.returncode == 0 and "0 reports (nothing)" in again.stdout, again.stdout
    # a report moved back (or copied) is recognised and only moved again
    imap_server.deliver(reports[0])
    third = w.cli("bounces", "check")
    assert "0 reports" in third.stdout
    assert len(imap_server.folder(PROCESSED)) == 6 and len(imap_server.folder()) == 1
    with Store.open(w.cfg.store_path) as store:
        assert store.bounces.counts() == {"hard": 3, "complaint": 1}
        checks = [r for r in store.runs.recent() if r.job == "bounces"]
        assert [(r.started_by, r.outcome) for r in checks] == [(StartedBy.MANUAL, "ok")] * 3
        assert checks[-1].counts["reports"] == 5 and checks[0].counts["seen_before"] == 1


def test_the_scheduled_job_reads_the_mailbox_too_and_a_bad_login_is_one_clear_line(
        imap_world: World, imap_server: ImapServer, monkeypatch: pytest.MonkeyPatch) -> None:
    w = imap_world
    empty(imap_server)
    imap_server.deliver(report("gmail-bounce.eml", w.sent(ANA)))
    monkeypatch.setenv("MSDIGEST_IMAP_PASSWORD", PASSWORD)
    monkeypatch.setenv("MSDIGEST_SECRET", SECRET.decode())
    assert schedule.bounces_job(w.cfg.source).startswith("1 reports (1 hard)")
    assert w.status(ANA) == (SubscriberStatus.BOUNCED, "bounce")
    assert "bounces" in {s.id for s in schedule.job_specs(w.cfg)}

    monkeypatch.setenv("MSDIGEST_IMAP_PASSWORD", "wrong")
    failed = schedule.bounces_job(w.cfg.source)
    assert "the server said" in failed and USER in failed
    with Store.open(w.cfg.store_path) as store:
        last = store.runs.recent(1)[0]
        assert (last.job, last.outcome, last.started_by) == ("bounces", "error",
                                                             StartedBy.SCHEDULE)

    by_hand = w.cli("bounces", "check")
    env_bad = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", w.cfg.source,
                              "bounces", "check"], capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items()
                                  if not k.startswith("MSDIGEST_")})
    assert by_hand.returncode == 0
    assert env_bad.returncode == 1 and "MSDIGEST_IMAP_PASSWORD is not set" in env_bad.stderr
    assert "Traceback" not in env_bad.stderr


def test_a_server_whose_certificate_is_not_trusted_is_refused(
        make_config: Callable[..., Config], imap_server: ImapServer) -> None:
    cfg = make_config(bounces={"source": "imap", "host": imap_server.host,
                               "port": imap_server.port, "username": USER})
    done = World(cfg, None).cli("bounces", "check")  # type: ignore[arg-type]
    assert done.returncode == 1 and "certificate is not trusted" in done.stderr, done.stderr
    assert "[bounces] ca_file" in done.stderr and "Traceback" not in done.stderr


# --- a Maildir, and soft bounces ------------------------------------------------------------


def test_maildir_reports_move_to_the_processed_folder_and_soft_bounces_add_up(
        make_config: Callable[..., Config], smtp_server: SmtpServer, tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    w = world_of(make_config, smtp_server, {"source": "maildir", "maildir": "Maildir"},
                 bounce_after=2)
    # Ben was refused at sending once before (a 5xx): one issue that did not reach him
    with Store.open(w.cfg.store_path) as store:
        store.ledger.mark(Period(2026, 8), BEN, "failed", "<x@y>", "550 5.2.2 full",
                          permanent=True)
    full = {"reply": FULL, "status": "5.2.2"}
    box.add(report("postfix-bounce.eml", w.sent(ANA, SEPTEMBER), **full))
    box.add(report("postfix-bounce.eml", w.sent(BEN), **full))
    box.add(report("reply.eml", w.sent(ANA)))
    # a complaint that hides the recipient and drops the Message-ID: the signed token in
    # the quoted List-Unsubscribe still says who it was
    sent = w.sent(DEV)
    anonymous = report("arf-complaint.eml", sent, redacted=True).replace(
        f"Message-ID: {sent.message['Message-ID']}\n".encode(), b"")
    assert str(sent.message["Message-ID"]).encode() not in anonymous
    box.add(anonymous)
    done = w.cli("bounces", "check")
    assert done.returncode == 0, done.stderr
    assert w.status(ANA) == (SubscriberStatus.ACTIVE, "import")  # one soft bounce of two
    assert w.status(BEN) == (SubscriberStatus.BOUNCED, "bounce")  # refused once, soft once
    assert w.status(DEV) == (SubscriberStatus.UNSUBSCRIBED, "complaint")
    # the same issue soft-bouncing again is still one issue; another issue makes two
    box.add(report("exim-bounce.eml", w.sent(ANA, SEPTEMBER), reply=FULL))
    w.cli("bounces", "check")
    assert w.status(ANA) == (SubscriberStatus.ACTIVE, "import")
    box.add(report("gmail-bounce.eml", w.sent(ANA)).replace(b"Status: 5.1.1",
                                                            b"Status: 5.2.2"))
    w.cli("bounces", "check")
    assert w.status(ANA) == (SubscriberStatus.BOUNCED, "bounce")

    # the subscriber list uploaded again does not undo a complaint or a bounce
    with Store.open(w.cfg.store_path) as store:
        again = import_file(store, REPO / "subscribers.example.csv", w.cfg.theme_ids)
    assert set(again.kept_unsubscribed) >= {DEV, ANA, BEN}
    assert w.status(DEV) == (SubscriberStatus.UNSUBSCRIBED, "complaint")
    assert w.status(ANA) == (SubscriberStatus.BOUNCED, "bounce")

    processed = mailbox.Maildir(tmp_path / "Maildir" / f".{PROCESSED}", create=False)
    assert len(processed) == 5
    assert [b"yoga and balance" in box.get_bytes(key) for key in box.iterkeys()] == [True]
    with Store.open(w.cfg.store_path) as store:
        assert store.bounces.counts() == {"soft": 4, "complaint": 1}
