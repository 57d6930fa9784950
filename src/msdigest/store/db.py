"""One connection (SQLite, or PostgreSQL through store.postgres) shared by the store's
repositories, with the lock that guards it.

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
from typing import Any, Protocol

from ..clock import Clock, iso


class Connection(Protocol):
    """What the store needs of a connection: sqlite3's, or store.postgres's over psycopg."""

    def execute(self, sql: str, args: Any = ..., /) -> Any: ...
    def executemany(self, sql: str, rows: Any, /) -> Any: ...
    def close(self) -> None: ...
    @property
    def in_transaction(self) -> bool: ...


class Database:
    def __init__(self, connection: sqlite3.Connection | Connection, clock: Clock,
                 postgres: bool = False) -> None:
        self.connection: Any = connection
        self.clock = clock
        self.postgres = postgres
        # SQLite takes the write lock at BEGIN IMMEDIATE; PostgreSQL locks rows as it goes
        self.begin = "BEGIN" if postgres else "BEGIN IMMEDIATE"
        # rows another sender is claiming right now are passed over, not waited for
        self.skip_locked = " FOR UPDATE SKIP LOCKED" if postgres else ""
        self.lock = threading.RLock()
        self._depth = 0  # transactions open on this connection (nested ones join)

    def now(self) -> datetime:
        return self.clock()

    def stamp(self) -> str:
        return iso(self.clock())

    def epoch(self) -> float:
        """Now in seconds (leases and the send budget compare these, across hosts)."""
        return self.clock().timestamp()

    def execute(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        with self.lock:
            cursor: sqlite3.Cursor = self.connection.execute(sql, args)
            return cursor

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        with self.lock:
            cursor: sqlite3.Cursor = self.connection.executemany(sql, rows)
            return cursor

    def one(self, sql: str, args: Any = ()) -> sqlite3.Row | None:
        with self.lock:
            row: sqlite3.Row | None = self.connection.execute(sql, args).fetchone()
            return row

    def all(self, sql: str, args: Any = ()) -> list[sqlite3.Row]:
        with self.lock:
            rows: list[sqlite3.Row] = self.connection.execute(sql, args).fetchall()
            return rows

    def has_table(self, name: str) -> bool:
        sql = ("SELECT 1 FROM information_schema.tables WHERE table_name = ?" if self.postgres
               else "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?")
        return self.one(sql, (name,)) is not None

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
            self.connection.execute(self.begin)
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
