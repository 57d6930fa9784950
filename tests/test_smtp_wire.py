"""The SMTP wire against a real aiosmtpd server: MAIL, RCPT and DATA in one write when
the server offers PIPELINING (RFC 2920), a round trip each when it does not, and the
same failure kinds either way (a refused recipient or sender, a reply that never came)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiosmtpd.smtp import Envelope

from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.delivery.send import send
from msdigest.delivery.smtp import SmtpTransport
from msdigest.delivery.transport import PermanentFailure, TemporaryFailure
from msdigest.model import Subscriber, SubscriberStatus
from msdigest.period import Period
from msdigest.store import Store

from .conftest import SECRET, SmtpHandler, SmtpServer, start_smtp

SENDER = "digest@summaries.example.org"
MESSAGE = (b"From: digest@summaries.example.org\r\nSubject: t\r\n\r\nHello\r\n.starts with a "
           b"dot\r\n..two dots\r\n.\r\nend\r\n")


@dataclass
class PipeliningHandler(SmtpHandler):
    """aiosmtpd reads pipelined commands in order; this one also says it does."""

    pipelining: bool = True
    refuse_sender: int = 0  # refuse MAIL FROM this many times

    async def handle_EHLO(self, server: Any, session: Any, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining \
            else responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if self.refuse_sender:
            self.refuse_sender -= 1
            return "553 5.7.1 Sender not allowed"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"


@pytest.fixture(params=[True, False], ids=["pipelining", "no-pipelining"])
def server(request: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    running = start_smtp(PipeliningHandler(pipelining=request.param))
    yield running
    running.stop()


@pytest.fixture
def transport(server: SmtpServer, make_config: Callable[..., Config]) -> Iterator[SmtpTransport]:
    t = SmtpTransport(make_config(smtp=server).smtp)
    t.open()
    yield t
    t.close()


def handler(server: SmtpServer) -> PipeliningHandler:
    assert isinstance(server.handler, PipeliningHandler)
    return server.handler


def test_pipelining_is_used_only_when_the_server_offers_it(
        server: SmtpServer, transport: SmtpTransport) -> None:
    assert transport.pipelining is handler(server).pipelining
    for i in range(3):
        transport.send(SENDER, f"reader{i}@example.org", MESSAGE)
    got = server.handler.received
    assert [r.recipients for r in got] == [[f"reader{i}@example.org"] for i in range(3)]
    assert all(r.data == MESSAGE for r in got)  # dots stuffed on the wire, unstuffed there


def test_a_refused_recipient_fails_that_message_and_the_connection_goes_on(
        server: SmtpServer, transport: SmtpTransport) -> None:
    server.handler.refuse = {"gone@example.org": "550 5.1.1 No such user here",
                             "full@example.org": "452 4.2.2 Mailbox full"}
    conn = transport.conn
    with pytest.raises(PermanentFailure, match=re.escape("550 5.1.1 No such user here")):
        transport.send(SENDER, "gone@example.org", MESSAGE)
    with pytest.raises(TemporaryFailure, match=re.escape("452 4.2.2 Mailbox full")) as temporary:
        transport.send(SENDER, "full@example.org", MESSAGE)
    assert not temporary.value.maybe_delivered
    transport.send(SENDER, "next@example.org", MESSAGE)
    assert transport.conn is conn  # the replies to RCPT and DATA were all read: in step
    assert [r.recipients for r in server.handler.received] == [["next@example.org"]]


def test_a_refused_sender_fails_that_message_and_the_connection_goes_on(
        server: SmtpServer, transport: SmtpTransport) -> None:
    handler(server).refuse_sender = 1
    with pytest.raises(PermanentFailure, match=re.escape("553 5.7.1 Sender not allowed")):
        transport.send(SENDER, "first@example.org", MESSAGE)
    transport.send(SENDER, "second@example.org", MESSAGE)
    assert [r.recipients for r in server.handler.received] == [["second@example.org"]]


def test_a_reply_to_the_final_dot_that_never_comes_may_have_delivered(
        server: SmtpServer, transport: SmtpTransport) -> None:
    async def cut(server_: Any, session: Any, envelope: Envelope) -> str:
        server_.transport.close()  # the line dies after the whole message arrived
        return "250 never seen by the client"

    server.handler.handle_DATA = cut  # type: ignore[method-assign]
    transport.close()  # aiosmtpd looks its hooks up when a connection starts
    transport.open()
    with pytest.raises(TemporaryFailure, match="after the message was sent") as lost:
        transport.send(SENDER, "reader@example.org", MESSAGE)
    assert lost.value.maybe_delivered
    assert transport.conn is None  # the next send connects again


def test_a_refusal_at_data_is_read_in_step(server: SmtpServer, transport: SmtpTransport
                                           ) -> None:
    server.handler.data_reply = lambda envelope: (
        "554 5.7.1 Message rejected" if "spam@example.org" in envelope.rcpt_tos else None)
    with pytest.raises(PermanentFailure, match=re.escape("554 5.7.1 Message rejected")):
        transport.send(SENDER, "spam@example.org", MESSAGE)
    transport.send(SENDER, "fine@example.org", MESSAGE)
    assert [r.recipients for r in server.handler.received] == [["fine@example.org"]]


def test_a_send_over_pipelining_delivers_everyone_once_and_records_a_refusal(
        make_config: Callable[..., Config]) -> None:
    running = start_smtp(PipeliningHandler(refuse={"gone@example.org": "550 5.1.1 No such"}))
    try:
        cfg = make_config(smtp=running, smtp_extra={"concurrency": 3})
        period = Period(2026, 10)
        with Store.open(cfg.store_path) as store:
            collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
            emails = [f"reader{i:02d}@example.org" for i in range(30)] + ["gone@example.org"]
            for email in emails:
                store.subscribers.put(Subscriber(email, "", (), SubscriberStatus.ACTIVE), "t")
            report = send(store, cfg, period, SECRET)
            assert (report.sent, report.failed) == (30, 1)
            got = sorted(r.recipients[0] for r in running.handler.received)
            assert got == sorted(emails[:-1])
            row = store.ledger.get(period, "gone@example.org")
            assert row is not None and row.reason == "550 5.1.1 No such"
    finally:
        running.stop()
