"""Evaluation: how often msdigest puts summaries where an editor did (`themes evaluate`).

A file of labeled summaries — JSONL (one object a line) or CSV (a header line) with
`title`, `summary`, `theme` and, optionally, `alt_theme` (a second theme the editor
would accept), `date` (YYYY-MM-DD) and `id` — is classified as msdigest would, and
compared: strict agreement (the theme), lenient (the theme or alt_theme), a confusion
matrix, and every miss with the reason. Reading the file is checked line by line: a
problem names the file and line and says what to do (exit 2).

`learn` replays a labeled file as an editor's history, month by month (by `date`, else
all at once): each month's summaries are placed by the rules and the model learned so
far, the editor moves the misplaced ones and approves the issue, and the model retrains.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import UsageError
from .learned import CORRECTION_WEIGHT, Model
from .model import Summary, Theme
from .verdict import Decision, classify, sample, train

FIELDS = ("title", "summary", "theme", "alt_theme", "date", "id")
REQUIRED = ("title", "theme")
MAX_BYTES = 50 * 1024 * 1024


class EvaluationFileError(UsageError):
    """A labeled file that cannot be evaluated; the message names the file and line."""


@dataclass(frozen=True)
class Labeled:
    line: int
    title: str
    summary: str
    theme: str
    alt_theme: str = ""
    date: str = ""
    id: str = ""

    def as_summary(self) -> Summary:
        return Summary(self.id or f"line{self.line}", "", self.title, "",
                       datetime(2000, 1, 1, tzinfo=UTC), "", self.summary, "")


@dataclass(frozen=True)
class Outcome:
    item: Labeled
    decision: Decision

    @property
    def strict(self) -> bool:
        return self.decision.theme == self.item.theme

    @property
    def lenient(self) -> bool:
        return self.strict or self.decision.theme == self.item.alt_theme


@dataclass(frozen=True)
class Evaluation:
    outcomes: tuple[Outcome, ...]
    themes: tuple[str, ...]

    @property
    def total(self) -> int:
        return len(self.outcomes)

    @property
    def strict(self) -> int:
        return sum(o.strict for o in self.outcomes)

    @property
    def lenient(self) -> int:
        return sum(o.lenient for o in self.outcomes)

    @property
    def accuracy(self) -> float:
        return self.strict / self.total if self.total else 0.0

    @property
    def lenient_accuracy(self) -> float:
        return self.lenient / self.total if self.total else 0.0

    def confusion(self) -> dict[tuple[str, str], int]:
        """(the file's theme, msdigest's theme) -> count."""
        return dict(Counter((o.item.theme, o.decision.theme) for o in self.outcomes))

    @property
    def misses(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if not o.strict)

    @property
    def flagged(self) -> tuple[Outcome, ...]:
        """Decisions msdigest would list for review (low margin)."""
        return tuple(o for o in self.outcomes if o.decision.low_margin)


# --- reading ------------------------------------------------------------------------------


def _fail(path: Path, line: int | None, problem: str) -> EvaluationFileError:
    where = f"{path}: line {line}" if line is not None else str(path)
    return EvaluationFileError(f"{where}: {problem}")


def _row(path: Path, line: int, raw: dict[str, Any], themes: tuple[Theme, ...]) -> Labeled:
    unknown = sorted(k for k in raw if k not in FIELDS)
    if unknown:
        raise _fail(path, line, f"unknown field {unknown[0]!r}; the fields are "
                    f"{', '.join(FIELDS)} (title, summary and theme are needed)")
    values: dict[str, str] = {}
    for name in FIELDS:
        value = raw.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise _fail(path, line, f"{name} must be text, got {json.dumps(value)[:40]}")
        values[name] = " ".join(value.split())
    for name in REQUIRED:
        if not values[name]:
            raise _fail(path, line, f"{name} is missing or empty")
    ids = [t.id for t in themes]
    for name in ("theme", "alt_theme"):
        tid = values[name]
        if tid and tid not in ids:
            kind = "not a theme id" if not tid.isidentifier() else \
                "a theme the config does not define"
            raise _fail(path, line, f"{name} {tid!r} is {kind}; the config's themes are "
                        f"{', '.join(ids)}")
    if values["alt_theme"] == values["theme"]:
        values["alt_theme"] = ""
    return Labeled(line, values["title"], values["summary"], values["theme"],
                   values["alt_theme"], values["date"], values["id"])


def _jsonl(path: Path, text: str, themes: tuple[Theme, ...]) -> list[Labeled]:
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(path, number, f"not a JSON object ({exc.msg}, column {exc.colno}); "
                        "each line holds one object like {\"title\": ..., \"summary\": ..., "
                        "\"theme\": ...}") from None
        if not isinstance(raw, dict):
            raise _fail(path, number, "not a JSON object; each line holds one object like "
                        "{\"title\": ..., \"summary\": ..., \"theme\": ...}")
        out.append(_row(path, number, raw, themes))
    return out


def _csv(path: Path, text: str, themes: tuple[Theme, ...]) -> list[Labeled]:
    reader = csv.reader(io.StringIO(text, newline=""))
    out = []
    try:
        header = [h.strip() for h in next(reader, [])]
        missing = [f for f in ("title", "summary", "theme") if f not in header]
        if missing:
            raise _fail(path, 1, f"the header lacks {', '.join(missing)}; the first line "
                        f"names the columns: title,summary,theme[,alt_theme,date,id]")
        for cells in reader:
            number = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise _fail(path, number, f"{len(cells)} fields, the header has "
                            f"{len(header)} (quote fields that hold commas)")
            out.append(_row(path, number, dict(zip(header, cells, strict=True)), themes))
    except csv.Error as exc:
        raise _fail(path, reader.line_num, f"not readable as CSV ({exc})") from None
    return out


def read(path: Path, themes: tuple[Theme, ...]) -> list[Labeled]:
    """The labeled summaries of a JSONL or CSV file (by its content: a line starting
    with `{` is JSONL)."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise _fail(path, None, f"larger than {MAX_BYTES // 1024 // 1024} MB")
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(path, None, f"cannot read it: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise _fail(path, line, "not UTF-8 text; save the file as UTF-8") from None
    if not text.strip():
        raise _fail(path, None, "the file is empty; it needs one labeled summary a line "
                    "(JSONL) or a CSV header and rows")
    first = text.lstrip()
    items = _jsonl(path, text, themes) if first.startswith("{") else _csv(path, text, themes)
    if not items:
        raise _fail(path, None, "no labeled summaries in it, only a header or blank lines")
    return items


# --- measuring ----------------------------------------------------------------------------


def evaluate(items: Iterable[Labeled], themes: tuple[Theme, ...],
             model: Model | None = None) -> Evaluation:
    outcomes = tuple(Outcome(i, classify(i.as_summary(), themes, model)) for i in items)
    return Evaluation(outcomes, tuple(t.id for t in themes))


def learn(history: Iterable[Labeled], themes: tuple[Theme, ...]) -> Model:
    """The model an editor's history would give: month by month, the misplaced summaries
    moved (corrections) and the rest approved as placed."""
    items = list(history)
    months: dict[str, list[Labeled]] = {}
    for i in sorted(items, key=lambda i: i.date):  # stable: file order within a month
        months.setdefault(i.date[:7], []).append(i)
    samples = []
    model: Model | None = None
    for month in sorted(months):
        for i in months[month]:
            placed = classify(i.as_summary(), themes, model).theme
            weight = 1.0 if placed == i.theme else CORRECTION_WEIGHT
            samples.append(sample(i.title, i.summary, themes, i.theme, weight))
        model = train(samples)
    return model if model is not None else train([])


def reason(d: Decision) -> str:
    """One line on why a summary went where it went."""
    parts = []
    for tid, points in d.rules.ranked[:3]:
        hits = d.rules.hits.get(tid, ())
        terms = ", ".join(f"{h.term!r}" for h in hits[:3])
        if tid == d.rules.catch_all:
            parts.append(f"{tid} {points:g} (catch-all)")
        elif points:
            parts.append(f"{tid} {points:g} ({terms})")
    learned = ", ".join(f"{t} {v:+.2f}" for t, v in sorted(d.learned.items())
                        if abs(v) >= 0.05)
    return ("rules: " + "; ".join(parts) + (f" | model: {learned}" if learned else "")
            + f" | decided by the {d.decided_by}, margin {d.margin:.2f} over {d.runner_up}")
