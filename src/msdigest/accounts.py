"""Editors' accounts: passwords kept as scrypt hashes, sign-in slowed down after repeated
failures (per account and per address), sessions that end after inactivity.

The store keeps a hash of each session's token, never the token: a copy of the store
does not let anyone in. A wrong password and an unknown account get the same answer
and cost the same work, so the form reveals nobody.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from .addresses import normalize
from .clock import Clock, system_clock
from .errors import MsdigestError, UsageError
from .records import Editor, SessionRecord
from .store import Store

# scrypt, memory-hard: n=2^14, r=8 (16 MiB a try), as OWASP's cheat sheet suggests
SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
MIN_PASSWORD = 12
FREE_FAILURES = 5  # then each failure doubles the wait before the next try
MAX_WAIT = timedelta(minutes=15)
WRONG = "That email and password do not match an editor's account."


class SignInRefused(MsdigestError):
    """Wrong credentials, or too many tries: `retry_after` seconds before the next one."""

    def __init__(self, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32,
                            maxmem=64 * 1024 * 1024, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        found = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt),
                               n=int(n), r=int(r), p=int(p), dklen=32,
                               maxmem=64 * 1024 * 1024)
    except ValueError:
        return False
    return hmac.compare_digest(found.hex(), digest)


# the same work for an unknown account as for a known one
_DUMMY = hash_password(secrets.token_urlsafe(16))


def add(store: Store, email: str, name: str, password: str) -> Editor:
    address = normalize(email)
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password must be at least {MIN_PASSWORD} characters; a "
                         "passphrase of a few words is easiest to remember")
    if not store.editors.add(address, name.strip() or address, hash_password(password)):
        raise UsageError(f"{address} already has an editor's account (`msdigest editors "
                         "remove` it first to set a new password)")
    editor = store.editors.get(address)
    assert editor is not None
    return editor


def remove(store: Store, email: str) -> None:
    address = normalize(email)
    if not store.editors.remove(address):
        raise UsageError(f"no editor's account for {address} (`msdigest editors list`)")


@dataclass(frozen=True)
class Session:
    token: str  # goes in the cookie; only its hash is stored
    csrf: str
    editor: SessionRecord


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _wait(store: Store, key: str, now: datetime) -> int:
    failures, last = store.editors.failures(key)
    if failures < FREE_FAILURES or last is None:
        return 0
    wait = min(timedelta(seconds=2 ** (failures - FREE_FAILURES)), MAX_WAIT)
    return max(0, int((last + wait - now).total_seconds() + 0.999))


def sign_in(store: Store, email: str, password: str, address: str,
            clock: Clock = system_clock) -> Session:
    """A new session, or SignInRefused with the same words for any wrong pair."""
    try:
        account = normalize(email)
    except UsageError:
        account = email.strip().lower()[:320]
    keys = (f"account:{account}", f"address:{address}")
    now = clock()
    wait = max(_wait(store, key, now) for key in keys)
    if wait:
        raise SignInRefused(f"Too many failed sign-ins. Try again in {wait} seconds.", wait)
    editor = store.editors.get(account)
    ok = check_password(password, editor.password_hash if editor else _DUMMY)
    if editor is None or not ok:
        for key in keys:
            store.editors.failed(key)
        raise SignInRefused(WRONG)
    for key in keys:
        store.editors.succeeded(key)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    store.editors.open_session(_hash(token), editor.email, csrf)
    found = store.editors.session(_hash(token))
    assert found is not None
    return Session(token, csrf, found)


def session(store: Store, token: str, idle: timedelta,
            clock: Clock = system_clock) -> SessionRecord | None:
    """The signed-in editor for this cookie, unless the session has been idle too long."""
    if not token:
        return None
    found = store.editors.session(_hash(token))
    if found is None:
        return None
    if clock() - found.seen_at > idle:
        store.editors.close_session(found.token_hash)
        return None
    store.editors.touch(found.token_hash)
    return found


def sign_out(store: Store, token: str) -> None:
    store.editors.close_session(_hash(token))
