"""Runs: what each job did, when, and how it ended (shown by `msdigest status`)."""

from __future__ import annotations

from ..clock import from_iso
from ..records import RunRecord
from .db import Repository


class Runs(Repository):
    def start(self, job: str) -> int:
        cur = self.db.execute("INSERT INTO runs (job, started_at) VALUES (?, ?)",
                              (job, self.db.stamp()))
        return int(cur.lastrowid or 0)

    def finish(self, run_id: int, outcome: str, detail: str = "") -> None:
        self.db.execute("UPDATE runs SET finished_at=?, outcome=?, detail=? WHERE id=?",
                        (self.db.stamp(), outcome, detail, run_id))

    def recent(self, limit: int = 20) -> list[RunRecord]:
        rows = self.db.all("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        return [RunRecord(r["id"], r["job"], from_iso(r["started_at"]),
                          from_iso(r["finished_at"]) if r["finished_at"] else None,
                          r["outcome"], r["detail"]) for r in rows]
