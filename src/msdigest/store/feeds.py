"""Feeds as fetched: each one's conditional-GET state and its health — when it last
worked, how many fetches in a row have failed and since when, the last error, and
whether ops have been told."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..clock import from_iso, iso
from ..records import FeedHealth, FeedState
from .db import Repository


def _time(value: str | None) -> datetime | None:
    return from_iso(value) if value else None


def _health(row: sqlite3.Row) -> FeedHealth:
    return FeedHealth(row["url"], _time(row["checked_at"]), _time(row["last_ok"]),
                      int(row["failures"]), _time(row["failing_since"]), row["error"] or "",
                      _time(row["alerted_at"]))


class Feeds(Repository):
    def state(self, url: str) -> FeedState:
        row = self.db.one("SELECT etag, modified FROM feed_state WHERE url=?", (url,))
        return FeedState(row["etag"], row["modified"]) if row else FeedState()

    def succeeded(self, url: str, state: FeedState | None) -> None:
        """A fetch that worked (or was not modified): the new conditional-GET state (None
        keeps the old); the failures are over. `alerted_at` stays until ops are told."""
        state = state or FeedState()
        stamp = self.db.stamp()
        self.db.execute(
            """INSERT INTO feed_state (url, etag, modified, checked_at, error, last_ok, failures)
               VALUES (?,?,?,?,NULL,?,0)
               ON CONFLICT(url) DO UPDATE SET
                 etag=COALESCE(excluded.etag, feed_state.etag),
                 modified=COALESCE(excluded.modified, feed_state.modified),
                 checked_at=excluded.checked_at, error=NULL, last_ok=excluded.last_ok,
                 failures=0, failing_since=NULL""",
            (url, state.etag, state.modified, stamp, stamp))

    def failed(self, url: str, error: str) -> None:
        """A fetch that did not work: one more failure in a row, failing since the first."""
        stamp = self.db.stamp()
        self.db.execute(
            """INSERT INTO feed_state (url, checked_at, error, failures, failing_since)
               VALUES (?,?,?,1,?)
               ON CONFLICT(url) DO UPDATE SET
                 checked_at=excluded.checked_at, error=excluded.error,
                 failures=feed_state.failures + 1,
                 failing_since=COALESCE(feed_state.failing_since, excluded.failing_since)""",
            (url, stamp, error, stamp))

    def alerted(self, url: str, when: datetime | None) -> None:
        """Ops were told it is failing (when), or that it works again (None)."""
        self.db.execute("UPDATE feed_state SET alerted_at=? WHERE url=?",
                        (iso(when) if when else None, url))

    def health(self, url: str) -> FeedHealth | None:
        row = self.db.one("SELECT * FROM feed_state WHERE url=?", (url,))
        return _health(row) if row else None

    def all(self) -> list[FeedHealth]:
        return [_health(r) for r in self.db.all("SELECT * FROM feed_state ORDER BY url")]
