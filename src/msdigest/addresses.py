"""Addresses: checked and normalized once, where they enter (an import, a form, --to)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from .errors import UsageError


class AddressError(UsageError):
    """Not an address msdigest can send to; the message says why."""

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"invalid email address {raw!r}: {reason}")
        self.reason = reason


def normalize(raw: str) -> str:
    """The form the store keys on and SMTP sends to: validated, lowercased, ASCII.

    An internationalized domain (bücher.example) is kept as IDNA (xn--bcher-kva.example),
    which every server accepts; a non-ASCII local part would need SMTPUTF8 and is
    refused here, with the reason, rather than failing at send time."""
    try:
        found = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise AddressError(raw, str(exc)) from None
    return str(found.ascii_email or found.normalized).lower()
