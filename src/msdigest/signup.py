"""Joining by oneself: the sign-up form, double opt-in, and consent kept.

A sign-up is only a request until the link in its confirmation email is followed and
its button pressed (mail scanners follow links, so the link itself changes nothing).
The form answers the same page whether or not the address is known, so it reveals
nobody; a hidden field that people never fill in catches scripts; an address gets at
most one confirmation email per `[subscribe] per_address_hours`, a network address
`per_ip_per_hour` sign-ups.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from .addresses import AddressError, normalize
from .clock import iso
from .config import Config
from .delivery.smtp import SmtpTransport
from .delivery.transport import PermanentFailure, ServerUnavailable, TemporaryFailure
from .errors import MsdigestError, Refused, TokenError
from .message import Sender
from .model import Subscriber, SubscriberStatus
from .records import Signup
from .render import inline_css
from .store import Store
from .subscribers import plain_name
from .templates import pages

log = logging.getLogger(__name__)
PURPOSE = "confirm"


class TooMany(Refused):
    """Too many sign-ups from one network address."""


class NotSent(MsdigestError):
    """The confirmation email could not go out now."""


@dataclass(frozen=True)
class Request:
    email: str
    name: str
    themes: tuple[str, ...]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, email: str, at: str) -> str:
    digest = hmac.new(secret, f"{PURPOSE}\0{email}\0{at}".encode(), hashlib.sha256).digest()
    return _b64(digest[:18])


def token(secret: bytes, signup: Signup) -> str:
    at = iso(signup.requested_at)
    return f"{_b64(signup.email.encode())}.{_b64(at.encode())}.{_mac(secret, signup.email, at)}"


def read(store: Store, cfg: Config, secret: bytes, text: str, now: datetime) -> Signup:
    """The pending sign-up a confirmation link is for; TokenError if it is not one."""
    try:
        email_b, at_b, mac = text.split(".")
        email, at = _unb64(email_b).decode(), _unb64(at_b).decode()
    except (ValueError, UnicodeDecodeError):
        raise TokenError("this confirmation link is not complete") from None
    if not hmac.compare_digest(mac, _mac(secret, email, at)):
        raise TokenError("this confirmation link is not valid (it may have been altered)")
    found = store.signups.get(email)
    if found is None or iso(found.requested_at) != at:
        raise TokenError("this confirmation link has been used, replaced by a newer one, or "
                         "has expired; sign up again to get a new one")
    if now - found.requested_at > timedelta(hours=cfg.subscribe.confirm_hours):
        store.signups.done(email)
        raise TokenError(f"this confirmation link has expired (it worked for "
                         f"{cfg.subscribe.confirm_hours:g} hours); sign up again")
    return found


def check(cfg: Config, email: str, name: str, themes: list[str]) -> Request:
    """The form's fields, cleaned; AddressError (said next to the field) for a bad address.
    Unknown theme ids are dropped, never stored; none chosen means every theme."""
    chosen = tuple(t for t in cfg.theme_ids if t in set(themes))
    everything = not chosen or set(chosen) == set(cfg.theme_ids)
    return Request(normalize(email[:320]), plain_name(name)[:200], () if everything else chosen)


def sign_up(store: Store, cfg: Config, secret: bytes, request: Request, network: str,
            now: datetime) -> bool:
    """Record the sign-up and mail its confirmation; False when nothing was sent (the
    address had one recently). TooMany from one network; NotSent if mail is down."""
    store.signups.expire(now - timedelta(hours=cfg.subscribe.confirm_hours))
    ip = hashlib.sha256(network.encode()).hexdigest()[:24]  # the address itself is not kept
    if not store.signups.allow(f"signup-ip:{ip}", cfg.subscribe.per_ip_per_hour, 3600, now):
        raise TooMany("too many sign-ups from your network in the last hour; try later")
    window = cfg.subscribe.per_address_hours * 3600
    if not store.signups.allow(f"signup-address:{request.email}", 1, window, now):
        return False  # one confirmation per address per window: the first still works
    version = store.signups.consent(cfg.subscribe.consent_text)
    pending = store.signups.request(request.email, request.name, request.themes, version)
    try:
        mail(cfg, pending, token(secret, pending))
    except NotSent:  # nothing went out: the next try may send one
        store.signups.done(request.email)
        store.signups.forget(f"signup-address:{request.email}")
        raise
    return True


def confirm(store: Store, cfg: Config, secret: bytes, text: str, now: datetime) -> Subscriber:
    """The button on the confirmation page: the subscriber, active, with their themes."""
    pending = read(store, cfg, secret, text, now)
    with store.transaction():
        old = store.subscribers.get(pending.email)
        sub = Subscriber(pending.email, pending.name or (old.name if old else ""),
                         pending.themes, SubscriberStatus.ACTIVE)
        store.subscribers.replace(old, sub, "form", pending.consent_version, confirmed=True)
        store.subscribers.event(pending.email, "confirmed", f"consent {pending.consent_version}",
                                "form")
        store.signups.done(pending.email)
        store.signups.unsuppress(pending.email)  # they asked for it again, themselves
    return sub


def mail(cfg: Config, pending: Signup, link_token: str) -> None:
    url = f"{cfg.unsubscribe.base_url}/confirm?t={link_token}"
    titles = [t.title for t in cfg.themes if t.id in pending.themes]
    context = {"site": cfg.site, "confirm_url": url, "themes": titles,
               "hours": f"{cfg.subscribe.confirm_hours:g}"}
    env = pages(cfg)
    html = inline_css(env.get_template("confirm.html.j2").render(context))
    text = env.get_template("confirm.txt.j2").render(context)
    sender = Sender.of(cfg.site)
    msg = EmailMessage(policy=SMTP.clone(max_line_length=998))
    msg["From"] = cfg.site.sender
    msg["To"] = pending.email
    msg["Subject"] = f"Confirm your subscription to the {cfg.site.name}"
    msg["Date"] = format_datetime(pending.requested_at)
    msg["Message-ID"] = make_msgid("confirm", sender.domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    transport = SmtpTransport(cfg.smtp)
    try:
        transport.open()
        transport.send(sender.address, pending.email, msg.as_bytes())
    except (ServerUnavailable, TemporaryFailure, PermanentFailure, MsdigestError) as exc:
        log.error("confirmation to %s: %s", pending.email, exc)
        raise NotSent("the confirmation email could not be sent just now; please try "
                      "again in a while") from None
    finally:
        transport.close()


__all__ = ["AddressError", "NotSent", "Request", "TooMany", "check", "confirm", "read",
           "sign_up"]
