"""Themes: give each summary one primary theme from the editor's term lists.

Rules an editor can predict: a term matches as a whole word or phrase, in any
letter case (terms under `exact` only as written), also in its plural (-s, -es, -ies);
spaces and hyphens inside a phrase are interchangeable. A match in the title
counts three times. The theme with the highest score wins; ties go to the theme
listed first; a summary matching nothing goes to the catch-all theme.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from .model import Summary, Theme

TITLE_WEIGHT = 3
WEAK_SCORE = 2  # at or below this a match is shown to editors as weak


@dataclass(frozen=True)
class Hit:
    term: str
    in_title: int
    in_text: int

    @property
    def score(self) -> int:
        return TITLE_WEIGHT * self.in_title + self.in_text


@dataclass(frozen=True)
class Decision:
    theme: str
    score: int
    hits: dict[str, tuple[Hit, ...]]  # theme id -> matching terms (themes with hits only)

    @property
    def weak(self) -> bool:
        return 0 < self.score <= WEAK_SCORE


@lru_cache(maxsize=4096)
def term_pattern(term: str, exact: bool) -> re.Pattern[str]:
    words = [re.escape(w) for w in re.split(r"[\s\-]+", term.strip()) if w]
    plural = "(?:s|es)?"
    if len(words[-1]) > 2 and words[-1][-1] in "yY" and words[-1][-2].lower() not in "aeiou":
        words[-1], plural = words[-1][:-1], "(?:y|ies)"  # therapy, therapies
    body = r"[\s\-]+".join(words)
    flags = 0 if exact else re.IGNORECASE
    return re.compile(rf"(?<![\w-]){body}{plural}(?![\w-])", flags)


def _hits(theme: Theme, title: str, text: str) -> tuple[Hit, ...]:
    found = []
    for term, exact in [(t, False) for t in theme.terms] + [(t, True) for t in theme.exact]:
        pattern = term_pattern(term, exact)
        in_title = len(pattern.findall(title))
        in_text = len(pattern.findall(text))
        if in_title or in_text:
            found.append(Hit(term, in_title, in_text))
    return tuple(found)


def classify(summary: Summary, themes: tuple[Theme, ...]) -> Decision:
    hits = {}
    scores: Counter[str] = Counter()
    for theme in themes:
        if theme.catch_all:
            continue
        theme_hits = _hits(theme, summary.title, summary.text)
        if theme_hits:
            hits[theme.id] = theme_hits
            scores[theme.id] = sum(h.score for h in theme_hits)
    if not scores:
        catch_all = next(t.id for t in themes if t.catch_all)
        return Decision(catch_all, 0, {})
    order = {t.id: i for i, t in enumerate(themes)}
    best = max(scores, key=lambda tid: (scores[tid], -order[tid]))
    return Decision(best, scores[best], hits)


def explain(summary: Summary, themes: tuple[Theme, ...]) -> str:
    """The terms that decided a summary's theme, for `msdigest themes explain`."""
    decision = classify(summary, themes)
    titles = {t.id: t.title for t in themes}
    lines = [f"{summary.id}  {summary.title}", f"theme: {decision.theme} "
             f"({titles[decision.theme]}), score {decision.score}"
             + (" — weak match" if decision.weak else "")]
    if not decision.hits:
        lines.append("no theme's terms matched; it goes to the catch-all theme")
    for theme in themes:
        theme_hits = decision.hits.get(theme.id)
        if not theme_hits:
            continue
        total = sum(h.score for h in theme_hits)
        mark = "*" if theme.id == decision.theme else " "
        lines.append(f"{mark} {theme.id}: score {total}")
        for h in sorted(theme_hits, key=lambda h: -h.score):
            where = []
            if h.in_title:
                where.append(f"{h.in_title}x in title (x{TITLE_WEIGHT})")
            if h.in_text:
                where.append(f"{h.in_text}x in text")
            lines.append(f"    {h.term!r}: " + ", ".join(where))
    lines.append(f"rules: title matches count {TITLE_WEIGHT}x; highest score wins; "
                 "ties go to the theme listed first in the config")
    return "\n".join(lines)
