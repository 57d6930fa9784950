"""Subscribers: who gets the digest, which themes they chose, how and when they joined,
and every change since (with its source: import, form, link, bounce, complaint, editor)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime

from ..clock import from_iso, iso
from ..model import Subscriber, SubscriberStatus
from ..records import Change, SubscriberEvent, SubscriberRecord
from .db import Repository


def _subscriber(row: sqlite3.Row) -> Subscriber:
    themes = tuple(t for t in row["themes"].split(";") if t)
    return Subscriber(row["email"], row["name"], themes, SubscriberStatus(row["status"]))


def _record(row: sqlite3.Row) -> SubscriberRecord:
    return SubscriberRecord(_subscriber(row), row["source"], row["joined_via"],
                            from_iso(row["created_at"]), row["consent_version"],
                            from_iso(row["confirmed_at"]) if row["confirmed_at"] else None,
                            from_iso(row["changed_at"]))


def _themes(themes: tuple[str, ...]) -> str:
    return ";".join(themes)


class Subscribers(Repository):
    """Addresses arrive normalized (addresses.normalize); nothing here lowercases again."""

    def get(self, email: str) -> Subscriber | None:
        row = self.db.one("SELECT * FROM subscribers WHERE email = ?", (email,))
        return _subscriber(row) if row else None

    def record(self, email: str) -> SubscriberRecord | None:
        row = self.db.one("SELECT * FROM subscribers WHERE email = ?", (email,))
        return _record(row) if row else None

    def put(self, sub: Subscriber, source: str) -> Change:
        """Insert or update."""
        with self.db.lock:
            return self.replace(self.get(sub.email), sub, source)

    def replace(self, old: Subscriber | None, sub: Subscriber, source: str,
                consent_version: str = "", confirmed: bool = False) -> Change:
        """Insert or update, given the record as the caller has just read it."""
        with self.db.transaction():
            stamp = self.db.stamp()
            if old is None:
                self.db.execute(
                    "INSERT INTO subscribers (email, name, themes, status, source, created_at, "
                    "changed_at, joined_via, consent_version, confirmed_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (sub.email, sub.name, _themes(sub.themes), sub.status, source, stamp,
                     stamp, source, consent_version, stamp if confirmed else None))
                self.event(sub.email, "joined", f"{sub.status}; themes: "
                           f"{_themes(sub.themes) or 'all'}", source)
                return Change.NEW
            if old == sub and not confirmed:
                return Change.SAME
            self.db.execute(
                "UPDATE subscribers SET name=?, themes=?, status=?, source=?, changed_at=? "
                "WHERE email=?", (sub.name, _themes(sub.themes), sub.status, source, stamp,
                                  sub.email))
            if confirmed:
                self.db.execute("UPDATE subscribers SET consent_version=?, confirmed_at=? "
                                "WHERE email=?", (consent_version, stamp, sub.email))
            if old.status != sub.status:
                self.event(sub.email, "status", f"{old.status} → {sub.status}", source)
            if old.themes != sub.themes:
                self.event(sub.email, "themes", _themes(sub.themes) or "all", source)
            return Change.UPDATED

    def set_status(self, email: str, status: SubscriberStatus, source: str) -> bool:
        with self.db.transaction():
            old = self.get(email)
            cur = self.db.execute(
                "UPDATE subscribers SET status=?, source=?, changed_at=? WHERE email=?",
                (status, source, self.db.stamp(), email))
            if old is not None and old.status != status:
                self.event(email, "status", f"{old.status} → {status}", source)
            return cur.rowcount > 0

    def set_themes(self, email: str, themes: tuple[str, ...], source: str) -> bool:
        with self.db.transaction():
            old = self.get(email)
            cur = self.db.execute(
                "UPDATE subscribers SET themes=?, source=?, changed_at=? WHERE email=?",
                (_themes(themes), source, self.db.stamp(), email))
            if old is not None and old.themes != themes:
                self.event(email, "themes", _themes(themes) or "all", source)
            return cur.rowcount > 0

    # --- the trail ----------------------------------------------------------------------

    def event(self, email: str, event: str, detail: str, source: str) -> None:
        self.db.execute("INSERT INTO subscriber_events (email, at, event, detail, source) "
                        "VALUES (?,?,?,?,?)", (email, self.db.stamp(), event, detail, source))

    def events(self, email: str) -> list[SubscriberEvent]:
        rows = self.db.all("SELECT * FROM subscriber_events WHERE email=? ORDER BY id", (email,))
        return [SubscriberEvent(from_iso(r["at"]), r["event"], r["detail"], r["source"])
                for r in rows]

    def erase(self, email: str) -> bool:
        """Delete everything held about an address (the caller keeps its suppression hash)."""
        with self.db.transaction():
            cur = self.db.execute("DELETE FROM subscribers WHERE email=?", (email,))
            for table in ("subscriber_events", "deliveries", "signups"):
                self.db.execute(f"DELETE FROM {table} WHERE email=?", (email,))
            return cur.rowcount > 0

    # --- many at once ---------------------------------------------------------------------

    def active(self, batch: int = 1000) -> Iterator[Subscriber]:
        """Active subscribers in address order, a batch at a time (flat memory)."""
        for record in self.records((SubscriberStatus.ACTIVE,), batch):
            yield record.subscriber

    def records(self, statuses: tuple[SubscriberStatus, ...] | None = None, batch: int = 1000
                ) -> Iterator[SubscriberRecord]:
        """Every subscriber (in these statuses), in address order, a batch at a time."""
        wanted = [str(s) for s in statuses or tuple(SubscriberStatus)]
        marks = ",".join("?" * len(wanted))
        last = ""
        while True:
            rows = self.db.all(f"SELECT * FROM subscribers WHERE status IN ({marks}) AND "
                               "email > ? ORDER BY email LIMIT ?", (*wanted, last, batch))
            if not rows:
                return
            yield from (_record(r) for r in rows)
            last = rows[-1]["email"]

    def counts(self) -> dict[SubscriberStatus, int]:
        rows = self.db.all("SELECT status, count(*) n FROM subscribers GROUP BY status")
        return {SubscriberStatus(r["status"]): r["n"] for r in rows}

    def counts_by_source(self) -> dict[tuple[str, str], int]:
        """(status, how they joined) -> how many."""
        rows = self.db.all("SELECT status, joined_via, count(*) n FROM subscribers "
                           "GROUP BY status, joined_via ORDER BY status, joined_via")
        return {(r["status"], r["joined_via"]): r["n"] for r in rows}

    def left(self, since: datetime) -> list[SubscriberEvent]:
        """Who unsubscribed (or bounced, or complained) since then, from the trail."""
        rows = self.db.all("SELECT * FROM subscriber_events WHERE event='status' AND "
                           "detail LIKE 'active → %' AND at >= ? ORDER BY at", (iso(since),))
        return [SubscriberEvent(from_iso(r["at"]), r["event"], f"{r['email']}: {r['detail']}",
                                r["source"]) for r in rows]

    def left_since(self, since: datetime | None) -> int:
        """How many unsubscribed or bounced since then (every one, without a date)."""
        row = self.db.one("SELECT count(*) FROM subscribers WHERE status != 'active' AND "
                          "changed_at > ?", (iso(since) if since else "",))
        return int(row[0]) if row else 0
