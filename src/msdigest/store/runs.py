"""Runs: every collect, send and bounce check, by the scheduler or by hand — when, how it
ended and what it counted (what `msdigest status` lists)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..clock import from_iso, iso
from ..errors import MsdigestError, Refused
from ..records import RunRecord, StartedBy
from .db import Repository


@dataclass
class Run:
    """A run under way: what it will be recorded as when it ends."""

    id: int
    outcome: str = "ok"  # ok | partial | refused | error | interrupted
    detail: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def end(self, outcome: str, detail: str, counts: dict[str, int] | None = None) -> None:
        self.outcome, self.detail, self.counts = outcome, detail, dict(counts or {})


JOBS_TABLE = "apscheduler_jobs"  # where `msdigest run` keeps its jobs, in this same file


class Runs(Repository):
    def take_due(self, job: str, due: datetime, by: str) -> bool:
        """The first to ask runs `job` for this due time; every later asker is told no
        (several hosts' ticks, one collect per due time)."""
        cur = self.db.execute("INSERT INTO due_jobs VALUES (?, ?, ?, ?) ON CONFLICT "
                              "(job, due) DO NOTHING", (job, iso(due), by, self.db.stamp()))
        return cur.rowcount == 1

    def start(self, job: str, started_by: StartedBy = StartedBy.SCHEDULE) -> int:
        row = self.db.one("INSERT INTO runs (job, started_at, started_by) VALUES (?, ?, ?) "
                          "RETURNING id", (job, self.db.stamp(), str(started_by)))
        return int(row[0]) if row else 0

    def finish(self, run_id: int, outcome: str, detail: str = "",
               counts: dict[str, int] | None = None) -> None:
        self.db.execute("UPDATE runs SET finished_at=?, outcome=?, detail=?, counts=? WHERE id=?",
                        (self.db.stamp(), outcome, detail, json.dumps(counts or {}), run_id))

    @contextmanager
    def recording(self, job: str, started_by: StartedBy) -> Iterator[Run]:
        """A run recorded as it starts and as it ends, however it ends: the caller says
        how with `run.end(...)`; an error on the way out is recorded as what it was."""
        run = Run(self.start(job, started_by))
        try:
            yield run
        except Refused as exc:
            run.end("refused", str(exc))
            raise
        except MsdigestError as exc:
            run.end("error", str(exc))
            raise
        except KeyboardInterrupt:
            run.end("interrupted", "interrupted")
            raise
        except Exception as exc:
            run.end("error", f"unexpected error: {type(exc).__name__}: {exc}")
            raise
        finally:
            self.finish(run.id, run.outcome, run.detail, run.counts)

    def recent(self, limit: int = 20) -> list[RunRecord]:
        rows = self.db.all("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        return [RunRecord(r["id"], r["job"], from_iso(r["started_at"]),
                          from_iso(r["finished_at"]) if r["finished_at"] else None,
                          r["outcome"], r["detail"], StartedBy(r["started_by"]),
                          {k: int(v) for k, v in json.loads(r["counts"] or "{}").items()})
                for r in rows]

    def scheduled(self) -> dict[str, datetime | None] | None:
        """Each scheduled job's next run time, as `msdigest run` stored it (None: paused);
        None if no scheduler has used this store."""
        if not self.db.has_table(JOBS_TABLE):
            return None
        rows = self.db.all(f"SELECT id, next_run_time FROM {JOBS_TABLE} ORDER BY id")
        return {r["id"]: datetime.fromtimestamp(r["next_run_time"], UTC)
                if r["next_run_time"] is not None else None for r in rows}
