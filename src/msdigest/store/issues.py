"""Issues: the editor's changes and approvals, and each issue as frozen at its first send."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from ..clock import from_iso, iso
from ..errors import StoreError
from ..model import Edition
from ..period import Period
from ..records import Approval, Edit, Frozen, Member, Notes
from .db import Repository


class Issues(Repository):
    # --- editorial changes ---------------------------------------------------------------

    def edits(self, period: Period) -> dict[str, Edit]:
        """summary_id -> the editor's marks on it."""
        rows = self.db.all("SELECT * FROM issue_edits WHERE period=?", (str(period),))
        return {r["summary_id"]: Edit(bool(r["excluded"]), r["theme"], bool(r["pinned"]))
                for r in rows}

    def set_edit(self, period: Period, summary_id: str, *, excluded: bool | None = None,
                 theme: str | None = None, pinned: bool | None = None) -> None:
        with self.db.transaction():
            current = self.edits(period).get(summary_id, Edit())
            self.db.execute(
                "INSERT INTO issue_edits VALUES (?,?,?,?,?,?) ON CONFLICT (period, summary_id) "
                "DO UPDATE SET excluded = excluded.excluded, theme = excluded.theme, "
                "pinned = excluded.pinned, changed_at = excluded.changed_at",
                (str(period), summary_id,
                 int(current.excluded if excluded is None else excluded),
                 current.theme if theme is None else theme,
                 int(current.pinned if pinned is None else pinned), self.db.stamp()))

    def notes(self, period: Period) -> Notes:
        row = self.db.one("SELECT intro, subject FROM issue_notes WHERE period=?", (str(period),))
        return Notes(row["intro"], row["subject"]) if row else Notes()

    def set_notes(self, period: Period, intro: str | None = None,
                  subject: str | None = None) -> None:
        with self.db.transaction():
            old = self.notes(period)
            self.db.execute("INSERT INTO issue_notes VALUES (?,?,?,?) ON CONFLICT (period) "
                            "DO UPDATE SET intro = excluded.intro, subject = excluded.subject, "
                            "changed_at = excluded.changed_at",
                            (str(period), old.intro if intro is None else intro,
                             old.subject if subject is None else subject, self.db.stamp()))

    def approve(self, period: Period, content_hash: str, by: str) -> Approval:
        at = self.db.now()
        self.db.execute("INSERT INTO approvals (period, content_hash, approved_by, approved_at)"
                        " VALUES (?,?,?,?)", (str(period), content_hash, by, self.db.stamp()))
        return Approval(content_hash, by, at)

    def approval(self, period: Period) -> Approval | None:
        """The latest approval of an issue."""
        row = self.db.one("SELECT content_hash, approved_by, approved_at FROM approvals "
                          "WHERE period=? ORDER BY id DESC LIMIT 1", (str(period),))
        return Approval(row[0], row[1], from_iso(row[2])) if row else None

    # --- frozen issues -------------------------------------------------------------------

    def freeze(self, edition: Edition, cutoff: datetime | None = None) -> bool:
        """Fix an issue's content before its first message goes out; summaries first seen
        after `cutoff` (default: now) belong to the next issue. False if it was frozen
        already (by this process or another): the first freeze wins."""
        issue = edition.issue
        period = issue.period
        stamp = self.db.stamp()
        with self.db.transaction():
            cur = self.db.execute(
                "INSERT INTO issues (period, frozen_at, subject, edition, cutoff) "
                "VALUES (?,?,?,?,?) ON CONFLICT(period) DO NOTHING",
                (str(period), stamp, issue.subject,
                 json.dumps(edition.to_json(), ensure_ascii=False),
                 iso(cutoff) if cutoff else stamp))
            if cur.rowcount == 0:
                return False
            self.db.executemany("INSERT INTO issue_items VALUES (?,?,?,?,?)",
                                [(str(period), item.id, item.theme, i, int(item.pinned))
                                 for i, item in enumerate(issue.items)])
        return True

    def frozen(self, period: Period) -> Frozen | None:
        row = self.db.one("SELECT frozen_at, edition FROM issues WHERE period=?", (str(period),))
        if row is None:
            return None
        members = tuple(Member(r["summary_id"], r["theme"], bool(r["pinned"])) for r in
                        self.db.all("SELECT summary_id, theme, pinned FROM issue_items "
                                    "WHERE period=? ORDER BY position", (str(period),)))
        try:
            edition = Edition.from_json(json.loads(row["edition"])) if row["edition"] else None
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"the {period} issue's frozen content cannot be read ({exc}); "
                             "upgrade msdigest, or restore the store from a backup") from None
        return Frozen(from_iso(row["frozen_at"]), members, edition)

    def keep_edition(self, edition: Edition) -> None:
        """Store the content of an issue frozen by msdigest 0.1 (which kept only its members);
        on a read-only store it is rebuilt again next time instead."""
        try:
            self.db.execute("UPDATE issues SET edition=? WHERE period=? AND edition IS NULL",
                            (json.dumps(edition.to_json(), ensure_ascii=False),
                             str(edition.period)))
        except sqlite3.OperationalError as exc:
            if "readonly" not in str(exc):
                raise

    def is_frozen(self, period: Period) -> bool:
        return self.db.one("SELECT 1 FROM issues WHERE period=?", (str(period),)) is not None

    def previous_frozen_at(self, period: Period) -> datetime | None:
        row: sqlite3.Row | None = self.db.one(
            "SELECT COALESCE(cutoff, frozen_at) AS t FROM issues WHERE period < ? "
            "ORDER BY period DESC LIMIT 1", (str(period),))
        return from_iso(row["t"]) if row else None

    def frozen_periods(self) -> list[Period]:
        return [Period.parse(r["period"])
                for r in self.db.all("SELECT period FROM issues ORDER BY period")]
