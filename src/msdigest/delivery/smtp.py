"""The SMTP transport: one connection, its wire protocol, and replies mapped to failures.

4xx replies, a dropped connection or a timeout are temporary; 5xx replies permanent;
a server that cannot be reached is unavailable; a refused login or a failed TLS
handshake is a setting to fix (DeliveryError), which no retry would change.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl

from ..config import Smtp
from ..errors import DeliveryError
from ..message import Undotted
from .transport import PermanentFailure, ServerUnavailable, TemporaryFailure

_LEADING_DOT = re.compile(rb"(?m)^\.")


class ReplyLost(smtplib.SMTPServerDisconnected):
    """The whole message was sent but the server's reply never came."""


def code_reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}"


def _envelope(conn: smtplib.SMTP, sender: str, to: str, pipelining: bool) -> None:
    """MAIL, RCPT and DATA: one write and three replies when the server offers
    PIPELINING (RFC 2920), else a round trip each. Raises like smtplib.sendmail."""
    if not pipelining:
        code, reply = conn.docmd("mail", f"FROM:<{sender}>")
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        code, reply = conn.docmd("rcpt", f"TO:<{to}>")
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({to: (code, reply)})
        code, reply = conn.docmd("data")
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        return
    conn.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{to}>\r\nDATA\r\n".encode("ascii"))
    mail, rcpt, data = conn.getreply(), conn.getreply(), conn.getreply()
    refused: smtplib.SMTPException | None = None
    if mail[0] != 250:
        refused = smtplib.SMTPSenderRefused(mail[0], mail[1], sender)
    elif rcpt[0] not in (250, 251):
        refused = smtplib.SMTPRecipientsRefused({to: rcpt})
    elif data[0] != 354:
        refused = smtplib.SMTPDataError(*data)
    if refused is not None:
        if data[0] == 354:  # DATA went through all the same: end it with an empty message
            conn.send(b".\r\n")
            conn.getreply()
        raise refused


def transaction(conn: smtplib.SMTP, sender: str, to: str, data: bytes,
                data_timeout: float | None = None, pipelining: bool = False) -> None:
    """MAIL, RCPT, DATA for one recipient, raising smtplib's exceptions like sendmail.

    Unlike `smtplib.sendmail` it does not parse the (already validated) addresses again
    or run a regex over every message: `data` must be CRLF-terminated lines (ours are),
    and dots are stuffed only when some line starts with one (never in Undotted bytes).
    The message and its final dot go in one write. The reply to the final dot may take
    `data_timeout` (RFC 5321 4.5.3.2.6: servers scan mail before they answer).
    """
    _envelope(conn, sender, to, pipelining)
    if not isinstance(data, Undotted) and (data.startswith(b".") or b"\n." in data):
        data = _LEADING_DOT.sub(b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    sock, timeout = conn.sock, conn.timeout
    if sock is None:
        raise smtplib.SMTPServerDisconnected("connection closed")
    try:
        sock.sendall(data + b".\r\n")
    except OSError as exc:
        raise smtplib.SMTPServerDisconnected(str(exc)) from None
    try:
        if data_timeout:
            sock.settimeout(data_timeout)
        code, reply = conn.getreply()
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise ReplyLost(str(exc) or "connection closed") from None
    finally:
        if data_timeout and conn.sock is sock:
            sock.settimeout(timeout)
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


class SmtpTransport:
    """One SMTP connection, opened on demand, renewed after `reconnect_after` messages."""

    def __init__(self, settings: Smtp) -> None:
        self.settings = settings
        self.conn: smtplib.SMTP | None = None
        self.sent_on_conn = 0
        self.pipelining = False  # the server offers it (RFC 2920)

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file or None)

    def _connect(self) -> smtplib.SMTP:
        c = self.settings
        try:
            if c.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout,
                                                      context=self._context())
            else:
                conn = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            conn.ehlo()
            if c.security == "starttls":
                conn.starttls(context=self._context())
                conn.ehlo()
            if c.username:
                conn.login(c.username, c.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP {c.host}:{c.port} refused the login for {c.username!r}: "
                                f"{code_reply(exc.smtp_code, exc.smtp_error)} (check "
                                "[smtp] username and MSDIGEST_SMTP_PASSWORD)") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP {c.host}:{c.port}: {exc} (check [smtp] security)"
                                ) from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"SMTP {c.host}:{c.port}: TLS failed: {exc}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerUnavailable(f"cannot connect to SMTP {c.host}:{c.port}: {exc}") from None
        return conn

    def open(self) -> None:
        if self.conn is not None and self.sent_on_conn >= self.settings.reconnect_after:
            self.close()
        if self.conn is None:
            self.conn, self.sent_on_conn = self._connect(), 0
            self.pipelining = self.conn.has_extn("pipelining")

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (OSError, smtplib.SMTPException):
                self.conn.close()
            self.conn = None

    def send(self, envelope_from: str, rcpt: str, data: bytes) -> None:
        conn = self.conn
        if conn is None:  # the contract: open() first; failures here are only 4xx/5xx
            raise TemporaryFailure("not connected (open the transport first)")
        try:
            transaction(conn, envelope_from, rcpt, data, self.settings.data_timeout,
                        self.pipelining)
            self.sent_on_conn += 1
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(rcpt, (550, b"recipient refused"))
            self._reset(conn)
            raise (PermanentFailure if code >= 500 else TemporaryFailure)(
                code_reply(code, reply)) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            self._reset(conn)
            raise (PermanentFailure if exc.smtp_code >= 500 else TemporaryFailure)(
                code_reply(exc.smtp_code, exc.smtp_error)) from None
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException, OSError) as exc:
            self.conn = None
            with contextlib.suppress(OSError):
                conn.close()
            lost = isinstance(exc, ReplyLost)
            raise TemporaryFailure(
                f"connection lost{' after the message was sent' if lost else ''}: "
                f"{exc or type(exc).__name__}", maybe_delivered=lost) from None

    def _reset(self, conn: smtplib.SMTP) -> None:
        if getattr(conn, "sock", None) is None:  # the server hung up with its reply
            self.conn = None
            return
        try:
            conn.rset()
        except (OSError, smtplib.SMTPException):
            self.conn = None
            with contextlib.suppress(OSError):
                conn.close()
