"""Verdict: the theme a summary gets, from the editor's rules and the learned model joined,
with how sure it is (pure).

The policy, written once:
- Each theme's joined score is its rules' score (the catch-all's is fixed) plus, once
  there are MIN_EXAMPLES labeled examples and learning is on, the points the learned
  model gives the summary's words (learned.py). The model learns only where the rules
  put examples wrong or too close, so where the rules are clear it adds nothing, and it
  overrules them only for the kind of summary the editors kept moving.
- The highest joined score wins; exact ties follow the rules (the catch-all wins a tie
  with it, then config order).
- The scores become chances that sum to 1 (a softmax: a point apart is a factor e);
  the margin is the winner's chance minus the runner-up's. Below LOW_MARGIN the
  decision is listed for review, with the runner-up.
- "decided by": the rules when their own first choice won, the model when its words
  changed the winner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .learned import Model, Sample
from .model import Summary, Theme
from .themes import WEAK_SCORE, RuleScores, describe, score, score_text

MIN_EXAMPLES = 20  # the model joins the rules from this many labeled examples
LOW_MARGIN = 0.25  # decisions closer than this are listed for review


@dataclass(frozen=True)
class Decision:
    theme: str
    runner_up: str
    margin: float  # the winner's chance minus the runner-up's, 0-1
    decided_by: str  # "rules" or "model"
    rules: RuleScores
    chances: tuple[tuple[str, float], ...]  # (theme, joined chance), config order
    learned: dict[str, float] = field(default_factory=dict)  # the model's points

    @property
    def score(self) -> float:
        """The rules' score of the chosen theme."""
        return self.rules.of(self.theme)

    @property
    def weak(self) -> bool:
        """Won on a single term outside the title, nothing else."""
        return self.theme != self.rules.catch_all and self.score <= WEAK_SCORE

    @property
    def low_margin(self) -> bool:
        return self.margin < LOW_MARGIN


def active(model: Model | None) -> Model | None:
    """The model if it may join the rules: enough examples, of two themes or more."""
    if model is None or model.examples < MIN_EXAMPLES or len(model.themes) < 2:
        return None
    return model


def chances(scores: dict[str, float]) -> dict[str, float]:
    top = max(scores.values())
    exp = {t: math.exp(s - top) for t, s in scores.items()}
    total = sum(exp.values())
    return {t: v / total for t, v in exp.items()}


def sample(title: str, text: str, themes: tuple[Theme, ...], theme: str,
           weight: float = 1.0) -> Sample:
    """A labeled example as the model trains on it: with the rules' scores of today."""
    return Sample(title, text, theme, score_text(title, text, themes).scores, weight)


def train(samples: list[Sample]) -> Model:
    return Model.train(samples)


def classify(summary: Summary, themes: tuple[Theme, ...], model: Model | None = None
             ) -> Decision:
    rules = score(summary, themes)
    order = [t.id for t in themes]
    joined = active(model)
    learned = joined.adjust(summary.title, summary.text) if joined else {}
    z = {t: s + learned.get(t, 0.0) for t, s in rules.scores}
    rules_rank = [t for t, _ in rules.ranked]
    ranked = sorted(order, key=lambda t: (-round(z[t], 9), rules_rank.index(t)))
    best, second = ranked[0], ranked[1]
    p = chances(z)
    decided = "rules" if best == rules.theme else "model"
    return Decision(best, second, p[best] - p[second], decided, rules,
                    tuple((t, p[t]) for t in order), learned)


def explain(summary: Summary, decision: Decision, themes: tuple[Theme, ...],
            model: Model | None, learning: str) -> str:
    """Why a summary got its theme: the rules' scores, the model's words, who decided."""
    titles = {t.id: t.title for t in themes}
    d = decision
    lines = [f"{summary.id}  {summary.title}",
             f"theme: {d.theme} ({titles[d.theme]}), decided by the {d.decided_by}; "
             f"margin {d.margin:.2f} over the runner-up {d.runner_up} "
             f"({titles[d.runner_up]})"
             + (" — weak match" if d.weak else "")
             + (" — low margin: listed for review" if d.low_margin else "")]
    if not (summary.text or "").strip():
        lines.append("(no text: classified by its title alone)")
    lines += ["", "rules:", *describe(d.rules, themes, d.theme), ""]
    joined = active(model)
    if joined is None:
        lines.append(f"model: not used ({learning})")
    else:
        lines.append(f"model: learned from {joined.examples} labeled examples; it adds "
                     "points to the rules' scores")
        moves = [(t, v) for t, v in sorted(d.learned.items()) if abs(v) >= 0.005]
        lines.append("  points: " + (", ".join(f"{t} {v:+.2f}" for t, v in moves)
                                     or "none (no word it learned is here)"))
        against = d.rules.theme if d.decided_by == "model" else d.runner_up
        top = joined.top_words(summary.title, summary.text, d.theme, against)
        if top:
            lines.append(f"  words weighing most for {d.theme} over {against}: "
                         + ", ".join(f"{w!r} {v:+.2f}" for w, v in top))
    joined_scores = {t: s + d.learned.get(t, 0.0) for t, s in d.rules.scores}
    lines.append("")
    lines.append("joined scores (chance): " + ", ".join(
        f"{t} {joined_scores[t]:.2f} ({c:.2f})" for t, c in
        sorted(d.chances, key=lambda tc: -tc[1])))
    lines.append(f"decided by the {d.decided_by}: "
                 + ("the rules' own first choice won" if d.decided_by == "rules" else
                    f"the learned words moved it from {d.rules.theme}, the rules' choice"))
    return "\n".join(lines)
