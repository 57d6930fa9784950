"""Leases on ledger rows: how several senders, on any number of hosts, share one issue.

A sender claims a batch of open rows by writing its name and a time (`lease_until`,
seconds since the epoch on the database's clock) into them, in one statement that skips
rows another sender is claiming at that moment (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
on SQLite the statement runs under BEGIN IMMEDIATE, which lets one writer in at a time).
A heartbeat extends its leases. A row is marked "sending" only while its lease holds
(the fence), and its outcome is recorded only by the holder. Rows of a sender that died
or stalled are free again once its lease ran out: a row it left "sending" may have gone,
so it is resent with the same Message-ID and flagged as possibly duplicated.
"""

from __future__ import annotations

from ..period import Period
from ..records import OPEN, Claim, DeliveryState, OpenRow
from .db import Repository
from .ledger import UNSUBSCRIBED, _marks, _open_row

# Under SQLite one sender per issue holds the lock beside the store, so every lease it
# finds belongs to a sender that is gone: it may take them all over at once.
EVERY_LEASE = 1e18


class Leases(Repository):
    def take(self, period: Period, owner: str, seconds: float, limit: int,
             expired_before: float | None = None) -> list[OpenRow]:
        """Lease up to `limit` open rows nobody holds (or whose lease ran out before
        `expired_before`, default now), by address; returns them with their subscribers."""
        now = self.db.epoch()
        marks, states = _marks(OPEN)
        with self.db.transaction():
            taken = self.db.all(
                f"""UPDATE deliveries SET lease_owner = ?, lease_until = ?
                    WHERE period = ? AND email IN (
                      SELECT email FROM deliveries
                      WHERE period = ? AND state IN ({marks})
                        AND (lease_owner = '' OR (lease_owner != ? AND lease_until < ?))
                      ORDER BY email LIMIT ?{self.db.skip_locked})
                    RETURNING email""",
                (owner, now + seconds, str(period), str(period), *states, owner,
                 now if expired_before is None else expired_before, limit))
            emails = sorted(r[0] for r in taken)
            rows = []
            for i in range(0, len(emails), 500):
                chunk = emails[i:i + 500]
                rows += self.db.all(
                    f"""SELECT s.*, d.state, d.attempts, d.next_attempt, d.message_id
                        FROM deliveries d JOIN subscribers s ON s.email = d.email
                        WHERE d.period = ? AND d.email IN ({",".join("?" * len(chunk))})""",
                    (str(period), *chunk))
        return sorted((_open_row(r) for r in rows), key=lambda r: r.subscriber.email)

    def renew(self, period: Period, owner: str, seconds: float) -> int:
        """The heartbeat: every lease of this sender runs `seconds` from now again."""
        cur = self.db.execute(
            "UPDATE deliveries SET lease_until = ? WHERE period = ? AND lease_owner = ?",
            (self.db.epoch() + seconds, str(period), owner))
        return int(cur.rowcount)

    def release(self, period: Period, owner: str) -> int:
        """Give back this sender's rows it is not sending (at the end of a run, or a stop),
        so another sender need not wait for the lease to run out."""
        cur = self.db.execute(
            "UPDATE deliveries SET lease_owner = '', lease_until = 0 "
            "WHERE period = ? AND lease_owner = ? AND state != 'sending'",
            (str(period), owner))
        return int(cur.rowcount)

    def claim(self, period: Period, email: str, expected: DeliveryState, message_id: str,
              owner: str) -> Claim:
        """Mark the row "sending", fenced: only while this sender's lease holds, the row is
        as it was leased, and the subscriber is still active. Committed before the message
        goes out, so "sending" means "may have gone"."""
        p = {"p": str(period), "e": email, "x": str(expected), "m": message_id, "o": owner,
             "u": self.db.stamp(), "now": self.db.epoch()}
        with self.db.transaction():
            cur = self.db.execute(
                """UPDATE deliveries SET state = 'sending', attempts = attempts + 1,
                          message_id = :m, updated_at = :u
                   WHERE period = :p AND email = :e AND state = :x AND lease_owner = :o
                     AND lease_until > :now AND EXISTS
                         (SELECT 1 FROM subscribers WHERE email = :e AND status = 'active')""",
                p)
            if cur.rowcount == 1:
                return Claim.CLAIMED
            cur = self.db.execute(  # still ours and as leased: the subscriber left
                """UPDATE deliveries SET state = 'skipped', reason = :r, updated_at = :u,
                          lease_owner = '', lease_until = 0
                   WHERE period = :p AND email = :e AND state = :x AND lease_owner = :o
                     AND lease_until > :now""", {**p, "r": UNSUBSCRIBED})
            return Claim.LEFT if cur.rowcount == 1 else Claim.TAKEN

    def others(self, period: Period, owner: str) -> int:
        """Open rows other senders hold a lease on (the run waits for them: if such a
        sender dies, this one takes its rows over when the lease runs out)."""
        marks, states = _marks(OPEN)
        row = self.db.one(
            f"SELECT count(*) FROM deliveries WHERE period = ? AND state IN ({marks}) "
            "AND lease_owner != '' AND lease_owner != ?", (str(period), *states, owner))
        return int(row[0]) if row else 0
