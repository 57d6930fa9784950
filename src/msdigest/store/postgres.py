"""PostgreSQL under the store: a psycopg 3 connection that speaks enough of sqlite3's
interface (execute, rows by name or index, rowcount) for the repositories to run on
either database unchanged. Connections come from one pool per URL (psycopg_pool).

Optional: `pip install msdigest[postgres]`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError, StoreError
from .dialect import pyformat

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

    def __init__(self, pool: Any, conn: Any) -> None:
        self.pool = pool
        self.conn = conn

    def execute(self, sql: str, args: Any = ()) -> Cursor:
        return Cursor(self.conn.execute(pyformat(sql), args or None))

    def executemany(self, sql: str, rows: Iterable[Any]) -> Cursor:
        with self.conn.cursor() as cur:
            cur.executemany(pyformat(sql), list(rows))
            return Cursor(cur)

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


def where(url: str) -> str:
    """host:port/database, for messages (never the password)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


def connect(url: str, busy: float = 30) -> Connection:
    try:
        import psycopg
        from psycopg_pool import ConnectionPool
    except ImportError:
        raise ConfigError("[store] url is a postgresql:// URL, but psycopg is not installed: "
                          "pip install 'msdigest[postgres]'") from None
    with _pools_lock:
        pool = _pools.get(url)
        if pool is None:
            extra: dict[str, Any] = {"autocommit": True, "row_factory": _rows}
            if os.environ.get(ENV_PASSWORD):
                extra["password"] = os.environ[ENV_PASSWORD]
            try:  # once, directly: a wrong URL fails at once, with the server's reason
                psycopg.connect(url, connect_timeout=10, **extra).close()
            except psycopg.Error as exc:
                reason = str(exc).strip().splitlines()[-1].strip()
                raise ConfigError(f"cannot connect to PostgreSQL at {where(url)}: {reason} "
                                 f"(check [store] url, and {ENV_PASSWORD} if it needs a "
                                 "password)") from None
            pool = ConnectionPool(url, min_size=1, max_size=10, kwargs=extra, timeout=busy)
            _pools[url] = pool
    try:
        conn = pool.getconn(timeout=busy)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to PostgreSQL at {where(url)}: {exc}") from None
    return Connection(pool, conn)
