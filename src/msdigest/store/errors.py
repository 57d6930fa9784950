"""SQLite's errors in words a person can act on: which file, what happened, what to do."""

from __future__ import annotations

import sqlite3

# Writes that failed. A full disk is SQLITE_FULL only when write() says ENOSPC; EFBIG (a
# file-size limit, `ulimit -f`), a full disk met while growing the -shm file, or EIO all
# come back as these "disk I/O error"s.
WRITE_FAILED = frozenset({"SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_DIR_FSYNC",
                          "SQLITE_IOERR_TRUNCATE", "SQLITE_IOERR_SHMSIZE"})


def describe(exc: sqlite3.Error, path: object) -> str:
    text = str(exc)
    low = text.lower()
    if getattr(exc, "sqlite_errorname", "") in WRITE_FAILED:
        return (f"{path}: could not write the store ({text}): the disk may be full, a "
                "file-size limit (ulimit -f) reached, or the disk failing; free some space "
                "and run the command again: it resumes where it stopped")
    if "not a database" in low or "malformed" in low:
        return (f"{path}: the store is damaged ({text}); nothing was sent. Restore it from "
                "a backup, or move it aside to start an empty one")
    if "full" in low:
        return (f"{path}: the disk is full ({text}); free some space and run the command "
                "again: it resumes where it stopped")
    if "readonly" in low or "read-only" in low:
        return (f"{path}: the store is read-only for this user; this command changes it, so "
                "run it as a user who may write the file and its folder")
    if "unable to open" in low:
        return (f"{path}: cannot open the store ({text}); check that the folder exists and "
                "that this user may read (and for changes, write) it")
    if "locked" in low or "busy" in low:
        return (f"{path}: the store stayed locked by another msdigest for 30 s; try again "
                "when it has finished")
    if "disk i/o" in low:
        return f"{path}: the disk failed to read or write the store ({text}); check the disk"
    return f"{path}: store error: {text}"
