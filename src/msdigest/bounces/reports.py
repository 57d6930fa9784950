"""Reports mail servers send back to the envelope sender, read as the RFCs define them:
delivery status notifications (DSN, RFC 3464) and complaint feedback reports (ARF,
RFC 5965), each a multipart/report (RFC 6522). Pure: a message's bytes in, findings out.

A DSN's recipient fields say what happened to each recipient (Action, Status, Diagnostic-
Code); the returned message (or its headers) says which message it was: its Message-ID,
which the ledger knows. A complaint often hides the recipient, but quotes the original's
headers, whose List-Unsubscribe link carries the subscriber's signed token.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from email.utils import parseaddr
from enum import StrEnum
from urllib.parse import parse_qs, unquote, urlsplit

MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
COMPLAINTS = ("abuse", "fraud")  # RFC 5965 feedback types that mean "this is spam to me"


class Kind(StrEnum):
    HARD = "hard"  # the address takes no mail: stop sending to it
    SOFT = "soft"  # failed for now (mailbox full, a policy...): counts toward bounce_after
    DELAYED = "delayed"  # the relay is still trying: nothing to do yet
    COMPLAINT = "complaint"  # the recipient reported the digest as spam: unsubscribe them


@dataclass(frozen=True)
class Finding:
    kind: Kind
    recipient: str  # as the report names it ("" when a complaint hides it)
    status: str  # the enhanced status code, e.g. 5.1.1 ("" for a complaint)
    reason: str  # the server's words, or the feedback type


@dataclass(frozen=True)
class Report:
    kind: str  # "dsn", "arf", or "" when the message is not a report (a person's reply)
    findings: tuple[Finding, ...]
    message_ids: tuple[str, ...]  # of the message it reports on
    tokens: tuple[str, ...]  # signed unsubscribe tokens in that message's headers
    subject: str


def _text(value: object) -> str:
    return " ".join(str(value or "").split())


def _address(field: str) -> str:
    """"rfc822; ana@example.org" → ana@example.org (other address types: as given)."""
    kind, _, value = field.partition(";")
    value = (value if value else kind).strip().strip("<>").strip()
    return value


def classify(action: str, status: str, diagnostic: str) -> tuple[Kind | None, str]:
    """(kind, effective status) of one recipient's fields; None when it was delivered.

    RFC 3463: class 5 is permanent; its subject says whose problem it is. Addressing
    (X.1.x: no such user, no such domain) and a disabled mailbox (X.2.1) are the
    address's: hard. A full mailbox, the message's size or content, a policy, the network
    are not the address's for good: soft. Exim reports everything as 5.0.0 and puts the
    remote server's own code in Diagnostic-Code, which is read when Status says nothing
    more."""
    action = action.lower()
    if action in ("delivered", "relayed", "expanded"):
        return None, status
    if action == "delayed":
        return Kind.DELAYED, status
    code = ENHANCED.search(status)
    better = ENHANCED.search(diagnostic)
    if better and (code is None or code.group(2, 3) == ("0", "0")):
        code = better
    if code is None:
        return (Kind.HARD if re.match(r"\s*5\d\d", diagnostic) else Kind.SOFT), status
    effective = ".".join(code.groups())
    klass, subject, detail = code.groups()
    if klass != "5":
        return Kind.SOFT, effective
    if subject in ("0", "1") or (subject, detail) == ("2", "1"):
        return Kind.HARD, effective
    return Kind.SOFT, effective


def _parts(msg: Message) -> list[Message]:
    """A multipart's parts, or a message/* part's header blocks, as messages."""
    payload = msg.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _original(part: Message) -> Message | None:
    """The reported message, whole (message/rfc822) or its headers (text/rfc822-headers)."""
    kind = part.get_content_type()
    if kind in ("message/rfc822", "message/global"):
        return next(iter(_parts(part)), None)
    if kind in ("text/rfc822-headers", "message/global-headers"):
        raw = part.get_payload(decode=True)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return HeaderParser().parsestr(text.lstrip())
    return None


def _tokens(original: Message | None) -> tuple[str, ...]:
    if original is None:
        return ()
    found = []
    for url in re.findall(r"<([^<>]+)>", _text(original.get("List-Unsubscribe", ""))):
        parts = urlsplit(url)
        if parts.scheme == "https":
            found += parse_qs(parts.query).get("t", [])
        elif parts.scheme == "mailto":  # ?subject=unsubscribe TOKEN
            subject = unquote(parse_qs(parts.query).get("subject", [""])[0])
            found += subject.split()[1:2]
    return tuple(found)


def read(raw: bytes) -> Report:
    msg = email.message_from_bytes(raw)
    subject = _text(msg.get("Subject", ""))
    report = next((p for p in msg.walk() if p.get_content_type() == "multipart/report"), None)
    if report is None:
        return Report("", (), (), (), subject)
    ids = MESSAGE_ID.findall(f"{msg.get('In-Reply-To', '')} {msg.get('References', '')}")
    original: Message | None = None
    fields: list[Message] = []
    feedback: Message | None = None
    for part in _parts(report):
        kind = part.get_content_type()
        if kind in ("message/delivery-status", "message/global-delivery-status"):
            fields += _parts(part)
        elif kind == "message/feedback-report":
            feedback = next(iter(_parts(part)), None)
        elif original is None:
            original = _original(part)
    if original is not None:
        ids = MESSAGE_ID.findall(_text(original.get("Message-ID", ""))) + ids
    findings: list[Finding] = []
    if feedback is not None:
        kind_of = _text(feedback.get("Feedback-Type", "")).lower()
        recipient = _address(_text(feedback.get("Original-Rcpt-To", "")))
        if not recipient and original is not None:
            recipient = parseaddr(_text(original.get("To", "")))[1]
        if kind_of in COMPLAINTS:
            findings.append(Finding(Kind.COMPLAINT, recipient, "", f"complaint ({kind_of})"))
        return Report("arf", tuple(findings), tuple(dict.fromkeys(ids)), _tokens(original),
                      subject)
    for block in fields:
        ids += MESSAGE_ID.findall(_text(block.get("X-Original-Message-ID", "")))
        final = _text(block.get("Original-Recipient") or block.get("Final-Recipient") or "")
        if not final and not block.get("Action"):
            continue  # the per-message fields (Reporting-MTA, Arrival-Date...)
        diagnostic = _text(block.get("Diagnostic-Code", "")).partition(";")[2].strip() or \
            _text(block.get("Diagnostic-Code", ""))
        found, status = classify(_text(block.get("Action", "")),
                                 _text(block.get("Status", "")), diagnostic)
        if found is not None:
            findings.append(Finding(found, _address(final), status, diagnostic or status))
    return Report("dsn", tuple(findings), tuple(dict.fromkeys(ids)), _tokens(original),
                  subject)
