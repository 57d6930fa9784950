"""Store: one SQLite file, or one PostgreSQL database shared by several hosts, holding
summaries, subscribers, issues and the delivery ledger.

`Store.open(location)` gives one connection and a repository per concern:
`content` (summaries), `feeds` (their health), `subscribers`, `issues` (edits,
approvals, frozen issues), `ledger` (deliveries), `runs`, `bounces` (read from the
bounce mailbox), `editors`, `audit`, `signups`, `labels` (theme examples from
editors), `leases` (several senders sharing one issue's rows) and `budget` (their
shared send rate). They share the connection and its lock.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..clock import Clock, system_clock
from ..errors import StoreError
from ..location import Location
from .audit import Audit
from .bounces import Bounces
from .budget import Budget
from .content import Content
from .db import Database
from .editors import Editors
from .errors import describe
from .feeds import Feeds
from .issues import Issues
from .labels import Labels
from .leases import Leases
from .ledger import Ledger
from .runs import Runs
from .schema import VERSION, migrate, version
from .signups import Signups
from .subscribers import Subscribers

__all__ = ["Store"]


def _connect(path: Path, readonly: bool, busy: float) -> sqlite3.Connection:
    if readonly:
        if not path.is_file():
            raise StoreError(f"{path}: there is no store here yet; `msdigest collect` "
                             "creates it (or check [store] path)")
        uri = path.resolve().as_uri()
        try:
            connection = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=busy,
                                         isolation_level=None, check_same_thread=False)
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return connection
        except sqlite3.OperationalError:  # a WAL store on a read-only file system
            return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, timeout=busy,
                                   isolation_level=None, check_same_thread=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():  # every address and name is in here: private from the start
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    return sqlite3.connect(path, timeout=busy, isolation_level=None, check_same_thread=False)


class Store:
    def __init__(self, db: Database, where: Location) -> None:
        self.db = db
        self.where = where
        # the SQLite file, or for PostgreSQL its host:port/database (messages, cache keys)
        self.path = where.path or Path(str(where))
        self.content = Content(db)
        self.feeds = Feeds(db)
        self.subscribers = Subscribers(db)
        self.issues = Issues(db)
        self.ledger = Ledger(db)
        self.leases = Leases(db)
        self.budget = Budget(db)
        self.runs = Runs(db)
        self.editors = Editors(db)
        self.audit = Audit(db)
        self.signups = Signups(db)
        self.labels = Labels(db)
        self.bounces = Bounces(db)

    @classmethod
    def open(cls, where: Location | Path | str, clock: Clock | None = None,
             readonly: bool = False, busy: float = 30, pool_size: int = 10) -> Store:
        """Open (creating it, private, if needed) and migrate the store. `readonly`
        opens without writing anything, for commands that only read: they then work on a
        read-only file or file system too. `busy`: seconds to wait for another process's
        write to finish before giving up ("database is locked"). Without a `clock`,
        PostgreSQL's clock times what the store records (several hosts, one time)."""
        if not isinstance(where, Location):
            text = str(where)
            where = Location(url=text) if text.startswith(("postgresql:", "postgres:")) \
                else Location(path=Path(where))
        if where.path is None:
            from .postgres import open_database
            return cls(open_database(where, clock, readonly, busy, pool_size), where)
        return cls(cls._sqlite(where.path, clock or system_clock, readonly, busy), where)

    @staticmethod
    def _sqlite(path: Path, clock: Clock, readonly: bool, busy: float) -> Database:
        try:
            connection = _connect(path, readonly, busy)
        except sqlite3.Error as exc:
            raise StoreError(describe(exc, path)) from None
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the store: {exc.strerror}") from None
        try:
            connection.row_factory = sqlite3.Row
            found = version(connection)
            if found > VERSION:
                raise StoreError(f"{path}: made by a newer msdigest (schema {found}, this one "
                                 f"knows {VERSION}); upgrade msdigest to open it")
            if readonly:
                if found < VERSION:
                    raise StoreError(f"{path}: made by an older msdigest; run any command "
                                     "that changes it (e.g. `msdigest collect`) once, as a "
                                     "user who may write it, to bring it up to date")
            else:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.execute("PRAGMA foreign_keys=ON")
                migrate(connection)
        except sqlite3.Error as exc:
            connection.close()
            raise StoreError(describe(exc, path)) from None
        except BaseException:
            connection.close()
            raise
        return Database(connection, clock)

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
