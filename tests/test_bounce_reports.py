"""Reading what comes back: DSNs (RFC 3464) as Postfix, Exim and Gmail write them, and an
ARF complaint (RFC 5965), each about a message these tests really sent over SMTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from msdigest.bounces.reports import Kind, classify, read
from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.delivery.send import send
from msdigest.period import Period
from msdigest.store import Store
from msdigest.subscribers import import_file
from msdigest.unsubscribe import read_token

from .conftest import REPO, SECRET, Received, SmtpServer
from .mailserver import FULL, report

ANA = "ana.silva@example.org"


@pytest.fixture
def sent(make_config: Callable[..., Config], smtp_server: SmtpServer) -> Received:
    cfg = make_config(smtp=smtp_server)
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
        send(store, cfg, Period(2026, 10), SECRET)
    return smtp_server.handler.to(ANA)[0]


@pytest.mark.parametrize("name", ["postfix-bounce.eml", "exim-bounce.eml", "gmail-bounce.eml"])
def test_a_hard_bounce_names_the_recipient_the_status_and_our_message_id(
        sent: Received, name: str) -> None:
    found = read(report(name, sent))
    assert found.kind == "dsn"
    [finding] = found.findings
    assert (finding.kind, finding.recipient, finding.status) == (Kind.HARD, ANA, "5.1.1")
    assert sent.message["Message-ID"] in found.message_ids
    assert "5.1.1" in finding.reason and "\n" not in finding.reason


def test_exims_5_0_0_is_read_from_the_remote_servers_own_code(sent: Received) -> None:
    soft = read(report("exim-bounce.eml", sent, reply=FULL)).findings[0]
    assert (soft.kind, soft.status) == (Kind.SOFT, "5.2.2")
    vague = read(report("exim-bounce.eml", sent, reply="550 rejected")).findings[0]
    assert (vague.kind, vague.status) == (Kind.HARD, "5.0.0")  # permanent, nothing finer


def test_a_full_mailbox_is_soft_and_a_delay_is_only_a_delay(sent: Received) -> None:
    full = read(report("postfix-bounce.eml", sent, reply=FULL, status="5.2.2")).findings[0]
    assert (full.kind, full.status) == (Kind.SOFT, "5.2.2")
    [delayed] = read(report("postfix-delayed.eml", sent)).findings
    assert (delayed.kind, delayed.status, delayed.recipient) == (Kind.DELAYED, "4.4.1", ANA)


def test_a_complaint_names_the_recipient_or_carries_their_signed_token(sent: Received) -> None:
    said = read(report("arf-complaint.eml", sent))
    assert said.kind == "arf" and sent.message["Message-ID"] in said.message_ids
    assert [(f.kind, f.recipient) for f in said.findings] == [(Kind.COMPLAINT, ANA)]
    hidden = read(report("arf-complaint.eml", sent, redacted=True))
    assert [(f.kind, f.recipient) for f in hidden.findings] == [
        (Kind.COMPLAINT, "redacted@example-isp.net")]
    assert hidden.tokens and {read_token(SECRET, t) for t in hidden.tokens} == {ANA}


def test_a_persons_reply_is_not_a_report(sent: Received) -> None:
    found = read(report("reply.eml", sent))
    assert (found.kind, found.findings) == ("", ())


@pytest.mark.parametrize(("action", "status", "diagnostic", "kind"), [
    ("failed", "5.1.1", "", Kind.HARD),  # no such user
    ("failed", "5.1.2", "", Kind.HARD),  # no such domain
    ("failed", "5.2.1", "", Kind.HARD),  # mailbox disabled
    ("failed", "5.2.2", "", Kind.SOFT),  # mailbox full
    ("failed", "5.7.1", "550 5.7.1 blocked as spam", Kind.SOFT),  # a policy, not the address
    ("failed", "5.4.7", "", Kind.SOFT),  # delivery time expired
    ("failed", "4.4.1", "", Kind.SOFT),  # given up after temporary failures
    ("failed", "", "550 no such user", Kind.HARD),
    ("delayed", "4.4.1", "", Kind.DELAYED),
    ("delivered", "2.0.0", "", None),
    ("relayed", "2.0.0", "", None),
])
def test_status_codes_decide_hard_or_soft(action: str, status: str, diagnostic: str,
                                          kind: Kind | None) -> None:
    assert classify(action, status, diagnostic)[0] is kind
