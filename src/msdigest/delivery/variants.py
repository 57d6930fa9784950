"""Variants: each set of chosen themes rendered, CSS-inlined and serialized once.

A subscriber's message is then a join of bytes with their own greeting, address and
signed links (message.Prepared). Thread-safe: the send's workers share one cache.
"""

from __future__ import annotations

import threading
from datetime import datetime

from ..message import Prepared, Sender
from ..model import Edition, Subscriber
from ..render import Rendered, render
from ..unsubscribe import Signer

Key = tuple[str, ...]


def key(themes: tuple[str, ...]) -> Key:
    return tuple(sorted(themes)) if themes else ()


class Variants:
    def __init__(self, edition: Edition, sender: Sender, signer: Signer, when: datetime,
                 subject_prefix: str = "") -> None:
        self.edition = edition
        self.sender = sender
        self.signer = signer
        self.when = when
        self.subject_prefix = subject_prefix
        self.prepared_by_key: dict[Key, Prepared] = {}
        self.nonempty: dict[Key, bool] = {}
        # premailer's CSS serializer (cssutils) keeps global state: one render at a time
        self.lock = threading.Lock()

    def rendered(self, themes: tuple[str, ...]) -> Rendered:
        return render(self.edition, key(themes))

    def prepared(self, themes: tuple[str, ...]) -> Prepared:
        k = key(themes)
        found = self.prepared_by_key.get(k)
        if found is None:
            with self.lock:
                found = self.prepared_by_key.get(k)
                if found is None:
                    found = Prepared.of(self.sender, self.rendered(k), self.when,
                                        self.subject_prefix)
                    self.prepared_by_key[k] = found
        return found

    def message(self, sub: Subscriber, msgid: str) -> bytes:
        return self.prepared(sub.themes).render(sub, self.signer.links(sub.email), msgid)

    def has_content(self, sub: Subscriber) -> bool:
        k = key(sub.themes)
        found = self.nonempty.get(k)
        if found is None:  # once per variant, not per subscriber
            found = self.nonempty[k] = any(s.items for s in self.edition.issue.for_themes(k))
        return found
