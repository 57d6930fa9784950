"""A real PostgreSQL server for the tests: a database of their own per test.

The server is MSDIGEST_TEST_POSTGRES (default: the one on this project's machines,
postgresql://postgres@127.0.0.1:5432/test, trust auth). When none answers, PostgreSQL
tests skip with the reason, except under CI=true, where they fail: CI must run them.
"""

from __future__ import annotations

import os
import uuid
from functools import cache
from urllib.parse import urlsplit, urlunsplit

import pytest

ADMIN_URL = os.environ.get("MSDIGEST_TEST_POSTGRES",
                           "postgresql://postgres@127.0.0.1:5432/test")


@cache
def unavailable() -> str:
    """Why there is no server to test against ("" when there is one)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    try:
        psycopg.connect(ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL at {ADMIN_URL}: {str(exc).strip().splitlines()[-1]}"
    return ""


def require() -> None:
    reason = unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; under CI=true the PostgreSQL tests must run")
        pytest.skip(reason)


def _admin(sql: str) -> None:
    import psycopg
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.encode())


def create_database() -> str:
    """A new, empty database; its URL."""
    name = f"msdigest_t_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


def drop_database(url: str) -> None:
    from msdigest.store.postgres import close_all
    close_all()
    name = urlsplit(url).path.strip("/")
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
