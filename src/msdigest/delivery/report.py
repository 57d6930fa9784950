"""What one send did, counted as it goes (thread-safe) and summed up at the end."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from ..errors import Exit


class Outcome(StrEnum):
    """How one subscriber's attempt ended in this run."""

    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class Report:
    period: str
    total: int = 0
    sent: int = 0
    already: int = 0
    skipped: int = 0
    failed: int = 0
    deferred: int = 0
    remaining: int = 0  # not attempted yet (stopped or interrupted)
    duplicates: int = 0
    bounced: int = 0
    seconds: float = 0.0
    written: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    stopped: str = ""
    interrupted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, outcome: Outcome, email: str, reason: str = "",
               duplicate: bool = False) -> None:
        with self.lock:
            if outcome is Outcome.SENT:
                self.sent += 1
                self.duplicates += duplicate
            elif outcome is Outcome.FAILED:
                self.failed += 1
                self.failures.append((email, reason))
            else:
                self.skipped += 1

    def bounce(self) -> None:
        with self.lock:
            self.bounced += 1

    @property
    def exit_code(self) -> Exit:
        """What the command line ends with after this send."""
        if self.interrupted:
            return Exit.INTERRUPTED
        if self.stopped and not self.sent:
            return Exit.ERROR  # nothing went out (the server could not be reached, say)
        return Exit.OK if self.complete and not self.failed else Exit.PARTIAL

    @property
    def complete(self) -> bool:
        return not self.deferred and not self.remaining and not self.stopped

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def outcome(self) -> str:
        """How the run is recorded: ok, partial (some left or failed), error (nothing went
        out and it stopped) or interrupted."""
        if self.interrupted:
            return "interrupted"
        if self.stopped and not self.sent:
            return "error"
        return "ok" if self.complete else "partial"

    @property
    def line(self) -> str:
        """What the log says: "4,981 sent, 2 failed, 17 deferred"."""
        parts = [f"{self.sent:,} sent", f"{self.failed:,} failed", f"{self.deferred:,} deferred"]
        for n, what in ((self.already, "sent before"), (self.skipped, "skipped"),
                        (self.remaining, "not attempted yet"), (self.bounced, "marked bounced")):
            if n:
                parts.append(f"{n:,} {what}")
        return ", ".join(parts) + (f"; stopped: {self.stopped}" if self.stopped else "")

    @property
    def counts(self) -> dict[str, int]:
        return {"sent": self.sent, "already": self.already, "skipped": self.skipped,
                "failed": self.failed, "deferred": self.deferred, "remaining": self.remaining,
                "duplicates": self.duplicates, "bounced": self.bounced, "total": self.total}
