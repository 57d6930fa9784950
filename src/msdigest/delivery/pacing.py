"""Pacing: spaces sends evenly to `per_second`, and holds to `per_hour` in any rolling hour."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class Limiter:
    def __init__(self, per_second: float, per_hour: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.per_hour = per_hour
        self.clock = clock
        self.next = 0.0
        self.window: deque[float] = deque()
        self.lock = threading.Lock()

    def reserve(self) -> float:
        """Book the next start time (on `clock`) for one message."""
        with self.lock:
            at = max(self.clock(), self.next)
            if self.per_hour:
                while self.window and self.window[0] <= at - 3600:
                    self.window.popleft()
                if len(self.window) >= self.per_hour:
                    at = max(at, self.window.popleft() + 3600)
                self.window.append(at)
            self.next = at + self.interval
            return at

    def wait(self, stop: threading.Event) -> bool:
        """Block until the next send may start; False if `stop` was set meanwhile."""
        if not self.interval and not self.per_hour:
            return not stop.is_set()
        delay = self.reserve() - self.clock()
        return not stop.wait(delay) if delay > 0 else not stop.is_set()
