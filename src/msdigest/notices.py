"""Notices: short emails to people who run the digest.

To every editor: the draft is ready, a reminder, the issue is waiting or was given up, and
the report after a send — each once per issue (the store remembers), and one that could
not be sent is tried again next time. To ops ([collect] alert_to, else the editors): a
feed that has been failing for [collect] alert_after_hours, once, and once when it works
again."""

from __future__ import annotations

import logging
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from .config import Config
from .delivery.smtp import SmtpTransport
from .delivery.transport import PermanentFailure, ServerUnavailable, TemporaryFailure
from .errors import MsdigestError
from .message import Sender
from .period import Period
from .records import FeedHealth
from .store import Store

log = logging.getLogger(__name__)
# one line per header up to RFC 5322's 998: the folder would break "[Site] ..." oddly
POLICY = SMTP.clone(max_line_length=998)


def desk_link(cfg: Config, period: Period) -> str:
    return f"{cfg.unsubscribe.base_url}/desk/{period}/"


def mail(store: Store, cfg: Config, to: list[tuple[str, str]], subject: str,
         lines: list[str], what: str) -> int:
    """Email each (address, name) over one SMTP connection; how many it reached (the
    error that stopped it is logged, naming `what`)."""
    sender = Sender.of(cfg.site)
    transport = SmtpTransport(cfg.smtp)
    reached = 0
    try:
        transport.open()
        for address, name in to:
            msg = EmailMessage(policy=POLICY)
            msg["From"] = cfg.site.sender
            msg["To"] = address
            msg["Subject"] = f"[{cfg.site.name}] {subject}"
            msg["Date"] = format_datetime(store.db.now())
            msg["Message-ID"] = make_msgid("notice", sender.domain)
            msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
            msg.set_content("\n".join([f"Hello {name or address},", "", *lines, "",
                                       "— msdigest"]) + "\n")
            transport.send(sender.address, address, msg.as_bytes())
            reached += 1
    except (ServerUnavailable, TemporaryFailure, PermanentFailure, MsdigestError) as exc:
        log.error("%s: %s", what, exc)
    finally:
        transport.close()
    return reached


def notify(store: Store, cfg: Config, period: Period, kind: str, subject: str,
           lines: list[str]) -> int:
    """Email every editor once for (period, kind); the number of editors it reached."""
    editors = store.editors.all()
    if not editors or not store.audit.notice_once(period, kind):
        return 0
    reached = mail(store, cfg, [(e.email, e.name) for e in editors], subject, lines,
                   f"notice {kind} for {period}")
    if not reached:
        store.audit.forget_notice(period, kind)  # try again at the next tick
    else:
        store.audit.record(period, "msdigest", f"told the editors: {subject}",
                           f"{reached} of {len(editors)}")
    return reached


# --- feeds, for ops ----------------------------------------------------------------------


def ops(store: Store, cfg: Config) -> list[tuple[str, str]]:
    """Who is told about feeds: [collect] alert_to, else every editor."""
    if cfg.collect.alert_to:
        return [(a.strip(), "") for a in cfg.collect.alert_to]
    return [(e.email, e.name) for e in store.editors.all()]


def _at(h: FeedHealth, which: str) -> str:
    when = getattr(h, which)
    return f"{when:%Y-%m-%d %H:%M} UTC" if when else "never"


def feed_alerts(store: Store, cfg: Config) -> list[str]:
    """After a collect: tell ops once about each configured feed that has been failing for
    alert_after_hours, and once when it works again. The subjects sent."""
    after = timedelta(hours=cfg.collect.alert_after_hours)
    now, sent, to = store.db.now(), [], ops(store, cfg)
    for feed in cfg.feeds:
        h = store.feeds.health(feed.url)
        if h is None:
            continue
        label = feed.url if feed.name == feed.url else f"{feed.name} ({feed.url})"
        if h.failing and h.alerted_at is None and h.failing_since and \
                now - h.failing_since >= after:
            subject, lines, mark = f"Feed not working: {feed.name}", [
                f"The feed {label} has failed at every collect since "
                f"{_at(h, 'failing_since')} ({h.failures} in a row); it last worked "
                f"{_at(h, 'last_ok')}.", "", f"The last error: {h.error}", "",
                "Summaries it publishes meanwhile are missing from the digest. "
                "`msdigest status` shows every feed; you get one more email when this one "
                "works again."], now
        elif not h.failing and h.alerted_at is not None:
            subject, lines, mark = f"Feed working again: {feed.name}", [
                f"The feed {label} works again: collected at "
                f"{_at(h, 'last_ok')}, after the email of {_at(h, 'alerted_at')} said it "
                "was failing.", "", "Summaries it still lists are collected now."], None
        else:
            continue
        if not to:
            log.warning("%s, and nobody to tell: set [collect] alert_to or add an editor",
                        subject)
        elif mail(store, cfg, to, subject, lines, f"alert for {feed.url}"):
            store.feeds.alerted(feed.url, mark)
            sent.append(subject)
            log.log(logging.WARNING if mark else logging.INFO, "told %s: %s",
                    ", ".join(a for a, _ in to), subject)
    return sent
