"""Subscribers: who gets the digest, which themes they chose, and who set that last."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime

from ..clock import iso
from ..model import Subscriber, SubscriberStatus
from ..records import Change, SubscriberRecord
from .db import Repository


def _subscriber(row: sqlite3.Row) -> Subscriber:
    themes = tuple(t for t in row["themes"].split(";") if t)
    return Subscriber(row["email"], row["name"], themes, SubscriberStatus(row["status"]))


def _themes(themes: tuple[str, ...]) -> str:
    return ";".join(themes)


class Subscribers(Repository):
    """Addresses arrive normalized (addresses.normalize); nothing here lowercases again."""

    def get(self, email: str) -> Subscriber | None:
        row = self.db.one("SELECT * FROM subscribers WHERE email = ?", (email,))
        return _subscriber(row) if row else None

    def record(self, email: str) -> SubscriberRecord | None:
        row = self.db.one("SELECT * FROM subscribers WHERE email = ?", (email,))
        return SubscriberRecord(_subscriber(row), row["source"]) if row else None

    def put(self, sub: Subscriber, source: str) -> Change:
        """Insert or update."""
        with self.db.lock:
            return self.replace(self.get(sub.email), sub, source)

    def replace(self, old: Subscriber | None, sub: Subscriber, source: str) -> Change:
        """Insert or update, given the record as the caller has just read it."""
        with self.db.lock:
            stamp = self.db.stamp()
            if old is None:
                self.db.execute("INSERT INTO subscribers VALUES (?,?,?,?,?,?,?)",
                                (sub.email, sub.name, _themes(sub.themes), sub.status, source,
                                 stamp, stamp))
                return Change.NEW
            if old == sub:
                return Change.SAME
            self.db.execute(
                "UPDATE subscribers SET name=?, themes=?, status=?, source=?, changed_at=? "
                "WHERE email=?", (sub.name, _themes(sub.themes), sub.status, source, stamp,
                                  sub.email))
            return Change.UPDATED

    def set_status(self, email: str, status: SubscriberStatus, source: str) -> bool:
        cur = self.db.execute(
            "UPDATE subscribers SET status=?, source=?, changed_at=? WHERE email=?",
            (status, source, self.db.stamp(), email))
        return cur.rowcount > 0

    def set_themes(self, email: str, themes: tuple[str, ...], source: str) -> bool:
        cur = self.db.execute(
            "UPDATE subscribers SET themes=?, source=?, changed_at=? WHERE email=?",
            (_themes(themes), source, self.db.stamp(), email))
        return cur.rowcount > 0

    def active(self, batch: int = 1000) -> Iterator[Subscriber]:
        """Active subscribers in address order, a batch at a time (flat memory)."""
        last = ""
        while True:
            rows = self.db.all("SELECT * FROM subscribers WHERE status='active' AND email > ? "
                               "ORDER BY email LIMIT ?", (last, batch))
            if not rows:
                return
            yield from (_subscriber(r) for r in rows)
            last = rows[-1]["email"]

    def counts(self) -> dict[SubscriberStatus, int]:
        rows = self.db.all("SELECT status, count(*) n FROM subscribers GROUP BY status")
        return {SubscriberStatus(r["status"]): r["n"] for r in rows}

    def left_since(self, since: datetime | None) -> int:
        """How many unsubscribed or bounced since then (every one, without a date)."""
        row = self.db.one("SELECT count(*) FROM subscribers WHERE status != 'active' AND "
                          "changed_at > ?", (iso(since) if since else "",))
        return int(row[0]) if row else 0
