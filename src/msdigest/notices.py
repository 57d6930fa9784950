"""Notices: short emails to every editor — the draft is ready, a reminder, the issue is
waiting or was given up, and the report after a send. Each goes out once per issue
(the store remembers), and one that could not be sent is tried again next time."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from .config import Config
from .delivery.smtp import SmtpTransport
from .delivery.transport import PermanentFailure, ServerUnavailable, TemporaryFailure
from .errors import MsdigestError
from .message import Sender
from .period import Period
from .store import Store

log = logging.getLogger(__name__)
# one line per header up to RFC 5322's 998: the folder would break "[Site] ..." oddly
POLICY = SMTP.clone(max_line_length=998)


def desk_link(cfg: Config, period: Period) -> str:
    return f"{cfg.unsubscribe.base_url}/desk/{period}/"


def notify(store: Store, cfg: Config, period: Period, kind: str, subject: str,
           lines: list[str]) -> int:
    """Email every editor once for (period, kind); the number of editors it reached."""
    editors = store.editors.all()
    if not editors or not store.audit.notice_once(period, kind):
        return 0
    sender = Sender.of(cfg.site)
    transport = SmtpTransport(cfg.smtp)
    reached = 0
    try:
        transport.open()
        for editor in editors:
            msg = EmailMessage(policy=POLICY)
            msg["From"] = cfg.site.sender
            msg["To"] = editor.email
            msg["Subject"] = f"[{cfg.site.name}] {subject}"
            msg["Date"] = format_datetime(store.db.now())
            msg["Message-ID"] = make_msgid("notice", sender.domain)
            msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
            msg.set_content("\n".join([f"Hello {editor.name},", "", *lines, "",
                                       "— msdigest"]) + "\n")
            transport.send(sender.address, editor.email, msg.as_bytes())
            reached += 1
    except (ServerUnavailable, TemporaryFailure, PermanentFailure, MsdigestError) as exc:
        log.error("notice %s for %s: %s", kind, period, exc)
        if not reached:
            store.audit.forget_notice(period, kind)  # try again at the next tick
    finally:
        transport.close()
    if reached:
        store.audit.record(period, "msdigest", f"told the editors: {subject}",
                           f"{reached} of {len(editors)}")
    return reached
