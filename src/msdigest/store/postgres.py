"""PostgreSQL under the store: a psycopg 3 connection that speaks enough of sqlite3's
interface (execute, rows by name or index, rowcount) for the repositories to run on
either database unchanged. Connections come from one pool per URL (psycopg_pool).

Optional: `pip install msdigest[postgres]`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from ..clock import Clock
from ..errors import ConfigError, StoreError
from ..location import Location, where
from .db import Database
from .dialect import pyformat
from .schema import VERSION, pg_migrate, pg_version

ENV_PASSWORD = "MSDIGEST_STORE_PASSWORD"


class Row:
    """A result row: by column name (row["email"]) or position (row[0])."""

    __slots__ = ("names", "values")

    def __init__(self, names: dict[str, int], values: Sequence[Any]) -> None:
        self.names = names
        self.values = values

    def __getitem__(self, key: int | str) -> Any:
        return self.values[key] if isinstance(key, int) else self.values[self.names[key]]

    def keys(self) -> list[str]:
        return list(self.names)


def _rows(cursor: Any) -> Any:
    names = {d.name: i for i, d in enumerate(cursor.description or ())}
    return lambda values: Row(names, values)


class Cursor:
    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.rowcount: int = cursor.rowcount
        self.lastrowid = None

    def fetchone(self) -> Row | None:
        return self.cursor.fetchone() if self.cursor.description else None

    def fetchall(self) -> list[Row]:
        return list(self.cursor.fetchall()) if self.cursor.description else []


class Connection:
    """The sqlite3.Connection interface the store uses, over a pooled psycopg connection."""

    dialect = "postgresql"

    def __init__(self, pool: Any, conn: Any, where: str) -> None:
        self.pool = pool
        self.conn = conn
        self.where = where

    def execute(self, sql: str, args: Any = ()) -> Cursor:
        import psycopg
        try:
            if not args:  # as written: no placeholders to translate (DDL, literal %)
                return Cursor(self.conn.execute(sql.encode()))
            return Cursor(self.conn.execute(pyformat(sql), args))
        except psycopg.Error as exc:
            raise StoreError(f"{self.where}: {_reason(exc)}") from exc

    def executemany(self, sql: str, rows: Iterable[Any]) -> Cursor:
        import psycopg
        try:
            with self.conn.cursor() as cur:
                cur.executemany(pyformat(sql), list(rows))
                return Cursor(cur)
        except psycopg.Error as exc:
            raise StoreError(f"{self.where}: {_reason(exc)}") from exc

    @property
    def in_transaction(self) -> bool:
        import psycopg
        return bool(self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)

    def close(self) -> None:
        if self.in_transaction:
            self.conn.execute("ROLLBACK")
        self.pool.putconn(self.conn)


_pools: dict[str, Any] = {}
_pools_lock = threading.Lock()


def _reason(exc: BaseException) -> str:
    lines = [x.strip() for x in str(exc).strip().splitlines() if x.strip()]
    return lines[0] if lines else type(exc).__name__


def _password(url: str) -> dict[str, Any]:
    """The password from MSDIGEST_STORE_PASSWORD (else libpq's own: the URL, PGPASSWORD,
    ~/.pgpass); never from the config file."""
    secret = os.environ.get(ENV_PASSWORD)
    return {"password": secret} if secret else {}


def connect(url: str, busy: float = 30, pool_size: int = 10) -> Connection:
    """A pooled connection to the database at `url`; one pool per URL and process."""
    try:
        import psycopg
        from psycopg_pool import ConnectionPool
    except ImportError:
        raise ConfigError("[store] url is a postgresql:// URL, but psycopg is not installed: "
                          "pip install 'msdigest[postgres]'") from None
    with _pools_lock:
        pool = _pools.get(url)
        if pool is None:
            # client-side binding: values are typed as SQLite would take them (a None
            # compared, a number in a text column), one round trip per statement
            extra: dict[str, Any] = {"autocommit": True, "row_factory": _rows,
                                     "cursor_factory": psycopg.ClientCursor,
                                     **_password(url)}
            try:  # once, directly: a wrong URL fails at once, with the server's reason
                psycopg.connect(url, connect_timeout=10, **extra).close()
            except psycopg.Error as exc:
                raise ConfigError(f"cannot connect to PostgreSQL at {where(url)}: "
                                  f"{_reason(exc)} (check [store] url, and {ENV_PASSWORD} if "
                                  "it needs a password)") from None
            pool = ConnectionPool(url, min_size=1, max_size=pool_size, kwargs=extra,
                                  timeout=busy, open=True, name=where(url))
            _pools[url] = pool
    try:
        conn = pool.getconn(timeout=busy)
    except Exception as exc:  # PoolTimeout, or the server went away
        raise StoreError(f"cannot connect to PostgreSQL at {where(url)}: {_reason(exc)}"
                         ) from None
    return Connection(pool, conn, where(url))


def close_all() -> None:
    """Close every pool (at exit, or between tests that drop their database)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


class ServerClock:
    """The database server's clock, read as an offset from this host's: every host then
    stamps rows (and leases) with one time. Measured again every minute."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.offset = 0.0
        self.measured = -1e9
        self.lock = threading.Lock()
        self.measure()

    def measure(self) -> None:
        before = time.time()
        row = self.conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
        after = time.time()
        assert row is not None
        self.offset = float(row[0]) - (before + after) / 2
        self.measured = time.monotonic()

    def __call__(self) -> datetime:
        if time.monotonic() - self.measured > 60 and self.lock.acquire(blocking=False):
            try:
                self.measure()
            except StoreError:
                pass  # keep the last offset; the next statement reports the failure
            finally:
                self.lock.release()
        return datetime.fromtimestamp(time.time() + self.offset, UTC)


def open_database(location: Location, clock: Clock | None, readonly: bool, busy: float,
                  pool_size: int) -> Database:
    conn = connect(location.url, busy, pool_size)
    try:
        found = pg_version(conn)
        if found > VERSION:
            raise StoreError(f"{location}: made by a newer msdigest (schema {found}, this one "
                             f"knows {VERSION}); upgrade msdigest to open it")
        if readonly and found < VERSION:
            raise StoreError(f"{location}: " + ("there is no store here yet; `msdigest "
                             "collect` creates it" if found == 0 else "made by an older "
                             "msdigest; run any command that changes it once (e.g. "
                             "`msdigest collect`) to bring it up to date"))
        if not readonly:
            pg_migrate(conn)
        return Database(conn, clock or ServerClock(conn), postgres=True)
    except BaseException:
        conn.close()
        raise
