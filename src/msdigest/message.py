"""Message: one subscriber's MIME message from a rendered variant (pure, no I/O)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from .config import Config
from .model import Subscriber
from .render import Personal, Rendered, greeting, personalize
from .unsubscribe import Links


def sender_domain(cfg: Config) -> str:
    return parseaddr(cfg.site.sender)[1].rpartition("@")[2] or "localhost"


def message_id(cfg: Config, period: str, email: str, prefix: str = "") -> str:
    """Stable per issue and subscriber, so a resent copy is recognisably the same."""
    digest = hashlib.sha256(f"{period}\0{email.lower()}".encode()).hexdigest()[:20]
    return f"<{prefix}{period}.{digest}@{sender_domain(cfg)}>"


def list_id(cfg: Config) -> str:
    return f"{cfg.site.name} <digest.{sender_domain(cfg)}>"


def recipient(sub: Subscriber) -> Address:
    return Address(display_name=sub.name, addr_spec=sub.email)


def build(cfg: Config, rendered: Rendered, sub: Subscriber, links: Links, period: str,
          when: datetime, subject_prefix: str = "", msgid: str | None = None) -> EmailMessage:
    html, text = personalize(rendered, Personal(greeting(sub.name), sub.email,
                                                links.unsubscribe, links.preferences))
    msg = EmailMessage(policy=SMTP)
    msg["From"] = cfg.site.sender
    msg["To"] = recipient(sub)
    if cfg.site.reply_to:
        msg["Reply-To"] = cfg.site.reply_to
    msg["Subject"] = subject_prefix + rendered.subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = msgid or message_id(cfg, period, sub.email)
    msg["List-Id"] = list_id(cfg)
    unsub = f"<{links.unsubscribe}>"
    if links.mailto:
        unsub += f", <{links.mailto}>"
    msg["List-Unsubscribe"] = unsub
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Precedence"] = "bulk"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg
