"""Backup and restore of the store through SQLite's online backup API.

A backup is a consistent copy taken while msdigest runs (what the WAL holds included),
checked, private, one self-contained file. A restore checks the copy, keeps the store it
replaces beside it (with its -wal and -shm, which must never be replayed over another
database), and writes the copy into place through SQLite.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from ..errors import StoreError, UsageError
from .errors import describe
from .schema import VERSION, version


def _new_private(path: Path) -> None:
    if path.exists():
        raise UsageError(f"{path}: already exists; give a new file (nothing is written over)")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _checked(db: sqlite3.Connection, path: Path) -> int:
    """The copy's schema version, once SQLite finds nothing wrong with it."""
    problem = db.execute("PRAGMA integrity_check").fetchone()[0]
    if problem != "ok":
        raise StoreError(f"{path}: damaged ({problem})")
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name='deliveries'").fetchone():
        raise StoreError(f"{path}: not an msdigest store (no delivery ledger in it)")
    return version(db)


def backup(connection: sqlite3.Connection, target: Path) -> None:
    """Copy the store open on `connection` into the new file `target` (0600)."""
    _new_private(target)
    try:
        dest = sqlite3.connect(target)
        try:
            connection.backup(dest)
            _checked(dest, target)
            dest.execute("PRAGMA journal_mode=DELETE")  # one file: nothing beside it to lose
        finally:
            dest.close()
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise StoreError(describe(exc, target)) from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def restore(source: Path, store: Path) -> Path | None:
    """Put the backup `source` in place of the store at `store` (which no msdigest may
    have open); returns where the replaced store was kept (None if there was none)."""
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(describe(exc, source)) from None
    try:
        try:
            found = _checked(src, source)
        except sqlite3.Error as exc:
            raise StoreError(describe(exc, source)) from None
        if found > VERSION:
            raise StoreError(f"{source}: made by a newer msdigest (schema {found}, this one "
                             f"knows {VERSION}); restore it with that version")
        kept = None
        if store.exists():
            kept = store.with_name(f"{store.name}.replaced-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
            for suffix in ("", "-wal", "-shm"):
                old = Path(f"{store}{suffix}")
                if old.exists():
                    old.rename(f"{kept}{suffix}")
        _new_private(store)
        dest = sqlite3.connect(store)
        try:
            src.backup(dest)
            dest.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise StoreError(describe(exc, store)) from None
        finally:
            dest.close()
        return kept
    finally:
        src.close()
