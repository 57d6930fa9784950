"""One SQLite connection shared by the store's repositories, with the lock that guards it.

The connection is used from several threads (the send's workers, the web pages), so
the store owns one re-entrant lock: every repository method and every transaction
holds it, and callers need no lock of their own.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ..clock import Clock, iso


class Database:
    def __init__(self, connection: sqlite3.Connection, clock: Clock) -> None:
        self.connection = connection
        self.clock = clock
        self.lock = threading.RLock()
        self._depth = 0  # transactions open on this connection (nested ones join)

    def now(self) -> datetime:
        return self.clock()

    def stamp(self) -> str:
        return iso(self.clock())

    def execute(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.connection.execute(sql, args)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        with self.lock:
            return self.connection.executemany(sql, rows)

    def one(self, sql: str, args: Any = ()) -> sqlite3.Row | None:
        with self.lock:
            row: sqlite3.Row | None = self.connection.execute(sql, args).fetchone()
            return row

    def all(self, sql: str, args: Any = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.connection.execute(sql, args).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any exception; nested calls join."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self.connection.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self.connection.execute("ROLLBACK")
                raise
            self._depth = 0
            try:
                self.connection.execute("COMMIT")
            except BaseException:  # a full disk, say: leave no transaction open
                if self.connection.in_transaction:
                    self.connection.execute("ROLLBACK")
                raise


class Repository:
    """Base of the store's repositories: they share one Database."""

    def __init__(self, db: Database) -> None:
        self.db = db
