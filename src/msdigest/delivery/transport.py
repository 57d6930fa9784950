"""The transport seam: how messages leave, whatever carries them.

A transport is one connection's worth of state (a worker owns one). `open` makes it
ready to send (a no-op when it already is), `send` hands over one message for one
recipient, `close` lets go. Failures are one of three kinds, which the send run
alone turns into ledger states: Temporary (retry later), Permanent (the server
refused this recipient or message), Unavailable (cannot reach the server at all).
Like Django's mail backends: SMTP, an outbox of .eml files, and memory for tests.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..errors import UsageError


class TemporaryFailure(Exception):
    """Try again later (4xx, a dropped connection, a timeout)."""

    def __init__(self, reason: str, maybe_delivered: bool = False) -> None:
        super().__init__(reason)
        self.maybe_delivered = maybe_delivered  # the message went out, its reply did not come


class PermanentFailure(Exception):
    """The server refused this recipient or message (5xx): do not retry."""


class ServerUnavailable(Exception):
    """The server cannot be reached now; connecting again later may work."""


class Transport(Protocol):
    def open(self) -> None:
        """Be ready to send. Raises ServerUnavailable, or DeliveryError for a setting
        that no retry will fix (a refused login, a failed TLS handshake)."""

    def send(self, envelope_from: str, rcpt: str, data: bytes) -> None:
        """Hand over one message; raises TemporaryFailure or PermanentFailure."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class Sent:
    envelope_from: str
    rcpt: str
    data: bytes


@dataclass
class Memory:
    """Keeps every message in `outbox` (shared by all the connections made from it)."""

    outbox: list[Sent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def connection(self) -> MemoryConnection:
        return MemoryConnection(self)


class MemoryConnection:
    def __init__(self, memory: Memory) -> None:
        self.memory = memory

    def open(self) -> None:
        pass

    def send(self, envelope_from: str, rcpt: str, data: bytes) -> None:
        with self.memory.lock:
            self.memory.outbox.append(Sent(envelope_from, rcpt, data))

    def close(self) -> None:
        pass


def safe_name(email: str) -> str:
    return "".join(c if c.isalnum() or c in "@.-_" else "_" for c in email)


class Outbox:
    """Writes each message as an .eml file into a private folder (0700, files 0600):
    they carry working signed links, so they are as private as the store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: list[Path] = []
        self.lock = threading.Lock()
        self.prepared = False

    def connection(self) -> OutboxConnection:
        return OutboxConnection(self)

    def prepare(self) -> None:
        """Create the private folder; UsageError if it cannot be one."""
        if self.prepared:
            return
        if self.folder.exists() and not self.folder.is_dir():
            raise UsageError(f"the outbox {self.folder} is not a folder; give --outbox a "
                             "folder")
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create the outbox {self.folder}: {exc.strerror}") from None
        if not self.folder.is_dir():
            raise UsageError(f"the outbox {self.folder} is not a folder; give --outbox a "
                             "folder")
        self.prepared = True

    def write(self, rcpt: str, data: bytes) -> Path:
        with self.lock:
            path = self.folder / f"{len(self.written) + 1:06d}-{safe_name(rcpt)}.eml"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            self.written.append(path)
            return path


class OutboxConnection:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def open(self) -> None:
        self.outbox.prepare()

    def send(self, envelope_from: str, rcpt: str, data: bytes) -> None:
        try:
            self.outbox.write(rcpt, data)
        except OSError as exc:
            raise TemporaryFailure(f"cannot write to {self.outbox.folder}: {exc.strerror}"
                                   ) from None

    def close(self) -> None:
        pass
