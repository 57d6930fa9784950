"""Pacing: spaces sends evenly to `per_second`, and holds to `per_hour` in any rolling hour.

`Limiter` paces one process; `SharedLimiter` paces every sender of a store at once,
through token buckets in the database (store.budget): the limits are the relay's, and
the relay does not care how many hosts send.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol


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


class Budgets(Protocol):
    def take(self, name: str, rate: float, burst: float) -> float: ...


class SharedLimiter:
    """The limits for all senders together: a token per message from each bucket."""

    def __init__(self, budget: Budgets, per_second: float, per_hour: int) -> None:
        self.budget = budget
        self.per_second = per_second
        self.per_hour = per_hour

    def wait(self, stop: threading.Event) -> bool:
        delay = 0.0
        if self.per_second > 0:  # a tenth of a second's worth may go at once
            delay = self.budget.take("second", self.per_second, max(1.0, self.per_second / 10))
        if self.per_hour > 0:
            delay = max(delay, self.budget.take("hour", self.per_hour / 3600, self.per_hour))
        return not stop.wait(delay) if delay > 0 else not stop.is_set()
