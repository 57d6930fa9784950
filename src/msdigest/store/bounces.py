"""Bounces and complaints read from the bounce mailbox, and the reports they came in: each
report is handled once (its key is kept), each bounce kept with the issue it was about."""

from __future__ import annotations

from ..period import Period
from .db import Repository


class Bounces(Repository):
    def handled(self, key: str) -> bool:
        """Whether this report (by the hash of its bytes) was handled before."""
        return self.db.one("SELECT 1 FROM mail_reports WHERE key=?", (key,)) is not None

    def handle(self, key: str, kind: str, detail: str = "") -> bool:
        """Mark a report handled; False if it already was (then do nothing with it)."""
        cur = self.db.execute("INSERT INTO mail_reports VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                              (key, kind, detail, self.db.stamp()))
        return cur.rowcount == 1

    def add(self, email: str, period: Period | None, kind: str, status: str, reason: str,
            report: str) -> None:
        self.db.execute("INSERT INTO bounces (email, period, kind, status, reason, report, "
                        "received_at) VALUES (?,?,?,?,?,?,?)",
                        (email, str(period) if period else None, kind, status, reason, report,
                         self.db.stamp()))

    def issues_bounced(self, email: str) -> int:
        """Issues that did not reach this address: refused outright at sending (5xx), or
        soft-bounced after the relay accepted them (a soft bounce whose issue is unknown
        counts on its own). What `[smtp] bounce_after` is compared with."""
        row = self.db.one(
            """SELECT count(*) FROM (
                 SELECT period AS issue FROM deliveries
                   WHERE email=:e AND permanent=1 AND state='failed'
                 UNION
                 SELECT COALESCE(period, 'report ' || report) FROM bounces
                   WHERE email=:e AND kind='soft') AS refused""", {"e": email})
        return int(row[0]) if row else 0

    def counts(self) -> dict[str, int]:
        """Bounces and complaints by kind, ever."""
        return {r["kind"]: r["n"] for r in self.db.all(
            "SELECT kind, count(*) AS n FROM bounces GROUP BY kind")}
