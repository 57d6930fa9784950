"""Editors: who may sign in to the desk, their sessions, and failed sign-ins."""

from __future__ import annotations

from datetime import datetime

from ..clock import from_iso, iso
from ..records import Editor, SessionRecord
from .db import Repository


class Editors(Repository):
    def add(self, email: str, name: str, password_hash: str) -> bool:
        """False if the address already has an account (nothing changed)."""
        cur = self.db.execute("INSERT INTO editors VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                              (email, name, password_hash, self.db.stamp()))
        return cur.rowcount == 1

    def set_password(self, email: str, password_hash: str) -> bool:
        cur = self.db.execute("UPDATE editors SET password=? WHERE email=?",
                              (password_hash, email))
        return cur.rowcount == 1

    def get(self, email: str) -> Editor | None:
        row = self.db.one("SELECT * FROM editors WHERE email=?", (email,))
        return Editor(row["email"], row["name"], row["password"],
                      from_iso(row["created_at"])) if row else None

    def all(self) -> list[Editor]:
        return [Editor(r["email"], r["name"], r["password"], from_iso(r["created_at"]))
                for r in self.db.all("SELECT * FROM editors ORDER BY email")]

    def remove(self, email: str) -> bool:
        """Also ends their sessions (ON DELETE CASCADE)."""
        cur = self.db.execute("DELETE FROM editors WHERE email=?", (email,))
        return cur.rowcount == 1

    # --- sessions (only a hash of the cookie's token is kept) ------------------------------

    def open_session(self, token_hash: str, email: str, csrf: str) -> None:
        stamp = self.db.stamp()
        self.db.execute("INSERT INTO sessions VALUES (?,?,?,?,?)",
                        (token_hash, email, csrf, stamp, stamp))

    def session(self, token_hash: str) -> SessionRecord | None:
        row = self.db.one("SELECT s.*, e.name FROM sessions s JOIN editors e USING (email) "
                          "WHERE token_hash=?", (token_hash,))
        return SessionRecord(row["token_hash"], row["email"], row["name"], row["csrf"],
                             from_iso(row["created_at"]), from_iso(row["seen_at"])
                             ) if row else None

    def touch(self, token_hash: str) -> None:
        self.db.execute("UPDATE sessions SET seen_at=? WHERE token_hash=?",
                        (self.db.stamp(), token_hash))

    def close_session(self, token_hash: str) -> None:
        self.db.execute("DELETE FROM sessions WHERE token_hash=?", (token_hash,))

    def close_idle(self, before: datetime) -> None:
        self.db.execute("DELETE FROM sessions WHERE seen_at < ?", (iso(before),))

    # --- failed sign-ins, by account and by address ------------------------------------------

    def failures(self, key: str) -> tuple[int, datetime | None]:
        row = self.db.one("SELECT failures, last_at FROM signin_failures WHERE key=?", (key,))
        return (int(row["failures"]), from_iso(row["last_at"])) if row else (0, None)

    def failed(self, key: str) -> None:
        self.db.execute(
            "INSERT INTO signin_failures VALUES (?, 1, ?) ON CONFLICT(key) DO UPDATE SET "
            "failures = signin_failures.failures + 1, last_at = excluded.last_at",
            (key, self.db.stamp()))

    def succeeded(self, key: str) -> None:
        self.db.execute("DELETE FROM signin_failures WHERE key=?", (key,))
