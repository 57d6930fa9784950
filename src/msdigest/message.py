"""Message: one subscriber's MIME message from a rendered variant (pure, no I/O).

Two ways to the same message. `build` uses the standard library's EmailMessage for
one subscriber: obviously right, and slow (~5 ms). `Prepared` serializes an issue's
pieces once (msdigest.pieces), assembles a variant as a list of those bytes with holes
where the personal fields go, and fills them per subscriber with a join of bytes.
Tests decode messages from both and compare them.
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
from functools import lru_cache

from markupsafe import escape

from .model import Site, Subscriber
from .personal import FIELDS, PLACEHOLDER, Personal, greeting, personalize
from .pieces import Pieces, Segment
from .render import Rendered, fill_text
from .templates import DEFERRED_WRAP, VARIANT, VARIANT_FIELDS, fill_variant
from .unsubscribe import Links

CRLF = b"\r\n"
SOFT_BREAK = b"=\r\n"  # a quoted-printable line break that decodes to nothing
_FIELD_OF = {PLACEHOLDER[f]: f for f in FIELDS}


class Undotted(bytes):
    """A message in which no line starts with a dot: SMTP sends it without looking
    (a search for one costs 40 µs on a 40 KB message, more than the rest of the splice)."""


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
    """Quoted-printable with CRLF, every line within 76 octets (binascii can exceed it by
    an encoded trailing space) and the last within 75, to take a soft break after it, and
    no line that starts with a dot ("=2E" instead), so SMTP has nothing to dot-stuff."""
    out = binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", CRLF)
    lines = out.split(CRLF)
    if len(lines[-1]) > 75 or out.startswith(b".") or b"\n." in out or \
            max(map(len, lines)) > 76:
        out = CRLF.join(b"\r\n".join(_tidy(line, i == len(lines) - 1))
                        for i, line in enumerate(lines))
    return out


def _tidy(line: bytes, last: bool) -> list[bytes]:
    """One encoded line as lines short enough, none starting with a dot; never cut
    inside an =XX escape."""
    found = []
    while True:
        if line.startswith(b"."):
            line = b"=2E" + line[1:]
        if len(line) <= (75 if last else 76):
            found.append(line)
            return found
        cut = 75
        while b"=" in line[cut - 2:cut]:
            cut -= 1
        found.append(line[:cut] + b"=")
        line = line[cut:]


def _encoded(text: str) -> bytes:
    """A piece of a body on its own lines: followed by a soft break, which decodes to
    nothing, so that pieces and values join in any order."""
    return _qp(text) + SOFT_BREAK if text else b""


_HOLES = re.compile("|".join([*(re.escape(PLACEHOLDER[f]) for f in FIELDS),
                              *(re.escape(VARIANT[f]) for f in VARIANT_FIELDS),
                              DEFERRED_WRAP.pattern]))
_VARIANT_OF = {VARIANT[f]: f for f in VARIANT_FIELDS}
Chunk = bytes | str | tuple[str, ...]  # encoded | a personal field | deferred variant text


def _chunks(segments: tuple[Segment, ...], html_part: bool
            ) -> tuple[tuple[str, Chunk], ...]:
    """Each segment's static text encoded once; the holes left as what fills them."""
    found: list[tuple[str, Chunk]] = []
    for seg in segments:
        text, start = seg.text.replace("\r\n", "\n").replace("\r", "\n"), 0
        if seg is segments[-1] and not text.endswith("\n"):
            text += "\n"  # what EmailMessage would store: a final line ending
        for m in _HOLES.finditer(text):
            found.append((seg.owner, _encoded(text[start:m.start()])))
            hole = m.group()
            where = "html" if html_part else "text"
            found.append((seg.owner, _FIELD_OF.get(hole, (where, hole))))
            start = m.end()
        found.append((seg.owner, _encoded(text[start:])))
    return tuple((owner, c) for owner, c in found if c)


@lru_cache(maxsize=64)
def _head(sender: Sender, subject: str, when: datetime) -> bytes:
    """From to List-Id, folded as EmailMessage would (a few subjects per issue)."""
    return b"".join(SMTP.fold_binary(*SMTP.header_store_parse(k, v))
                    for k, v in sender.headers(subject, when))


@dataclass(frozen=True)
class Plan:
    """One variant's message, but for one subscriber: `parts` with None where a header or
    a personal field goes (`slots`: index, field, whether in HTML)."""

    parts: tuple[bytes | None, ...]
    slots: tuple[tuple[int, str, bool], ...]


@dataclass(frozen=True)
class Prepared:
    """An issue's pieces of one shape, serialized once; `plan` assembles a variant and
    `render` splices one subscriber's fields into it.

    Every piece and each personal value is quoted-printable encoded on its own and ends
    with a soft line break, so every line stays within 76 octets whatever the values.
    """

    sender: Sender
    when: datetime
    subject_prefix: str
    boundary: bytes
    text: tuple[tuple[str, Chunk], ...]
    html: tuple[tuple[str, Chunk], ...]

    @classmethod
    def of(cls, sender: Sender, pieces: Pieces, when: datetime, subject_prefix: str = ""
           ) -> Prepared:
        digest = hashlib.sha256("".join(s.text for s in pieces.html).encode()).hexdigest()[:24]
        return cls(sender, when, subject_prefix,
                   f"=_msdigest_{digest}".encode(),  # "=_" never occurs in QP text
                   _chunks(pieces.text, False), _chunks(pieces.html, True))

    def plan(self, chosen: frozenset[str], values: dict[str, str]) -> Plan:
        head = _head(self.sender, self.subject_prefix + values["SUBJECT"], self.when)
        escaped = {k: str(escape(v)) for k, v in values.items()}
        parts: list[bytes | None] = [head, None, self.mime() + self.boundary_line(b"plain")]
        slots = [(1, "HEADERS", False)]
        for chunks, in_html in ((self.text, False), (self.html, True)):
            for owner, chunk in chunks:
                if owner and owner not in chosen:
                    continue
                if isinstance(chunk, bytes):
                    parts.append(chunk)
                elif isinstance(chunk, str):
                    slots.append((len(parts), chunk, in_html))
                    parts.append(None)
                else:
                    filled = fill_text(chunk[1], values) if chunk[0] == "text" else \
                        fill_variant(chunk[1], escaped)
                    parts.append(_encoded(filled))
            parts.append(CRLF + (self.boundary_line(b"html") if not in_html else
                                 b"--" + self.boundary + b"--" + CRLF))
        return Plan(tuple(parts), tuple(slots))

    def boundary_line(self, subtype: bytes) -> bytes:
        return (b"--" + self.boundary + CRLF + b"Content-Type: text/" + subtype +
                b"; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")

    def mime(self) -> bytes:
        return (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nPrecedence: bulk\r\n"
                b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\""
                + self.boundary + b"\"\r\n\r\n")

    def render(self, plan: Plan, sub: Subscriber, links: Links, msgid: str) -> bytes:
        values = {"GREETING": greeting(sub.name), "EMAIL": sub.email,
                  "UNSUBSCRIBE_URL": links.unsubscribe, "PREFERENCES_URL": links.preferences}
        to = formataddr((sub.name, sub.email), charset="utf-8") if sub.name else sub.email
        unsub = f"<{links.unsubscribe}>"
        if links.mailto:
            unsub += f",\r\n <{links.mailto}>"
        out = list(plan.parts)
        for i, field, in_html in plan.slots:
            if field == "HEADERS":
                out[i] = b"".join((b"To: ", to.encode("ascii"), CRLF, b"Message-ID: ",
                                   msgid.encode("ascii"), CRLF, b"List-Unsubscribe: ",
                                   unsub.encode("ascii"), CRLF))
            else:
                value = values[field]
                out[i] = _encoded(html.escape(value) if in_html else value)
        return Undotted(b"".join(out))  # type: ignore[arg-type]  # every None is filled
