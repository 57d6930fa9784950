"""Locks beside the store file: one sender per issue, one scheduler per store.

An OS lock (flock) on a small file next to the store: the kernel releases it when
the holder exits, however it exits (kill -9 included), so a stale lock never needs
cleaning up. The file names who holds it, for the message the next one reads.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ..errors import Refused


class Busy(Refused):
    """Another msdigest process holds the lock; the message says which and what to do."""


@contextmanager
def exclusive(path: Path, what: str, advice: str) -> Iterator[None]:
    """Hold the lock at `path` while inside; Busy at once if another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 300, 0).decode("utf-8", "replace").strip() or "another process"
            raise Busy(f"{what} is already running ({holder}); {advice}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, (f"pid {os.getpid()} on {socket.gethostname()} since "
                       f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC").encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_file(store_path: Path, name: str) -> Path:
    return store_path.with_name(f"{store_path.name}.{name}.lock")
