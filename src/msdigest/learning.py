"""Learning: the editors' examples in the store turned into the model that joins the rules,
retrained whenever the examples change; and recording them as editors work.

The examples of one summary count once: as it went out, else as approved, else as the
editor last moved it. A correction (moved away from msdigest's choice) weighs
learned.CORRECTION_WEIGHT. Learning is on unless `msdigest themes learn --off` turned it
off for this store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .compose import Placed
from .config import Config
from .learned import CORRECTION_WEIGHT, Model
from .model import Theme
from .period import Period
from .records import Example, Placement, Source
from .store import Store
from .verdict import MIN_EXAMPLES, active, sample, train

RANK = {Source.SENT: 0, Source.APPROVED: 1, Source.MOVE: 2}
_CACHE: dict[tuple[object, ...], Model] = {}


def one_per_summary(examples: Iterable[Example], known: set[str]) -> list[Example]:
    """The example that speaks for each summary (sent, else approved, else moved), of the
    themes the config still has, in a fixed order."""
    best: dict[str, Example] = {}
    for e in examples:
        if e.theme not in known:
            continue
        kept = best.get(e.summary_id)
        if kept is None or RANK[e.source] < RANK[kept.source]:
            best[e.summary_id] = e
    return sorted(best.values(), key=lambda e: (e.period, e.summary_id))


def fit(examples: Iterable[Example], themes: tuple[Theme, ...]) -> Model:
    """The model of these examples, trained over the rules as they are now."""
    chosen = one_per_summary(examples, {t.id for t in themes})
    return train([sample(e.title, e.text, themes, e.theme,
                         CORRECTION_WEIGHT if e.correction else 1.0) for e in chosen])


def model(store: Store, cfg: Config) -> Model | None:
    """The model that joins the rules now, or None (learning off, or too few examples)."""
    if not store.labels.learning():
        return None
    key = (str(store.path), store.labels.fingerprint(), cfg.themes)
    found = _CACHE.get(key)
    if found is None:
        found = fit(store.labels.examples(), cfg.themes)
        if len(_CACHE) > 16:
            _CACHE.clear()
        _CACHE[key] = found
    return active(found)


@dataclass(frozen=True)
class Status:
    on: bool
    counts: dict[Source, int]
    used: int  # examples the model trains on (one per summary)
    corrections: int

    @property
    def joined(self) -> bool:
        return self.on and self.used >= MIN_EXAMPLES

    def describe(self) -> str:
        n = sum(self.counts.values())
        parts = ", ".join(f"{self.counts.get(s, 0)} {s}" for s in Source)
        base = (f"{n} labeled examples ({parts}): {self.used} summaries, "
                f"{self.corrections} of them corrections")
        if not self.on:
            return (f"learning is off for this store; {base} are kept. `msdigest themes "
                    "learn --on` turns it back on")
        if not self.joined:
            return (f"learning is on; {base}. The model joins the rules from "
                    f"{MIN_EXAMPLES} summaries")
        return f"learning is on; {base}. The model joins the rules"


def status(store: Store, cfg: Config) -> Status:
    chosen = one_per_summary(store.labels.examples(), set(cfg.theme_ids))
    return Status(store.labels.learning(), store.labels.counts(), len(chosen),
                  sum(e.correction for e in chosen))


def record_move(store: Store, period: Period, placed: Placed, theme: str) -> None:
    correction = theme != (placed.automatic or placed.theme)
    store.labels.record(period, Source.MOVE, [Placement(placed.summary.id, theme, correction)])


def record_issue(store: Store, period: Period, source: Source,
                 chosen: Iterable[Placed]) -> int:
    """Every summary's place in an approved or sent issue."""
    return store.labels.record(period, source, [
        Placement(p.summary.id, p.theme, p.moved) for p in chosen])
