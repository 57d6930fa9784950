"""The audit log (who did what to which issue, when) and the notices sent to editors."""

from __future__ import annotations

from datetime import datetime

from ..clock import from_iso
from ..period import Period
from ..records import AuditEntry
from .db import Repository


class Audit(Repository):
    def record(self, period: Period, actor: str, action: str, detail: str = "") -> None:
        self.db.execute("INSERT INTO audit (period, at, actor, action, detail) "
                        "VALUES (?,?,?,?,?)",
                        (str(period), self.db.stamp(), actor, action, detail))

    def entries(self, period: Period, limit: int = 200) -> list[AuditEntry]:
        rows = self.db.all("SELECT * FROM audit WHERE period=? ORDER BY id DESC LIMIT ?",
                           (str(period), limit))
        return [AuditEntry(from_iso(r["at"]), r["actor"], r["action"], r["detail"])
                for r in rows]

    def periods(self) -> list[Period]:
        """Every issue anyone worked on, newest first."""
        rows = self.db.all(
            "SELECT period FROM audit UNION SELECT period FROM issue_edits UNION "
            "SELECT period FROM issue_notes UNION SELECT period FROM approvals UNION "
            "SELECT period FROM issues ORDER BY period DESC")
        return [Period.parse(r["period"]) for r in rows]

    # --- notices: each kind once per issue -----------------------------------------------

    def notice_once(self, period: Period, kind: str) -> bool:
        """True the first time (the caller then sends it); False ever after."""
        cur = self.db.execute("INSERT INTO notices VALUES (?,?,?) ON CONFLICT DO NOTHING",
                              (str(period), kind, self.db.stamp()))
        return cur.rowcount == 1

    def forget_notice(self, period: Period, kind: str) -> None:
        """A notice that could not go out: try again next time."""
        self.db.execute("DELETE FROM notices WHERE period=? AND kind=?", (str(period), kind))

    def noticed(self, period: Period, kind: str) -> bool:
        return self.db.one("SELECT 1 FROM notices WHERE period=? AND kind=?",
                           (str(period), kind)) is not None

    def notice_at(self, period: Period, kind: str) -> datetime | None:
        row = self.db.one("SELECT sent_at FROM notices WHERE period=? AND kind=?",
                          (str(period), kind))
        return from_iso(row["sent_at"]) if row else None

    def marked(self, kind: str) -> list[Period]:
        """Every issue with this notice or mark (e.g. "due": its send time has come)."""
        return [Period.parse(r["period"]) for r in self.db.all(
            "SELECT period FROM notices WHERE kind=? ORDER BY period", (kind,))]
