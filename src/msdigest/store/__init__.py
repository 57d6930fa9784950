"""Store: one SQLite file holding summaries, subscribers, issues and the delivery ledger.

`Store.open(path)` gives one connection and a repository per concern:
`content` (summaries, feeds), `subscribers`, `issues` (edits, approvals, frozen
issues), `ledger` (deliveries) and `runs`. They share the connection and its lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..clock import Clock, system_clock
from ..errors import StoreError
from .content import Content
from .db import Database
from .issues import Issues
from .ledger import Ledger
from .runs import Runs
from .schema import VERSION, migrate, version
from .subscribers import Subscribers

__all__ = ["Store"]


class Store:
    def __init__(self, db: Database, path: Path) -> None:
        self.db = db
        self.path = path
        self.content = Content(db)
        self.subscribers = Subscribers(db)
        self.issues = Issues(db)
        self.ledger = Ledger(db)
        self.runs = Runs(db)

    @classmethod
    def open(cls, path: Path | str, clock: Clock = system_clock) -> Store:
        """Open (creating if needed) and migrate the store file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=30, isolation_level=None,
                                     check_same_thread=False)
        try:
            connection.row_factory = sqlite3.Row
            found = version(connection)
            if found > VERSION:
                raise StoreError(f"{path}: made by a newer msdigest (schema {found}, this one "
                                 f"knows {VERSION}); upgrade msdigest to open it")
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            migrate(connection)
        except BaseException:
            connection.close()
            raise
        return cls(Database(connection, clock), path)

    def close(self) -> None:
        self.db.connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.db.transaction():
            yield
