"""Send budgets in the database: one token bucket per name, shared by every sender on
every host, so `[smtp] max_per_second` and `max_per_hour` hold for the whole fleet."""

from __future__ import annotations

from .db import Repository


class Budget(Repository):
    def take(self, name: str, rate: float, burst: float) -> float:
        """Spend one token of the bucket `name` (refilled at `rate` per second, holding at
        most `burst`); returns how long to wait before the message may go (0: now). A
        token spent ahead is a place in the queue: waits add up across senders."""
        now = self.db.epoch()
        with self.db.transaction():
            self.db.execute("INSERT INTO send_budget VALUES (?, ?, ?) ON CONFLICT (name) "
                            "DO NOTHING", (name, burst, now))
            row = self.db.one(
                """UPDATE send_budget SET
                     tokens = CASE WHEN tokens + (:now - updated) * :rate > :burst THEN :burst
                                   ELSE tokens + (:now - updated) * :rate END - 1,
                     updated = CASE WHEN :now > updated THEN :now ELSE updated END
                   WHERE name = :name RETURNING tokens""",
                {"name": name, "now": now, "rate": rate, "burst": burst})
        tokens = float(row[0]) if row else 0.0
        return max(0.0, -tokens / rate)
