"""The per-subscriber fields of an email: rendered as placeholders once per variant,
filled in for each subscriber (by string replacement here, or as bytes in message.py)."""

from __future__ import annotations

import html
from dataclasses import dataclass

# Placeholders survive Jinja, premailer and MIME unchanged: plain word characters.
FIELDS = ("GREETING", "EMAIL", "UNSUBSCRIBE_URL", "PREFERENCES_URL")
PLACEHOLDER = {f: f"__MSDIGEST_{f}__" for f in FIELDS}


@dataclass(frozen=True)
class Personal:
    """What differs between two subscribers who chose the same themes."""

    greeting: str
    email: str
    unsubscribe_url: str
    preferences_url: str

    def values(self) -> dict[str, str]:
        return {"GREETING": self.greeting, "EMAIL": self.email,
                "UNSUBSCRIBE_URL": self.unsubscribe_url,
                "PREFERENCES_URL": self.preferences_url}


def greeting(name: str) -> str:
    return f"Hello {name}," if name.strip() else "Hello,"


def personalize(page: str, text: str, person: Personal) -> tuple[str, str]:
    """(html, text) for one subscriber: placeholders replaced, HTML-escaped where HTML."""
    for field, value in person.values().items():
        token = PLACEHOLDER[field]
        page = page.replace(token, html.escape(value, quote=True))
        text = text.replace(token, value)
    return page, text
