"""SIGINT and SIGTERM as a request to stop, for every long-running command."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def stop_on_signals(stop: threading.Event, first: Callable[[str], object] | None = None,
                    second_aborts: bool = False) -> Iterator[threading.Event]:
    """While inside, SIGINT/SIGTERM set `stop` (calling `first` with the signal's name);
    with `second_aborts`, a second one raises KeyboardInterrupt. Outside the main thread
    (tests run services in threads) signals cannot be caught, and nothing is installed."""
    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and second_aborts:
            raise KeyboardInterrupt
        if first is not None and not stop.is_set():
            first(signal.Signals(signum).name)
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
