"""Themes: the editor's rules score each summary against every theme's terms, and say why.

Rules an editor can predict:
- a term matches as a whole word or phrase, in any letter case (terms under `exact`
  only as written), also in its plural (-s, -es, -ies); spaces and hyphens inside a
  phrase are interchangeable; where terms overlap, the longest one counts;
- where a term appears says how central it is: each term counts once per place it
  appears, 3 in the title, 2 in the first sentence of the text, 1 in the rest, and
  terms under `minor` (generic words that support a theme but cannot carry it) count half,
  and count at all only beside one of the theme's terms, or two or more together;
- the catch-all theme scores OTHER_SCORE, so a theme takes a summary from it only with
  2 or more: one term in the title or the first sentence, or two in the rest. A word
  in passing does not;
- the highest score wins; a tie with the catch-all goes to it, other ties to the theme
  listed first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from .model import Summary, Theme

TITLE_WEIGHT = 3.0
LEAD_WEIGHT = 2.0  # the first sentence of the text
REST_WEIGHT = 1.0
MINOR_FACTOR = 0.5
MINOR_ALONE = 2  # minor terms find a theme on their own only this many together
OTHER_SCORE = 1.5  # what the catch-all theme scores: the bar a theme must clear
WEAK_SCORE = 2.0  # a winner at or below this won on a single mention outside the title

_PART = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?](?=\s+[\"'“‘(]?[A-Z0-9])")


class Place(StrEnum):
    TITLE = "title"
    LEAD = "first sentence"
    REST = "rest of the text"


WEIGHTS = {Place.TITLE: TITLE_WEIGHT, Place.LEAD: LEAD_WEIGHT, Place.REST: REST_WEIGHT}


@dataclass(frozen=True)
class Hit:
    """One of a theme's terms found in a summary, and where."""

    term: str
    places: tuple[Place, ...]
    minor: bool = False

    @property
    def score(self) -> float:
        factor = MINOR_FACTOR if self.minor else 1.0
        return factor * sum(WEIGHTS[p] for p in self.places)


@dataclass(frozen=True)
class RuleScores:
    """What the rules make of one summary: a score for every theme, in config order."""

    scores: tuple[tuple[str, float], ...]  # (theme id, score), the catch-all at OTHER_SCORE
    hits: dict[str, tuple[Hit, ...]]  # theme id -> its terms found (themes with hits only)

    catch_all: str

    def ranked(self) -> list[tuple[str, float]]:
        """Best first; a tie with the catch-all goes to it, other ties in config order."""
        order = {tid: i for i, (tid, _) in enumerate(self.scores)}
        return sorted(self.scores, key=lambda ts: (-ts[1], ts[0] != self.catch_all,
                                                   order[ts[0]]))

    @property
    def theme(self) -> str:
        return self.ranked()[0][0]

    @property
    def score(self) -> float:
        return self.ranked()[0][1]

    def of(self, theme: str) -> float:
        return dict(self.scores)[theme]


@dataclass(frozen=True)
class _Entry:
    theme: str
    term: str
    minor: bool


@dataclass(frozen=True)
class _Index:
    """Every theme's terms by their words: looked up per word, not one pattern per term."""

    folded: dict[tuple[str, ...], tuple[_Entry, ...]]  # lower-cased words (any case)
    exact: dict[tuple[str, ...], tuple[_Entry, ...]]  # words as written
    longest: int


def _words(term: str) -> list[str]:
    return _PART.findall(term)


def _plurals(words: list[str]) -> list[tuple[str, ...]]:
    *head, last = words
    if len(last) > 2 and last[-1] in "yY" and last[-2].lower() not in "aeiou":
        forms = [last, last[:-1] + "ies"]  # therapy, therapies
    else:
        forms = [last, last + "s", last + "es"]
    return [(*head, f) for f in forms]


@lru_cache(maxsize=64)
def _index(themes: tuple[Theme, ...]) -> _Index:
    folded: dict[tuple[str, ...], list[_Entry]] = {}
    exact: dict[tuple[str, ...], list[_Entry]] = {}
    longest = 1
    for theme in themes:
        groups = ((theme.terms, False, False), (theme.minor, False, True),
                  (theme.exact, True, False))
        for terms, as_written, minor in groups:
            for term in terms:
                words = _words(term)
                if not words:
                    continue
                longest = max(longest, len(words))
                table = exact if as_written else folded
                for form in _plurals(words):
                    key = form if as_written else tuple(w.lower() for w in form)
                    entries = table.setdefault(key, [])
                    if not any(e.theme == theme.id for e in entries):  # measure(s): once
                        entries.append(_Entry(theme.id, term, minor))
    return _Index({k: tuple(v) for k, v in folded.items()},
                  {k: tuple(v) for k, v in exact.items()}, longest)


def lead_and_rest(text: str) -> tuple[str, str]:
    """The first sentence of a summary's text, and the rest."""
    text = " ".join(text.split())
    end = _SENTENCE_END.search(text)
    if end is None:
        return text, ""
    return text[:end.end()], text[end.end():].strip()


def _found(index: _Index, text: str) -> list[_Entry]:
    """The entries whose terms appear in `text`, each once, longest term first at a spot."""
    parts = [(m.group(), m.start(), m.end()) for m in _PART.finditer(text)]
    # parts i and i+1 can be in one phrase only if only spaces or hyphens lie between
    seps = [text[parts[i][2]:parts[i + 1][1]] for i in range(len(parts) - 1)] + [","]
    joined = [not sep.replace("-", " ").strip() for sep in seps]
    # a hyphen glues words into one compound: a term never matches part of a compound
    glued = [sep == "-" for sep in seps]
    found: dict[tuple[str, str], _Entry] = {}
    i = 0
    while i < len(parts):
        if i > 0 and glued[i - 1]:
            i += 1
            continue
        step = 1
        for n in range(min(index.longest, len(parts) - i), 0, -1):
            if n > 1 and not all(joined[i:i + n - 1]):
                continue
            if glued[i + n - 1]:
                continue
            words = tuple(p[0] for p in parts[i:i + n])
            entries = index.exact.get(words, ()) + index.folded.get(
                tuple(w.lower() for w in words), ())
            if entries:
                for e in entries:
                    found.setdefault((e.theme, e.term), e)
                step = n
                break
        i += step
    return list(found.values())


def score(summary: Summary, themes: tuple[Theme, ...]) -> RuleScores:
    """Every theme's score for one summary (pure; a summary without text scores on its
    title alone)."""
    return score_text(summary.title, summary.text, themes)


def score_text(title: str, text: str, themes: tuple[Theme, ...]) -> RuleScores:
    index = _index(themes)
    lead, rest = lead_and_rest(text or "")
    places: dict[tuple[str, str], list[Place]] = {}
    entries: dict[tuple[str, str], _Entry] = {}
    for place, part in ((Place.TITLE, title or ""), (Place.LEAD, lead), (Place.REST, rest)):
        for e in _found(index, part):
            places.setdefault((e.theme, e.term), []).append(place)
            entries[(e.theme, e.term)] = e
    hits: dict[str, list[Hit]] = {}
    for key, where in places.items():
        e = entries[key]
        hits.setdefault(e.theme, []).append(Hit(e.term, tuple(where), e.minor))
    scores = []
    for theme in themes:
        found = hits.get(theme.id, [])
        if theme.catch_all:
            scores.append((theme.id, OTHER_SCORE))
        elif any(not h.minor for h in found) or len(found) >= MINOR_ALONE:
            scores.append((theme.id, sum(h.score for h in found)))
        else:
            scores.append((theme.id, 0.0))
    ordered = {tid: tuple(sorted(hs, key=lambda h: (-h.score, h.term)))
               for tid, hs in hits.items()}
    catch_all = next(t.id for t in themes if t.catch_all)
    return RuleScores(tuple(scores), ordered, catch_all)


def _points(x: float) -> str:
    return f"{x:g}"


def describe(rules: RuleScores, themes: tuple[Theme, ...], chosen: str) -> list[str]:
    """The rules' part of `themes explain`: each theme's score and the terms behind it."""
    lines = []
    for theme in themes:
        mark = "*" if theme.id == chosen else " "
        if theme.catch_all:
            lines.append(f"{mark} {theme.id}: score {_points(OTHER_SCORE)} (the catch-all's "
                         "bar: a theme needs more to take the summary)")
            continue
        theme_hits = rules.hits.get(theme.id, ())
        if not theme_hits:
            continue
        lines.append(f"{mark} {theme.id}: score {_points(rules.of(theme.id))}")
        for h in theme_hits:
            where = " + ".join(f"{p} ({_points(WEIGHTS[p])})" for p in h.places)
            minor = f", minor term: x{MINOR_FACTOR:g}" if h.minor else ""
            lines.append(f"    {h.term!r}: {where}{minor} = {_points(h.score)}")
    if not rules.hits:
        lines.append("  no theme's terms matched")
    lines.append(f"rules: each term counts once per place: title {_points(TITLE_WEIGHT)}, "
                 f"first sentence {_points(LEAD_WEIGHT)}, rest {_points(REST_WEIGHT)} "
                 f"(minor terms x{MINOR_FACTOR:g}); the catch-all scores "
                 f"{_points(OTHER_SCORE)}; highest score wins, ties go to the theme listed "
                 "first")
    return lines
