"""Labels: the theme examples editors give — every `issue move` and every placement in an
approved or sent issue — and whether msdigest learns from them.

One example per summary and source: approving an issue again replaces its examples,
never adds to them. The on/off switch lives here, beside the examples, so every process
on the store (the desk, `msdigest run`, a send) sees a change at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..period import Period
from ..records import Example, Placement, Source
from .db import Repository

LEARNING_KEY = "themes.learning"
RECORDED_KEY = "themes.examples_recorded"  # counts every record(), for fingerprint()


class Labels(Repository):
    def record(self, period: Period, source: Source, placements: Iterable[Placement]) -> int:
        """Keep these as the examples of `source`, replacing any earlier ones of the same
        summaries from it; returns how many."""
        rows = [(p.summary_id, str(source), p.theme, str(period), int(p.correction),
                 self.db.stamp()) for p in placements]
        with self.db.transaction():
            self.db.executemany(
                "INSERT INTO theme_examples VALUES (?,?,?,?,?,?) ON CONFLICT (summary_id, "
                "source) DO UPDATE SET theme = excluded.theme, period = excluded.period, "
                "correction = excluded.correction, recorded_at = excluded.recorded_at", rows)
            self.db.execute(  # the fingerprint's counter: a replaced example changes it too
                "INSERT INTO meta VALUES (?, '1') ON CONFLICT (key) DO UPDATE SET value = "
                "CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)", (RECORDED_KEY,))
        return len(rows)

    def examples(self) -> list[Example]:
        """Every example with its summary's title and text, oldest period first."""
        rows = self.db.all(
            """SELECT e.summary_id, s.title, s.text, e.theme, e.source, e.period,
                      e.correction
               FROM theme_examples e JOIN summaries s ON s.id = e.summary_id
               ORDER BY e.period, e.summary_id, e.source""")
        return [Example(r[0], r[1], r[2], r[3], Source(r[4]), Period.parse(r[5]), bool(r[6]))
                for r in rows]

    def approved(self, summary_ids: Iterable[str]) -> dict[str, str]:
        """summary id -> the theme it had in an approved issue (for these summaries)."""
        wanted = list(summary_ids)
        out: dict[str, str] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            q = (f"SELECT summary_id, theme FROM theme_examples WHERE source = ? AND "
                 f"summary_id IN ({','.join('?' * len(chunk))})")
            out.update({r[0]: r[1] for r in self.db.all(q, [str(Source.APPROVED), *chunk])})
        return out

    def counts(self) -> dict[Source, int]:
        return {Source(r[0]): int(r[1]) for r in self.db.all(
            "SELECT source, count(*) FROM theme_examples GROUP BY source")}

    def fingerprint(self) -> tuple[int, int, str]:
        """Changes whenever an example is recorded (a counter in meta counts each time):
        the model is retrained then."""
        row = self.db.one("SELECT count(*), coalesce((SELECT CAST(value AS INTEGER) FROM meta "
                          "WHERE key = ?), 0), coalesce(max(recorded_at), '') "
                          "FROM theme_examples", (RECORDED_KEY,))
        return (int(row[0]), int(row[1]), str(row[2])) if row else (0, 0, "")

    def learning(self) -> bool:
        row = self.db.one("SELECT value FROM meta WHERE key = ?", (LEARNING_KEY,))
        return row is None or row[0] != "off"

    def set_learning(self, on: bool) -> None:
        self.db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) "
                        "DO UPDATE SET value = excluded.value",
                        (LEARNING_KEY, "on" if on else "off"))
