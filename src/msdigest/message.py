"""Message: one subscriber's MIME message from a rendered variant (pure, no I/O).

Two ways to the same message. `build` uses the standard library's EmailMessage for
one subscriber: obviously right, and slow (~5 ms). `Prepared` serializes a variant
once, with holes where the personal fields go, and fills them per subscriber with
a join of bytes (~0.05 ms). Tests decode messages from both and compare them.
"""

from __future__ import annotations

import binascii
import hashlib
import html
import re
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, parseaddr

from .model import Site, Subscriber
from .personal import FIELDS, PLACEHOLDER, Personal, greeting, personalize
from .render import Rendered
from .unsubscribe import Links

CRLF = b"\r\n"
SOFT_BREAK = b"=\r\n"  # a quoted-printable line break that decodes to nothing
_HOLE = re.compile("|".join(re.escape(PLACEHOLDER[f]) for f in FIELDS))
_FIELD_OF = {PLACEHOLDER[f]: f for f in FIELDS}


@dataclass(frozen=True)
class Sender:
    """Who the messages come from, worked out once per send from [site]."""

    header: str  # From:, as configured ("Name <address>")
    address: str  # the envelope sender (MAIL FROM)
    domain: str  # for Message-IDs and List-Id
    reply_to: str
    list_id: str

    @classmethod
    def of(cls, site: Site) -> Sender:
        address = parseaddr(site.sender)[1]
        domain = address.rpartition("@")[2] or "localhost"
        return cls(site.sender, address, domain, site.reply_to,
                   f"{site.name} <digest.{domain}>")

    def message_id(self, period: str, email: str, prefix: str = "") -> str:
        """Stable per issue and subscriber, so a resent copy is recognisably the same."""
        digest = hashlib.sha256(f"{period}\0{email.lower()}".encode()).hexdigest()[:20]
        return f"<{prefix}{period}.{digest}@{self.domain}>"

    def headers(self, subject: str, when: datetime) -> list[tuple[str, str]]:
        found = [("From", self.header)]
        if self.reply_to:
            found.append(("Reply-To", self.reply_to))
        return [*found, ("Subject", subject), ("Date", format_datetime(when)),
                ("List-Id", self.list_id)]


def list_unsubscribe(links: Links) -> str:
    value = f"<{links.unsubscribe}>"
    if links.mailto:
        value += f", <{links.mailto}>"
    return value


def line_endings(text: str) -> str:
    """One line ending, and a final one: what EmailMessage would store."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


def build(sender: Sender, rendered: Rendered, sub: Subscriber, links: Links, msgid: str,
          when: datetime, subject_prefix: str = "") -> EmailMessage:
    """One subscriber's message, built from scratch with the standard library."""
    page, text = personalize(rendered.html, rendered.text, Personal(
        greeting(sub.name), sub.email, links.unsubscribe, links.preferences))
    msg = EmailMessage(policy=SMTP)
    static = dict(sender.headers(subject_prefix + rendered.subject, when))
    msg["From"] = static["From"]
    msg["To"] = Address(display_name=sub.name, addr_spec=sub.email)
    if "Reply-To" in static:
        msg["Reply-To"] = static["Reply-To"]
    msg["Subject"] = static["Subject"]
    msg["Date"] = static["Date"]
    msg["Message-ID"] = msgid
    msg["List-Id"] = static["List-Id"]
    msg["List-Unsubscribe"] = list_unsubscribe(links)
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Precedence"] = "bulk"
    msg.set_content(line_endings(text), subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(line_endings(page), subtype="html", charset="utf-8",
                        cte="quoted-printable")
    return msg


def _qp(text: str) -> bytes:
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", CRLF)


def _split(body: str) -> tuple[tuple[bytes, ...], tuple[str, ...]]:
    """Static quoted-printable pieces, and the field that goes between each two."""
    pieces, fields, start = [], [], 0
    for m in _HOLE.finditer(body):
        pieces.append(_qp(body[start:m.start()]))
        fields.append(_FIELD_OF[m.group()])
        start = m.end()
    pieces.append(_qp(body[start:]))
    return tuple(pieces), tuple(fields)


@dataclass(frozen=True)
class Prepared:
    """A variant serialized once; `render` fills one subscriber's fields into it.

    Each personal value is quoted-printable encoded on its own and set between soft
    line breaks, so every line stays within 76 octets whatever the value's length.
    """

    head: bytes  # the static headers, CRLF-terminated
    mime: bytes  # MIME-Version and Content-Type, then the blank line
    text: tuple[tuple[bytes, ...], tuple[str, ...]]
    html: tuple[tuple[bytes, ...], tuple[str, ...]]
    boundary: bytes
    text_head: bytes  # each part's boundary line and headers
    html_head: bytes

    @classmethod
    def of(cls, sender: Sender, rendered: Rendered, when: datetime,
           subject_prefix: str = "") -> Prepared:
        headers = sender.headers(subject_prefix + rendered.subject, when)
        head = b"".join(SMTP.fold_binary(*SMTP.header_store_parse(k, v)) for k, v in headers)
        digest = hashlib.sha256(rendered.html.encode("utf-8")).hexdigest()[:24]
        boundary = f"=_msdigest_{digest}".encode()  # "=_" never occurs in QP text
        mime = (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nPrecedence: bulk\r\n"
                b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\""
                + boundary + b"\"\r\n\r\n")
        part = b"--" + boundary + CRLF + b"Content-Type: text/%s; charset=\"utf-8\"\r\n" \
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        return cls(head, mime, _split(line_endings(rendered.text)),
                   _split(line_endings(rendered.html)), boundary, part % b"plain", part % b"html")

    def render(self, sub: Subscriber, links: Links, msgid: str) -> bytes:
        values = {"GREETING": greeting(sub.name), "EMAIL": sub.email,
                  "UNSUBSCRIBE_URL": links.unsubscribe, "PREFERENCES_URL": links.preferences}
        to = formataddr((sub.name, sub.email), charset="utf-8") if sub.name else sub.email
        unsub = f"<{links.unsubscribe}>"
        if links.mailto:
            unsub += f",\r\n <{links.mailto}>"
        out = [self.head, b"To: ", to.encode("ascii"), CRLF,
               b"Message-ID: ", msgid.encode("ascii"), CRLF,
               b"List-Unsubscribe: ", unsub.encode("ascii"), CRLF, self.mime]
        for head, (pieces, fields), escape in ((self.text_head, self.text, False),
                                               (self.html_head, self.html, True)):
            out.append(head)
            out.append(pieces[0])
            for field, piece in zip(fields, pieces[1:], strict=True):
                value = values[field]
                out += [SOFT_BREAK, _qp(html.escape(value) if escape else value), SOFT_BREAK,
                        piece]
            out.append(CRLF)
        out += [b"--", self.boundary, b"--", CRLF]
        return b"".join(out)
