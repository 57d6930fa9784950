"""Jobs waiting for their next attempt (a temporary failure, a deferred row)."""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable

from .rows import Job


class RetryQueue:
    """Jobs waiting for their next attempt, earliest first; wakes the feeder when
    a job is added or a worker finishes (the two things it waits for)."""

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, Job]] = []
        self.seq = 0
        self.busy = 0  # jobs handed to workers and not finished
        self.changed = threading.Condition()

    def push(self, job: Job, delay: float) -> None:
        with self.changed:
            self.seq += 1
            heapq.heappush(self.heap, (time.monotonic() + delay, self.seq, job))
            self.changed.notify_all()

    def taken(self) -> None:
        with self.changed:
            self.busy += 1

    def finished(self) -> None:
        with self.changed:
            self.busy -= 1
            self.changed.notify_all()

    def due(self) -> Job | None:
        with self.changed:
            if self.heap and self.heap[0][0] <= time.monotonic():
                return heapq.heappop(self.heap)[2]
            return None

    def wake(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def wait(self, halted: Callable[[], bool]) -> Job | None:
        """The next job once due; None when nothing waits or is in flight, or when halted."""
        with self.changed:
            while not halted():
                if self.heap:
                    wait = self.heap[0][0] - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self.heap)[2]
                elif self.busy == 0:
                    return None
                else:
                    wait = 0.2  # a job in flight may still be deferred
                self.changed.wait(min(wait, 0.2))
            return None
