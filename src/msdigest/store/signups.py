"""Sign-ups waiting for their confirmation, the consent texts people agreed to, the
suppression list of erased addresses (one-way hashes only), and rate limits."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from ..clock import from_iso, iso
from ..records import Signup
from .db import Repository


class Signups(Repository):
    def request(self, email: str, name: str, themes: tuple[str, ...], consent_version: str
                ) -> Signup:
        """Record (or renew) a pending sign-up; the confirmation link names its time."""
        stamp = self.db.stamp()
        self.db.execute(
            "INSERT INTO signups VALUES (?,?,?,?,?) ON CONFLICT(email) DO UPDATE SET "
            "name=excluded.name, themes=excluded.themes, "
            "consent_version=excluded.consent_version, requested_at=excluded.requested_at",
            (email, name, ";".join(themes), consent_version, stamp))
        found = self.get(email)
        assert found is not None
        return found

    def get(self, email: str) -> Signup | None:
        row = self.db.one("SELECT * FROM signups WHERE email=?", (email,))
        if row is None:
            return None
        return Signup(row["email"], row["name"], tuple(t for t in row["themes"].split(";") if t),
                      row["consent_version"], from_iso(row["requested_at"]))

    def done(self, email: str) -> None:
        self.db.execute("DELETE FROM signups WHERE email=?", (email,))

    def expire(self, before: datetime) -> int:
        """Drop sign-ups never confirmed; how many."""
        return self.db.execute("DELETE FROM signups WHERE requested_at < ?",
                               (iso(before),)).rowcount

    # --- consent texts: every version kept, so `subscribers show` can quote it -----------

    def consent(self, text: str) -> str:
        version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        self.db.execute("INSERT INTO consents VALUES (?,?,?) ON CONFLICT DO NOTHING",
                        (version, text, self.db.stamp()))
        return version

    def consent_text(self, version: str) -> str | None:
        row = self.db.one("SELECT text FROM consents WHERE version=?", (version,))
        return str(row["text"]) if row else None

    # --- the suppression list ----------------------------------------------------------

    def _key(self) -> bytes:
        """A random key made once per store: the list holds HMACs of addresses, so it
        cannot be read back, nor checked against a list of addresses without the store."""
        with self.db.transaction():
            row = self.db.one("SELECT value FROM meta WHERE key='suppression_key'")
            if row is None:
                key = secrets.token_hex(32)
                self.db.execute("INSERT INTO meta VALUES ('suppression_key', ?)", (key,))
                return bytes.fromhex(key)
            return bytes.fromhex(row["value"])

    def _hash(self, email: str) -> str:
        return hmac.new(self._key(), email.encode("utf-8"), hashlib.sha256).hexdigest()

    def suppress(self, email: str, reason: str) -> None:
        self.db.execute("INSERT INTO suppressed VALUES (?,?,?) ON CONFLICT DO NOTHING",
                        (self._hash(email), self.db.stamp(), reason))

    def suppressed(self, email: str) -> datetime | None:
        row = self.db.one("SELECT since FROM suppressed WHERE hash=?", (self._hash(email),))
        return from_iso(row["since"]) if row else None

    def unsuppress(self, email: str) -> None:
        """They signed up again, themselves, through the form."""
        self.db.execute("DELETE FROM suppressed WHERE hash=?", (self._hash(email),))

    # --- rate limits ---------------------------------------------------------------------

    def forget(self, key: str) -> None:
        self.db.execute("DELETE FROM rate WHERE key=?", (key,))

    def allow(self, key: str, limit: int, window_seconds: float, now: datetime) -> bool:
        """Count one more event for `key`; False once `limit` are in the current window."""
        with self.db.transaction():
            row = self.db.one("SELECT window_start, count FROM rate WHERE key=?", (key,))
            if row is None or (now - from_iso(row["window_start"])).total_seconds() \
                    > window_seconds:
                self.db.execute("INSERT INTO rate VALUES (?,?,1) ON CONFLICT (key) DO "
                                "UPDATE SET window_start = excluded.window_start, count = 1",
                                (key, iso(now)))
                return True
            if row["count"] >= limit:
                return False
            self.db.execute("UPDATE rate SET count = count + 1 WHERE key=?", (key,))
            return True
