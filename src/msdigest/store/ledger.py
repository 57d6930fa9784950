"""The delivery ledger: one row per subscriber per issue, the record that nothing is
sent twice (see msdigest.delivery.run for how the send uses it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

from ..clock import from_iso, iso
from ..period import Period
from ..records import FINAL, OPEN, Claim, Delivery, DeliveryState, OpenRow, Tally
from .db import Repository
from .subscribers import _subscriber


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        period=Period.parse(row["period"]), email=row["email"], state=DeliveryState(row["state"]),
        attempts=row["attempts"], message_id=row["message_id"], reason=row["reason"],
        next_attempt=from_iso(row["next_attempt"]) if row["next_attempt"] else None,
        updated_at=from_iso(row["updated_at"]), duplicate=bool(row["duplicate"]),
        permanent=bool(row["permanent"]))


def _open_row(r: sqlite3.Row) -> OpenRow:
    return OpenRow(_subscriber(r), DeliveryState(r["state"]), r["attempts"],
                   from_iso(r["next_attempt"]) if r["next_attempt"] else None,
                   r["message_id"])


UNSUBSCRIBED = "no longer subscribed when the issue was sent"


def _marks(states: Iterable[DeliveryState]) -> tuple[str, list[str]]:
    wanted = [str(s) for s in states]
    return ",".join("?" * len(wanted)), wanted


class Ledger(Repository):
    def open(self, period: Period) -> Tally:
        """Give every active subscriber a row for this issue (pending unless it has one);
        close the open rows of those no longer active. Returns (rows, rows done)."""
        stamp = self.db.stamp()
        with self.db.transaction():
            self.db.execute(
                """INSERT INTO deliveries (period, email, state, message_id, updated_at)
                   SELECT ?, email, 'pending', '', ? FROM subscribers WHERE status='active'
                   ON CONFLICT (period, email) DO NOTHING""",
                (str(period), stamp))
            self.db.execute(
                """UPDATE deliveries SET state='skipped', updated_at=:u, reason=:r
                   WHERE period=:p AND state IN ('pending', 'deferred') AND email IN
                         (SELECT email FROM subscribers WHERE status != 'active')""",
                {"p": str(period), "u": stamp, "r": UNSUBSCRIBED})
        marks, final = _marks(FINAL)
        row = self.db.one(f"SELECT count(*), sum(CASE WHEN state IN ({marks}) THEN 1 ELSE 0 "
                          "END) FROM deliveries WHERE period=?", (*final, str(period)))
        return Tally(int(row[0]), int(row[1] or 0)) if row else Tally(0, 0)

    def open_batch(self, period: Period, after: str, limit: int) -> list[OpenRow]:
        """The next open rows (by address) of this issue, with their subscribers (who may
        have left since the ledger was opened: the send closes those rows)."""
        marks, states = _marks(OPEN)
        rows = self.db.all(
            f"""SELECT s.*, d.state, d.attempts, d.next_attempt, d.message_id FROM deliveries d
               JOIN subscribers s ON s.email = d.email
               WHERE d.period=? AND d.state IN ({marks}) AND d.email > ?
               ORDER BY d.email LIMIT ?""", (str(period), *states, after, limit))
        return [_open_row(r) for r in rows]

    def mark(self, period: Period, email: str, state: DeliveryState, message_id: str,
             reason: str = "", *, attempt: bool = False, next_attempt: datetime | None = None,
             duplicate: bool = False, permanent: bool = False, owner: str = "") -> bool:
        """Record a subscriber's state for an issue; each call commits on its own. With an
        `owner`, only while that sender holds the row's lease (False if it does not); a
        deferred row stays leased to it (it retries), any other state frees the row."""
        fence = "WHERE deliveries.lease_owner = :o" if owner else ""
        cur = self.db.execute(
            """INSERT INTO deliveries (period, email, state, attempts, message_id, reason,
                                       next_attempt, updated_at, duplicate, permanent)
               VALUES (:p, :e, :s, :a, :m, :r, :n, :u, :d, :x)
               ON CONFLICT(period, email) DO UPDATE SET
                 state=:s, attempts=deliveries.attempts + :a, message_id=:m, reason=:r,
                 next_attempt=:n, updated_at=:u,
                 duplicate=CASE WHEN :d = 1 THEN 1 ELSE deliveries.duplicate END,
                 permanent=:x, lease_owner=:k,
                 lease_until=CASE WHEN :k = '' THEN 0 ELSE deliveries.lease_until END
               """ + fence,
            {"p": str(period), "e": email, "s": str(state), "a": int(attempt), "m": message_id,
             "r": reason, "n": iso(next_attempt) if next_attempt else None,
             "u": self.db.stamp(), "d": int(duplicate), "x": int(permanent), "o": owner,
             "k": owner if state is DeliveryState.DEFERRED else ""})
        return bool(cur.rowcount)

    def claim(self, period: Period, email: str, expected: DeliveryState, message_id: str
              ) -> Claim:
        """Take one row for sending: state checked in the same statement, the row count
        verified, and only while the subscriber is still active. "sending" is committed
        before the message goes out, so it means "may have gone"."""
        with self.db.lock:
            cur = self.db.execute(
                """UPDATE deliveries SET state='sending', attempts=attempts + 1, message_id=:m,
                          updated_at=:u
                   WHERE period=:p AND email=:e AND state=:x AND EXISTS
                         (SELECT 1 FROM subscribers WHERE email=:e AND status='active')""",
                {"p": str(period), "e": email, "x": str(expected), "m": message_id,
                 "u": self.db.stamp()})
            if cur.rowcount == 1:
                return Claim.CLAIMED
            row = self.get(period, email)
            if row is not None and row.state is expected:  # then the subscriber left
                self.mark(period, email, DeliveryState.SKIPPED, message_id, UNSUBSCRIBED)
                return Claim.LEFT
            return Claim.TAKEN

    def get(self, period: Period, email: str) -> Delivery | None:
        row = self.db.one("SELECT * FROM deliveries WHERE period=? AND email=?",
                          (str(period), email))
        return _delivery(row) if row else None

    def rows(self, period: Period, states: Iterable[DeliveryState] | None = None,
             duplicates: bool = False) -> list[Delivery]:
        """Ledger rows of an issue, optionally only in these states or possibly duplicated."""
        query, args = "SELECT * FROM deliveries WHERE period=?", [str(period)]
        if states is not None:
            marks, wanted = _marks(states)
            query += f" AND state IN ({marks})"
            args += wanted
        if duplicates:
            query += " AND duplicate = 1"
        return [_delivery(r) for r in self.db.all(query + " ORDER BY email", args)]

    def done(self, period: Period) -> set[str]:
        """Addresses whose row for this issue is final."""
        marks, final = _marks(FINAL)
        rows = self.db.all(f"SELECT email FROM deliveries WHERE period=? AND state IN ({marks})",
                           (str(period), *final))
        return {r["email"] for r in rows}

    def permanent_failures(self, email: str) -> int:
        """Issues for which the server refused this address outright (5xx)."""
        row = self.db.one("SELECT count(*) FROM deliveries WHERE email=? AND permanent=1 "
                          "AND state='failed'", (email,))
        return int(row[0]) if row else 0

    def counts(self, period: Period) -> dict[DeliveryState, int]:
        rows = self.db.all("SELECT state, count(*) n FROM deliveries WHERE period=? "
                           "GROUP BY state", (str(period),))
        return {DeliveryState(r["state"]): r["n"] for r in rows}

    def last_sent_at(self, period: Period) -> datetime | None:
        """When the last message of this issue was accepted (None: none yet)."""
        row = self.db.one("SELECT max(updated_at) FROM deliveries WHERE period=? AND "
                          "state='sent'", (str(period),))
        return from_iso(row[0]) if row and row[0] else None

    def last_change(self, period: Period) -> datetime | None:
        """When any row of this issue last changed (a send under way keeps it recent)."""
        row = self.db.one("SELECT max(updated_at) FROM deliveries WHERE period=?",
                          (str(period),))
        return from_iso(row[0]) if row and row[0] else None

    def find(self, message_id: str) -> Delivery | None:
        """The row that sent the message with this Message-ID (a bounce quotes it)."""
        row = self.db.one("SELECT * FROM deliveries WHERE message_id=? AND message_id != '' "
                          "LIMIT 1", (message_id,))
        return _delivery(row) if row else None
