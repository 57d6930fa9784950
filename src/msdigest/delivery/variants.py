"""Variants: any set of chosen themes assembled from the issue's pieces, inlined once.

The pieces of each shape are rendered and serialized once per send (message.Prepared);
a variant is then a list of those bytes (a Plan, a few hundred octets, kept for the
most recent variants only, so memory does not grow with the list), and a subscriber's
message a join of it with their own greeting, address and signed links. If a variant
assembled from pieces differs from its full render (an editor's template or style that
the pieces cannot follow), the send renders each variant in full instead, and says so.
Thread-safe: the send's workers share one Variants.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import datetime

from ..message import Plan, Prepared, Sender
from ..model import Edition, Subscriber
from ..pieces import Pieces, Segment, agrees, shape_of
from ..render import Rendered, Shape, render, variant_values
from ..unsubscribe import Signer

log = logging.getLogger(__name__)

Key = tuple[str, ...]
PLANS = 2048  # variants kept assembled; a subscriber with a set not among them costs ~0.1 ms
WHOLE = 32  # variants kept rendered in full, when pieces cannot be used


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
        self.by_shape: dict[Shape, Prepared | None] = {}  # None: pieces disagreed
        self.plans: OrderedDict[Key, tuple[Prepared, Plan]] = OrderedDict()
        self.whole: OrderedDict[Key, Prepared] = OrderedDict()
        self.nonempty: dict[Key, bool] = {}
        # premailer's CSS serializer (cssutils) keeps global state: one render at a time
        self.lock = threading.Lock()
        self.plans_lock = threading.Lock()

    def rendered(self, themes: tuple[str, ...]) -> Rendered:
        return render(self.edition, key(themes))

    def _pieces(self, shape: Shape, k: Key) -> Prepared | None:
        """The shape's pieces, checked on the first variant that needs them."""
        if shape in self.by_shape:
            return self.by_shape[shape]
        with self.lock:
            if shape not in self.by_shape:
                pieces = Pieces.of(self.edition, shape)
                ok = agrees(self.edition, pieces, k)
                if not ok:
                    log.warning("the email assembled from pieces differs from its full "
                                "render (a CSS rule that looks at neighbours, or a template "
                                "that computes with count?): rendering each variant in full")
                self.by_shape[shape] = Prepared.of(self.sender, pieces, self.when,
                                                   self.subject_prefix) if ok else None
        return self.by_shape[shape]

    def _whole(self, k: Key) -> Prepared:
        """A variant rendered in full, as one piece (the slow way, for odd templates)."""
        with self.lock:
            found = self.whole.get(k)
            if found is None:
                full = render(self.edition, k)
                shape, _ = shape_of(self.edition, k)
                pieces = Pieces(shape, (Segment("", full.html),), (Segment("", full.text),))
                found = Prepared.of(self.sender, pieces, self.when, self.subject_prefix)
                self.whole[k] = found
                if len(self.whole) > WHOLE:
                    self.whole.popitem(last=False)
            return found

    def plan(self, themes: tuple[str, ...]) -> tuple[Prepared, Plan]:
        k = key(themes)
        with self.plans_lock:
            found = self.plans.get(k)
            if found is not None:
                self.plans.move_to_end(k)
                return found
        shape, sections = shape_of(self.edition, k)
        values = variant_values(self.edition.issue, sections, k)
        prepared = self._pieces(shape, k) or self._whole(k)
        found = prepared, prepared.plan(frozenset(s.id for s in sections), values)
        with self.plans_lock:
            self.plans[k] = found
            if len(self.plans) > PLANS:
                self.plans.popitem(last=False)
        return found

    def message(self, sub: Subscriber, msgid: str) -> bytes:
        prepared, plan = self.plan(sub.themes)
        return prepared.render(plan, sub, self.signer.links(sub.email), msgid)

    def has_content(self, sub: Subscriber) -> bool:
        k = key(sub.themes)
        found = self.nonempty.get(k)
        if found is None:  # once per variant, not per subscriber
            found = self.nonempty[k] = any(s.items for s in self.edition.issue.for_themes(k))
        return found
