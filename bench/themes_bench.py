"""How well and how fast msdigest places summaries under themes: prints figures, asserts
nothing (the README quotes them).

    python bench/themes_bench.py                # agreement, learning, speed
    python bench/themes_bench.py --compare      # also other learners on the same protocol
    python bench/themes_bench.py --config bench/landed-themes.toml   # other rules

Agreement is measured as `msdigest themes evaluate` does. "After learning" replays the
first six months (January to June, by `date`) as an editor's history — each month
placed, the misplaced moved, the issue approved, the model retrained — and measures
the last six months, as the issue asks. The held-out file was written before the rules
were tuned and not looked at while tuning them.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from msdigest import config as config_mod
from msdigest import evaluation, learned, verdict
from msdigest import themes as rules_mod
from msdigest.evaluation import Labeled
from msdigest.model import Theme

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "themes"


def first_half(i: Labeled) -> bool:
    return i.date[5:7] <= "06"


def pct(n: int, total: int) -> str:
    return f"{n}/{total} = {n / total:.1%}" if total else "-"


def line(label: str, result: evaluation.Evaluation) -> None:
    print(f"  {label:<46} strict {pct(result.strict, result.total):<16} lenient "
          f"{pct(result.lenient, result.total)}")


def agreement(themes: tuple[Theme, ...], tuning: list[Labeled], held: list[Labeled]) -> None:
    print("default rules, no editor history:")
    line("tuning set", evaluation.evaluate(tuning, themes))
    line("held-out set", evaluation.evaluate(held, themes))
    line("both", evaluation.evaluate(tuning + held, themes))
    both = tuning + held
    print("after learning from January-June as editor moves and approvals, July-December:")
    model = evaluation.learn([i for i in both if first_half(i)], themes)
    h2 = [i for i in both if not first_half(i)]
    line("rules alone, July-December (both sets)", evaluation.evaluate(h2, themes))
    line("rules + model, July-December (both sets)", evaluation.evaluate(h2, themes, model))
    held2 = [i for i in held if not first_half(i)]
    line("rules alone, July-December (held-out only)", evaluation.evaluate(held2, themes))
    line("rules + model, July-December (held-out only)",
         evaluation.evaluate(held2, themes, model))
    flagged = evaluation.evaluate(h2, themes, model).flagged
    print(f"  low-margin decisions in July-December: {len(flagged)} of {len(h2)}, "
          f"{sum(not o.strict for o in flagged)} of them misses")
    model = evaluation.learn(tuning, themes)
    print("after learning from the whole tuning set, the held-out set:")
    line("rules + model", evaluation.evaluate(held, themes, model))


def synthetic(items: list[Labeled], n: int, extra: int = 3) -> list[Labeled]:
    """n summaries: the labeled ones, each with `extra` sentences of others added
    (deterministic)."""
    rng = random.Random(10)
    sentences = [s for i in items for s in i.summary.split(". ") if s]
    out = []
    for k in range(n):
        base = items[k % len(items)]
        text = ". ".join([base.summary, *rng.sample(sentences, extra)])
        out.append(Labeled(k, base.title, text, base.theme, date=base.date))
    return out


def timed(what: str, f: Callable[[], object], runs: int = 3) -> float:
    """The best of a few runs (other work on the machine only ever adds time)."""
    best = (math.inf, math.inf)
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        f()
        best = min(best, (time.process_time() - cpu, time.perf_counter() - wall))
    print(f"  {what:<52} {best[0]:6.2f} s CPU ({best[1]:.2f} s wall), best of {runs}")
    return best[0]


def reference() -> None:
    """How fast this machine runs plain Python, to compare figures across machines."""
    start = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    print(f"  (this machine: a 10-million-step Python loop takes "
          f"{time.process_time() - start:.2f} s CPU)")


def speed(themes: tuple[Theme, ...], items: list[Labeled]) -> None:
    history = synthetic(items, 5_000)
    print("speed (one process; CPU time, and wall time beside it):")
    for extra, repeat in ((0, 1), (3, 1), (3, 4)):
        many = [Labeled(i.line, i.title, " ".join([i.summary] * repeat), i.theme)
                for i in synthetic(items, 10_000, extra)]
        words = sum(len(i.summary.split()) + len(i.title.split()) for i in many) / len(many)
        summaries = [i.as_summary() for i in many]
        verdict.classify(summaries[0], themes)  # the term index, built once per config
        samples = [verdict.sample(i.title, i.summary, themes, i.theme) for i in history]
        model = verdict.train(samples)
        print(f" 10,000 summaries of {words:.0f} words on average:")
        timed("rules only", lambda ss=summaries: [verdict.classify(s, themes) for s in ss])
        timed(f"rules + a model of {len(samples):,} examples",
              lambda ss=summaries, m=model: [verdict.classify(s, themes, m) for s in ss])
    for n in (1_000, 5_000):
        samples = [verdict.sample(i.title, i.summary, themes, i.theme) for i in history[:n]]
        timed(f"train on {n:,} examples", lambda xs=samples: verdict.train(xs))
    reference()


# --- other learners on the same protocol, for comparison ---------------------------------


def naive_bayes(history: list[Labeled], themes: tuple[Theme, ...]
                ) -> Callable[[Labeled], str]:
    """Multinomial naive Bayes (add-0.3, equal priors, length-tempered), overruling the
    rules when they are unsure (top two < 2 points apart) and it is 70% sure."""
    counts: dict[str, Counter[str]] = {}
    for i in history:
        counts.setdefault(i.theme, Counter()).update(
            learned.words(i.title) * 2 + learned.words(i.summary))
    vocab = {w for c in counts.values() for w in c}
    totals = {t: sum(c.values()) for t, c in counts.items()}

    def decide(i: Labeled) -> str:
        rules = rules_mod.score(i.as_summary(), themes)
        ranked = rules.ranked
        ws = [w for w in learned.words(i.title) * 2 + learned.words(i.summary) if w in vocab]
        size = math.sqrt(max(1, len(ws)))
        logs = {t: sum(math.log((counts[t][w] + 0.3) / (totals[t] + 0.3 * len(vocab)))
                       for w in ws) / size for t in counts}
        top = max(logs.values())
        p = {t: math.exp(v - top) for t, v in logs.items()}
        z = sum(p.values())
        best = max(p, key=lambda t: p[t])
        if ranked[0][1] - ranked[1][1] < 2 and p[best] / z >= 0.7:
            return best
        return ranked[0][0]
    return decide


def sklearn_stacked(history: list[Labeled], themes: tuple[Theme, ...]
                    ) -> Callable[[Labeled], str] | None:
    """scikit-learn's LogisticRegression over word 1-2-grams (tf-idf) plus the rules'
    scores as features: the rules and the words learned together."""
    try:
        from scipy.sparse import csr_matrix, hstack  # type: ignore[import-untyped]
        from sklearn.feature_extraction.text import (  # type: ignore[import-untyped]
            TfidfVectorizer,
        )
        from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    except ImportError:
        return None
    ids = [t.id for t in themes]

    def rules(items: list[Labeled]) -> object:
        return csr_matrix([[dict(rules_mod.score(i.as_summary(), themes).scores)[t]
                            for t in ids] for i in items])

    texts = [f"{i.title} {i.title} {i.summary}" for i in history]
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    x = hstack([vec.fit_transform(texts), rules(history)]).tocsr()
    clf = LogisticRegression(C=10.0, max_iter=2000).fit(x, [i.theme for i in history])

    def decide(i: Labeled) -> str:
        row = hstack([vec.transform([f"{i.title} {i.title} {i.summary}"]), rules([i])])
        return str(clf.predict(row.tocsr())[0])
    return decide


def compare(themes: tuple[Theme, ...], tuning: list[Labeled], held: list[Labeled]) -> None:
    both = tuning + held
    history = [i for i in both if first_half(i)]
    tests = {"July-December (both)": [i for i in both if not first_half(i)],
             "July-December (held-out)": [i for i in held if not first_half(i)]}
    ours = evaluation.learn(history, themes)
    learners: dict[str, Callable[[Labeled], str] | None] = {
        "rules alone": lambda i: verdict.classify(i.as_summary(), themes).theme,
        "rules + msdigest's model (learned.py)":
            lambda i: verdict.classify(i.as_summary(), themes, ours).theme,
        "rules + naive Bayes of our own (gated)": naive_bayes(history, themes),
        "scikit-learn LogisticRegression, rules as features": sklearn_stacked(history, themes),
    }
    print("learners compared (history: January-June of both sets):")
    for name, decide in learners.items():
        if decide is None:
            print(f"  {name:<52} (scikit-learn not installed)")
            continue
        cells = []
        for label, items in tests.items():
            ok = sum(decide(i) == i.theme for i in items)
            cells.append(f"{label} {pct(ok, len(items))}")
        print(f"  {name:<52} " + "; ".join(cells))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="a config whose [themes.*] to measure (default: the "
                   "embedded defaults)")
    p.add_argument("--compare", action="store_true", help="other learners too")
    p.add_argument("--no-speed", action="store_true")
    args = p.parse_args(argv)
    themes = config_mod.load(args.config, env={}).themes if args.config else \
        config_mod.load(None, env={}).themes
    tuning = evaluation.read(DATA / "tuning.jsonl", themes)
    held = evaluation.read(DATA / "held-out.jsonl", themes)
    print(f"{len(tuning)} tuning + {len(held)} held-out labeled summaries; rules from "
          f"{args.config or 'the embedded defaults'}")
    agreement(themes, tuning, held)
    if args.compare:
        compare(themes, tuning, held)
    if not args.no_speed:
        speed(themes, tuning + held)
    return 0


if __name__ == "__main__":
    sys.exit(main())
