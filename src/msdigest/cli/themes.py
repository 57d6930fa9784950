"""The `themes` commands: list the rules, explain one decision, evaluate the rules on a
labeled file, and switch learning from editors on or off."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import evaluation, learning
from ..config import Config
from ..editorial import summary_by_ref
from ..errors import Exit, UsageError
from ..learned import Model
from ..store import Store
from ..verdict import MIN_EXAMPLES, classify, explain
from .output import say, table


def cmd_themes(cfg: Config, args: argparse.Namespace) -> int:
    if args.action == "list":
        table(None, ("id", "title", "terms"), (
            (t.id, t.title, ", ".join([*t.terms, *(f"{x} (exact)" for x in t.exact),
                                       *(f"{x} (minor)" for x in t.minor)])
             or "(catch-all: summaries matching no theme)") for t in cfg.themes))
        return Exit.OK
    if args.action == "explain":
        return _explain(cfg, args.id)
    if args.action == "evaluate":
        return _evaluate(cfg, args)
    return _learn(cfg, args)


def _explain(cfg: Config, ref: str) -> int:
    with Store.open(cfg.store_location, readonly=True) as store:
        summary = summary_by_ref(store, ref)
        model = learning.model(store, cfg)
        state = learning.status(store, cfg).describe()
        kept = store.labels.approved([summary.id]).get(summary.id)
    decision = classify(summary, cfg.themes, model)
    say(explain(summary, decision, cfg.themes, model, state))
    if kept and kept != decision.theme:
        say(f"note: its issue was approved with it under {kept}; it stays there unless an "
            "editor moves it")
    return Exit.OK


def _store_model(cfg: Config) -> tuple[Model | None, str]:
    if not cfg.store_location.exists():
        return None, f"rules only (no store at {cfg.store_location} yet, so no examples)"
    with Store.open(cfg.store_location, readonly=True) as store:
        model = learning.model(store, cfg)
        state = learning.status(store, cfg)
    if model is None:
        return None, f"rules only ({state.describe()})"
    return model, f"rules and the model learned from {model.examples} examples in " \
        f"{cfg.store_location}"


def _min_accuracy(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise UsageError(f"--min-accuracy {text}: give a share like 0.9 or 90%") from None
    value = value / 100 if value > 1 or text.endswith("%") else value
    if not 0 <= value <= 1:
        raise UsageError(f"--min-accuracy {text}: must be between 0 and 1 (or 0-100%)")
    return value


def _evaluate(cfg: Config, args: argparse.Namespace) -> int:
    floor = _min_accuracy(args.min_accuracy)
    items = evaluation.read(Path(args.file), cfg.themes)
    if args.learn_from:
        history = evaluation.read(Path(args.learn_from), cfg.themes)
        model: Model | None = evaluation.learn(history, cfg.themes)
        how = f"rules and the model learned from {args.learn_from} replayed as an " \
              f"editor's moves and approvals ({len(history)} summaries)"
        if len(history) < MIN_EXAMPLES:
            how += f"; fewer than {MIN_EXAMPLES}, so the model does not join yet"
    elif args.rules_only:
        model, how = None, "rules only"
    else:
        model, how = _store_model(cfg)
    result = evaluation.evaluate(items, cfg.themes, model)
    ids = result.themes
    say(f"{args.file}: {result.total} labeled summaries; {how}")
    say(f"strict agreement: {result.strict}/{result.total} = {result.accuracy:.1%}")
    say(f"lenient agreement (theme or alt_theme): {result.lenient}/{result.total} = "
        f"{result.lenient_accuracy:.1%}")
    for line in confusion_lines(result.confusion(), ids):
        say(line)
    flagged = result.flagged
    caught = sum(not o.strict for o in flagged)
    say(f"low-margin decisions (listed for review): {len(flagged)}, {caught} of them misses")
    if result.misses:
        say(f"\nmisses ({len(result.misses)}):")
    for o in result.misses:
        alt = f" (or {o.item.alt_theme})" if o.item.alt_theme else ""
        lenient = ", accepted leniently" if o.lenient else ""
        say(f"  line {o.item.line}: {o.item.title}")
        say(f"    file: {o.item.theme}{alt}; msdigest: {o.decision.theme}{lenient}")
        say(f"    {evaluation.reason(o.decision)}")
    if floor is not None and result.accuracy < floor:
        say(f"\nstrict agreement {result.accuracy:.1%} is below --min-accuracy {floor:.1%}")
        return Exit.PARTIAL
    return Exit.OK


def confusion_lines(confusion: dict[tuple[str, str], int], ids: tuple[str, ...]
                    ) -> list[str]:
    """The confusion matrix as text: a row per file theme, a column per msdigest theme."""
    width = max(len(t) for t in ids)
    cols = [t[:8] for t in ids]
    lines = ["confusion (rows: the file's theme; columns: msdigest's; . = none):",
             "  " + " " * width + "".join(f"{c:>9}" for c in cols) + f"{'total':>9}"]
    for want in ids:
        row = [confusion.get((want, got), 0) for got in ids]
        lines.append(f"  {want:<{width}}" + "".join(f"{n or '.':>9}" for n in row)
                     + f"{sum(row):>9}")
    return lines


def _learn(cfg: Config, args: argparse.Namespace) -> int:
    if args.on or args.off:
        with Store.open(cfg.store_location) as store:
            store.labels.set_learning(bool(args.on))
            say(learning.status(store, cfg).describe())
        return Exit.OK
    if not cfg.store_location.exists():
        say(f"learning is on (the default); there is no store at {cfg.store_location} yet, so "
            "no examples")
        return Exit.OK
    with Store.open(cfg.store_location, readonly=True) as store:
        say(learning.status(store, cfg).describe())
    return Exit.OK
