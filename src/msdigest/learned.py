"""Learned: what the editors' corrections teach beyond the rules (pure, deterministic).

Every `issue move` and every placement in an approved or sent issue is a labeled
example. The model is linear over the words of a summary (title words count twice;
word pairs were tried and generalized worse from a few dozen examples), and it is
trained *on top of* the rules: a theme's joined score is its rules' score plus the
learned weights of the summary's words. Training goes through the examples in a fixed
order, a few times, and changes weights only where the joined score does not put the
editor's theme ahead by MARGIN: passive-aggressive updates (Crammer et al., 2006), each
just large enough, capped, then averaged. So the placements the rules already get
right teach nothing, and a summary like one the editors moved is moved the same way
next month. Training is counting and adding: milliseconds for hundreds of examples.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import repeat
from operator import mul

MARGIN = 4.0  # in rule points: how far ahead the editor's theme should come out
STEP_CAP = 1.5  # the largest single update, in rule points (times the example's weight)
EPOCHS = 4
CORRECTION_WEIGHT = 2.0  # a move away from msdigest's choice, against a placement let stand
TITLE_REPEAT = 2  # title words count twice
TEXT_WORDS = 100  # of the text, the model reads this many words: where the subject is
TOP_WORDS = 6  # words shown by `themes explain`

STOPWORDS = frozenset("""
a about above after again against all almost also although am among an and any are as at
be because been before being below between both but by can could did do does doing down
during each either even ever every few for from further had has have having he her here
hers him his how however i if in into is it its itself just least less like made make
many may me might more most much must my near no nor not now of off often on once one
only or other our ours out over own per people person rather same she should since so
some such than that the their them then there these they this those though three through
to too two under until up upon us very was we were what when where whether which while
who whom why will with within without would yet you your ms multiple sclerosis study
studies researchers research found find finds showed show shows using used use new
""".split())  # noqa: SIM905

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")

Vector = dict[str, float]


@dataclass(frozen=True)
class Sample:
    """One labeled example: what the editor saw, where they put it, and what the rules
    scored (theme -> points) when the model is trained."""

    title: str
    text: str
    theme: str
    rules: tuple[tuple[str, float], ...]
    weight: float = 1.0  # a correction weighs CORRECTION_WEIGHT


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


_FEATURES: dict[str, str] = {}  # lower-cased word -> its feature, "" for none (a cache)


def _feature(word: str) -> str:
    """The feature a lower-cased word counts as, or "" for words that say nothing."""
    found = _FEATURES.get(word)
    if found is None:
        stem = _stem(word.replace("’", "'"))
        found = "" if stem in STOPWORDS or stem.isdigit() or len(stem) < 2 else stem
        if len(_FEATURES) < 500_000:
            _FEATURES[word] = found
    return found


def words(text: str) -> list[str]:
    return [f for f in map(_feature, _WORD.findall(text.lower())) if f]


def _counts(title: str, text: str) -> tuple[dict[str, float], float]:
    """The words (of the text, the first TEXT_WORDS: long summaries go on to why it
    matters and caveats), the title's counted twice, and the length of that vector."""
    counts: dict[str, float] = {}
    for part, times in ((text, 1), (title, TITLE_REPEAT)):
        for word, n in Counter(_WORD.findall(part.lower())[:TEXT_WORDS]).items():
            f = _FEATURES.get(word)
            if f is None:
                f = _feature(word)
            if f:
                counts[f] = counts.get(f, 0) + n * times
    return counts, math.sqrt(sum(c * c for c in counts.values())) or 1.0


def features(title: str, text: str) -> Vector:
    """The words, the title's counted twice, scaled to length 1."""
    counts, norm = _counts(title, text)
    return {f: c / norm for f, c in counts.items()}


@dataclass(frozen=True)
class Model:
    """Learned weights: feature -> theme -> points added to that theme's rules score."""

    weights: dict[str, dict[str, float]]
    examples: int
    themes: tuple[str, ...]  # the themes the examples name
    by_theme: dict[str, dict[str, float]] = field(default_factory=dict, compare=False,
                                                   repr=False)  # theme -> feature -> w

    @classmethod
    def train(cls, samples: Iterable[Sample]) -> Model:
        data = [(features(s.title, s.text), s.theme, dict(s.rules), s.weight) for s in samples]
        current: dict[str, dict[str, float]] = {}
        total: dict[str, dict[str, float]] = {}  # for averaging: sum over all steps
        step = 0
        steps = max(1, EPOCHS * len(data))
        for _ in range(EPOCHS):
            for x, y, base, weight in data:
                step += 1
                z = _joined(base, current, x)
                rival = max((t for t in z if t != y), key=lambda t: z[t], default=None)
                if rival is None or y not in z:
                    continue
                loss = MARGIN - (z[y] - z[rival])
                if loss <= 0:
                    continue
                tau = min(STEP_CAP * weight, loss / 2)  # |x| = 1: moves z[y]-z[rival] by 2tau
                # the averaged weights count each update for the steps still to come
                later = (steps - step + 1) / steps
                for f, v in x.items():
                    for theme, sign in ((y, 1.0), (rival, -1.0)):
                        w = current.setdefault(f, {})
                        w[theme] = w.get(theme, 0.0) + sign * tau * v
                        a = total.setdefault(f, {})
                        a[theme] = a.get(theme, 0.0) + sign * tau * v * later
        weights = {f: {t: v for t, v in ws.items() if abs(v) > 1e-9}
                   for f, ws in sorted(total.items())}
        named = sorted({y for _, y, _, _ in data})
        kept = {f: ws for f, ws in weights.items() if ws}
        by_theme: dict[str, dict[str, float]] = {}
        for f, per_theme in kept.items():
            for theme, weight in per_theme.items():
                by_theme.setdefault(theme, {})[f] = weight
        return cls(kept, len(data), tuple(named), by_theme)

    def adjust(self, title: str, text: str) -> dict[str, float]:
        """Points the learned words add to (or take from) each theme for this summary."""
        counts, norm = _counts(title, text)
        common = list(counts.keys() & self.weights.keys())
        if not common:
            return {}
        cs = [counts[f] for f in common]
        return {theme: sum(map(mul, cs, map(ws.get, common, repeat(0.0)))) / norm
                for theme, ws in self.by_theme.items()}

    def top_words(self, title: str, text: str, theme: str, against: str,
                  n: int = TOP_WORDS) -> list[tuple[str, float]]:
        """The words of this summary that weigh most for `theme` over `against`."""
        found = []
        for f, v in features(title, text).items():
            ws = self.weights.get(f)
            if ws:
                found.append((f, v * (ws.get(theme, 0.0) - ws.get(against, 0.0))))
        found.sort(key=lambda fw: (-fw[1], fw[0]))
        return [(f, w) for f, w in found[:n] if w > 0.005]


def _joined(base: dict[str, float], weights: dict[str, dict[str, float]], x: Vector
            ) -> dict[str, float]:
    z = dict(base)
    for f, v in x.items():
        for theme, w in weights.get(f, {}).items():
            if theme in z:
                z[theme] += w * v
    return z
