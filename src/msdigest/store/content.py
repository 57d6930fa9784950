"""Summaries as collected, and the entries a feed had that could not be stored."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

from ..clock import from_iso, iso
from ..model import Skipped, Summary
from ..records import Change
from .db import Repository


def _summary(row: sqlite3.Row) -> Summary:
    return Summary(id=row["id"], guid=row["guid"], title=row["title"], link=row["link"],
                   published=from_iso(row["published"]), html=row["html"], text=row["text"],
                   feed=row["feed"], first_seen=from_iso(row["first_seen"]))


class Content(Repository):
    def upsert(self, s: Summary, seen: datetime) -> Change:
        """Store a summary once. A duplicate is the same guid, else the same link,
        whichever feed it came from; its first_seen never changes."""
        with self.db.lock:
            row = None
            if s.guid:
                row = self.db.one("SELECT * FROM summaries WHERE guid = ?", (s.guid,))
            if row is None:
                row = self.db.one("SELECT * FROM summaries WHERE link = ?", (s.link,))
            if row is None:
                if self.db.one("SELECT 1 FROM summaries WHERE id = ?", (s.id,)):
                    return Change.COLLISION
                self.db.execute(
                    "INSERT INTO summaries VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (s.id, s.guid, s.link, s.title, iso(s.published), s.html, s.text, s.feed,
                     iso(seen), iso(seen)))
                return Change.NEW
            fields = (s.title, iso(s.published), s.html, s.link)
            if (row["title"], row["published"], row["html"], row["link"]) == fields:
                return Change.SAME
            self.db.execute(
                "UPDATE summaries SET title=?, published=?, html=?, link=?, text=?, "
                "updated_at=? WHERE id=?", (*fields, s.text, iso(seen), row["id"]))
            return Change.UPDATED

    def get(self, summary_id: str) -> Summary | None:
        row = self.db.one("SELECT * FROM summaries WHERE id = ?", (summary_id,))
        return _summary(row) if row else None

    def starting_with(self, prefix: str) -> list[Summary]:
        """Summaries whose id starts with what an editor typed."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self.db.all("SELECT * FROM summaries WHERE id LIKE ? ESCAPE '\\' ORDER BY id "
                           "LIMIT 20", (escaped + "%",))
        return [_summary(r) for r in rows]

    def all(self, ids: Iterable[str] | None = None) -> list[Summary]:
        """Every summary, newest first; or these, in the order given."""
        if ids is None:
            return [_summary(r) for r in self.db.all(
                "SELECT * FROM summaries ORDER BY published DESC, id")]
        wanted = list(ids)
        by_id = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            q = f"SELECT * FROM summaries WHERE id IN ({','.join('?' * len(chunk))})"
            by_id.update({r["id"]: _summary(r) for r in self.db.all(q, chunk)})
        return [by_id[i] for i in wanted if i in by_id]

    def candidates(self, start: datetime, end: datetime, late_since: datetime | None
                   ) -> list[Summary]:
        """Summaries dated in [start, end), plus those dated earlier but first seen after
        `late_since`; never one already in a frozen (sent) issue."""
        rows = self.db.all(
            """SELECT * FROM summaries s
               WHERE ((published >= :start AND published < :end)
                      OR (:late IS NOT NULL AND published < :start AND first_seen > :late))
                 AND NOT EXISTS (SELECT 1 FROM issue_items i WHERE i.summary_id = s.id)
               ORDER BY published DESC, id""",
            {"start": iso(start), "end": iso(end),
             "late": iso(late_since) if late_since else None})
        return [_summary(r) for r in rows]

    def months(self, since: datetime) -> list[str]:
        """The YYYY-MM of every summary published since then (UTC months)."""
        rows = self.db.all("SELECT DISTINCT substr(published, 1, 7) AS m FROM summaries "
                           "WHERE published >= ? ORDER BY m", (iso(since),))
        return [r["m"] for r in rows]

    def count(self) -> int:
        row = self.db.one("SELECT count(*) FROM summaries")
        return int(row[0]) if row else 0

    def newest(self) -> Summary | None:
        row = self.db.one("SELECT * FROM summaries ORDER BY published DESC, id LIMIT 1")
        return _summary(row) if row else None

    # --- entries skipped at collection ---------------------------------------------------

    def replace_skipped(self, feed: str, skipped: list[Skipped]) -> None:
        stamp = self.db.stamp()
        with self.db.transaction():
            self.db.execute("DELETE FROM skipped WHERE feed = ?", (feed,))
            self.db.executemany("INSERT INTO skipped VALUES (?,?,?,?) "
                                "ON CONFLICT (feed, entry) DO NOTHING",
                                [(s.feed, s.entry, s.reason, stamp) for s in skipped])

    def skipped(self) -> list[Skipped]:
        return [Skipped(r["feed"], r["entry"], r["reason"])
                for r in self.db.all("SELECT * FROM skipped ORDER BY feed, seen_at")]
