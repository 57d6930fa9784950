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
from functools import cached_property, lru_cache
from typing import NamedTuple

from .model import Summary, Theme

TITLE_WEIGHT = 3.0
LEAD_WEIGHT = 2.0  # the first sentence of the text
REST_WEIGHT = 1.0
MINOR_FACTOR = 0.5
MINOR_ALONE = 2  # minor terms find a theme on their own only this many together
OTHER_SCORE = 1.5  # what the catch-all theme scores: the bar a theme must clear
WEAK_SCORE = 2.0  # a winner at or below this won on a single mention outside the title

_PART = re.compile(r"\w+")
_SPLIT = re.compile(r"(\w+)")
_BREAK = "\n\ue000\n"  # between title, first sentence and rest: not a word, not a space
_SENTENCE_END = re.compile(r"[.!?](?=\s+[\"'“‘(]?[A-Z0-9])")


class Place(StrEnum):
    TITLE = "title"
    LEAD = "first sentence"
    REST = "rest of the text"


WEIGHTS = {Place.TITLE: TITLE_WEIGHT, Place.LEAD: LEAD_WEIGHT, Place.REST: REST_WEIGHT}


class Hit(NamedTuple):
    """One of a theme's terms found in a summary, where, and what it scores. (A named
    tuple, not a dataclass: thousands are made a second.)"""

    term: str
    places: tuple[Place, ...]
    minor: bool
    score: float


def hit(term: str, places: tuple[Place, ...], minor: bool = False) -> Hit:
    factor = MINOR_FACTOR if minor else 1.0
    return Hit(term, places, minor, factor * sum(WEIGHTS[p] for p in places))


@dataclass(frozen=True)
class RuleScores:
    """What the rules make of one summary: a score for every theme, in config order."""

    scores: tuple[tuple[str, float], ...]  # (theme id, score), the catch-all at OTHER_SCORE
    hits: dict[str, tuple[Hit, ...]]  # theme id -> its terms found (themes with hits only)

    catch_all: str

    @cached_property
    def ranked(self) -> list[tuple[str, float]]:
        """Best first; a tie with the catch-all goes to it, other ties in config order."""
        order = {tid: i for i, (tid, _) in enumerate(self.scores)}
        return sorted(self.scores, key=lambda ts: (-ts[1], ts[0] != self.catch_all,
                                                   order[ts[0]]))

    @property
    def theme(self) -> str:
        return self.ranked[0][0]

    @property
    def score(self) -> float:
        return self.ranked[0][1]

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
    starts: dict[str, int]  # a term's first word, lower-cased -> the most words after it
    exact_starts: frozenset[str]  # the first words of `exact` terms, lower-cased
    catch_all: str


def _words(term: str) -> list[str]:
    return _PART.findall(term)


def _plurals(words: list[str]) -> list[tuple[str, ...]]:
    *head, last = words
    if len(last) > 2 and last[-1] in "yY" and last[-2].lower() not in "aeiou":
        forms = [last, last[:-1] + "ies"]  # therapy, therapies
    else:
        forms = [last, last + "s", last + "es"]
    return [(*head, f) for f in forms]


_LAST: list[tuple[tuple[Theme, ...], _Index]] = []


def _index(themes: tuple[Theme, ...]) -> _Index:
    """The index of these themes, kept for the config in use (hashing a config's themes
    costs more than looking up a summary's words)."""
    if _LAST and _LAST[0][0] is themes:
        return _LAST[0][1]
    found = _build_index(themes)
    _LAST[:] = [(themes, found)]
    return found


@lru_cache(maxsize=64)
def _build_index(themes: tuple[Theme, ...]) -> _Index:
    folded: dict[tuple[str, ...], list[_Entry]] = {}
    exact: dict[tuple[str, ...], list[_Entry]] = {}
    starts: dict[str, int] = {}
    exact_starts = set()
    for theme in themes:
        groups = ((theme.terms, False, False), (theme.minor, False, True),
                  (theme.exact, True, False))
        for terms, as_written, minor in groups:
            for term in terms:
                words = _words(term)
                if not words:
                    continue
                table = exact if as_written else folded
                for form in _plurals(words):  # a one-word term's first word is plural too
                    first = form[0].lower()
                    starts[first] = max(starts.get(first, 0), len(form))
                    if as_written:
                        exact_starts.add(first)
                    key = form if as_written else tuple(w.lower() for w in form)
                    entries = table.setdefault(key, [])
                    if not any(e.theme == theme.id for e in entries):  # measure(s): once
                        entries.append(_Entry(theme.id, term, minor))
    return _Index({k: tuple(v) for k, v in folded.items()},
                  {k: tuple(v) for k, v in exact.items()}, starts, frozenset(exact_starts),
                  next((t.id for t in themes if t.catch_all), ""))


def lead_and_rest(text: str) -> tuple[str, str]:
    """The first sentence of a summary's text, and the rest."""
    end = _SENTENCE_END.search(text)
    if end is None:
        return text.strip(), ""
    return text[:end.end()].strip(), text[end.end():].strip()


def _found(index: _Index, text: str) -> list[tuple[int, _Entry]]:
    """(word number, entry) for the terms in `text`, longest term first at a spot."""
    low = text.lower()
    pieces = _SPLIT.split(low)  # [before, word, after, word, after, ...]
    lower = pieces[1::2]
    starts = index.starts
    candidates = [i for i, w in enumerate(lower) if w in starts]
    if not candidates:
        return []
    seps = pieces[2::2]  # seps[i]: what follows word i, up to the next word
    parts = lower  # the words as written are needed only for `exact` terms
    if len(low) != len(text) or any(lower[i] in index.exact_starts for i in candidates):
        parts = _PART.findall(text)
        if len(parts) != len(lower):  # lower-casing changed the words (rare letters)
            lower, seps = [w.lower() for w in parts], _SPLIT.split(text)[2::2]
            candidates = [i for i, w in enumerate(lower) if w in starts]
    last = len(parts) - 1
    found: list[tuple[int, _Entry]] = []
    after = 0  # the first word a match may start at (matches do not overlap)
    for i in candidates:
        if i < after or (i > 0 and seps[i - 1] == "-"):  # inside a match, or a compound
            continue
        reach = i  # the last word a phrase from word i can take in: spaces, hyphens only
        limit = min(i + starts[lower[i]] - 1, last)
        while reach < limit and (seps[reach] == " " or not seps[reach].replace("-", " ").strip()):
            reach += 1
        for end in range(reach, i - 1, -1):
            if end < last and seps[end] == "-":
                continue  # would end inside a hyphenated compound
            entries = index.folded.get(tuple(lower[i:end + 1]), ())
            if parts is not lower:
                entries += index.exact.get(tuple(parts[i:end + 1]), ())
            if entries:
                found += [(i, e) for e in entries]
                after = end + 1
                break
    return found


def score(summary: Summary, themes: tuple[Theme, ...]) -> RuleScores:
    """Every theme's score for one summary (pure; a summary without text scores on its
    title alone)."""
    return score_text(summary.title, summary.text, themes)


def score_text(title: str, text: str, themes: tuple[Theme, ...]) -> RuleScores:
    index = _index(themes)
    title = title or ""
    lead, rest = lead_and_rest(text or "")
    # one pass over all three; the break between them is no space, so no phrase spans it
    in_title = len(_PART.findall(title))
    in_lead = in_title + len(_PART.findall(lead))
    per: dict[tuple[str, str], tuple[_Entry, list[Place]]] = {}
    for i, e in _found(index, f"{title}{_BREAK}{lead}{_BREAK}{rest}"):
        place = Place.TITLE if i < in_title else Place.LEAD if i < in_lead else Place.REST
        got = per.get((e.theme, e.term))
        if got is None:
            per[(e.theme, e.term)] = (e, [place])
        elif place not in got[1]:
            got[1].append(place)
    hits: dict[str, list[Hit]] = {}
    for e, where in per.values():
        hits.setdefault(e.theme, []).append(hit(e.term, tuple(where), e.minor))
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
    return RuleScores(tuple(scores), ordered, index.catch_all)


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
                 f"{_points(OTHER_SCORE)}; the highest score wins, a tie with the catch-all "
                 "goes to it, other ties to the theme listed first")
    return lines
