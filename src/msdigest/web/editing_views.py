"""What the desk's list of issues shows: every issue anyone worked on, and the months at
hand, with where each stands."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..config import Config
from ..editorial import ApprovalState, standing
from ..issue import draft
from ..period import Period
from ..records import OPEN
from ..store import Store


def issues_view(store: Store, cfg: Config, now: datetime) -> list[dict[str, Any]]:
    this = Period.of(now.astimezone(cfg.tz).date())
    recent = {Period.parse(m) for m in store.content.months(now - timedelta(days=186))}
    periods = sorted({*store.audit.periods(), *recent, this, this.previous()}, reverse=True)
    shown = []
    for period in periods:
        d = draft(store, cfg, period)
        counts = {str(k): n for k, n in sorted(store.ledger.counts(period).items())}
        if d.frozen:
            state = "sending" if any(s in OPEN for s in store.ledger.counts(period)) else "sent"
        else:
            state = {ApprovalState.APPROVED: "approved", ApprovalState.CHANGED: "changed"}.get(
                standing(store, d).state, "draft")
        shown.append({"period": str(period), "month": period.label, "state": state,
                      "summaries": d.issue.count, "counts": counts})
    return shown
