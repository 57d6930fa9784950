"""Signed subscriber links: one-click unsubscribe and theme preferences.

A token names the subscriber and carries an HMAC-SHA256 over the address and the
link's purpose, keyed by MSDIGEST_SECRET, so a link cannot be forged or reused for
another purpose, and works without a database lookup of the token itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import quote

from .config import Config
from .errors import TokenError


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, purpose: str, email: str) -> str:
    digest = hmac.new(secret, f"{purpose}\0{email.lower()}".encode(), hashlib.sha256).digest()
    return _b64(digest[:18])


def make_token(secret: bytes, email: str, purpose: str = "unsubscribe") -> str:
    return f"{_b64(email.lower().encode())}.{_mac(secret, purpose, email)}"


def read_token(secret: bytes, token: str, purpose: str = "unsubscribe") -> str:
    """The address a token was made for; TokenError if it is not genuine."""
    try:
        encoded, mac = token.split(".", 1)
        email = _unb64(encoded).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise TokenError("malformed link") from None
    if not hmac.compare_digest(mac, _mac(secret, purpose, email)):
        raise TokenError("this link is not valid (it may have been altered or cut short)")
    return email


@dataclass(frozen=True)
class Links:
    unsubscribe: str
    preferences: str
    mailto: str


@dataclass(frozen=True)
class Signer:
    """Makes a subscriber's signed links: the key and where the link pages are served."""

    secret: bytes
    base_url: str  # [unsubscribe] base_url, without a trailing slash
    mailto: str  # [unsubscribe] mailto, or ""

    @classmethod
    def of(cls, cfg: Config, secret: bytes) -> Signer:
        return cls(secret, cfg.unsubscribe.base_url, cfg.unsubscribe.mailto)

    def links(self, email: str) -> Links:
        unsub = make_token(self.secret, email, "unsubscribe")
        mailto = ""
        if self.mailto:
            mailto = f"mailto:{self.mailto}?subject={quote('unsubscribe ' + unsub)}"
        prefs = make_token(self.secret, email, "preferences")
        return Links(f"{self.base_url}/unsubscribe?t={unsub}",
                     f"{self.base_url}/preferences?t={prefs}", mailto)


def ephemeral_secret() -> bytes:
    """A throwaway key for previews and dry runs: links it signs will not verify later."""
    return secrets.token_bytes(32)
