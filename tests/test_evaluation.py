"""`msdigest themes evaluate`: the default rules measured on labeled summaries written for
this project (tests/data/themes/), and labeled files that cannot be read, named by line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from msdigest import config as config_mod
from msdigest import evaluation

from .conftest import REPO

THEMES = config_mod.load(None, env={}).themes
DATA = REPO / "tests" / "data" / "themes"
TUNING = DATA / "tuning.jsonl"
HELD_OUT = DATA / "held-out.jsonl"

# What the default rules reach (README, "Themes"); a change to the rules may not go below.
FLOOR_TUNING = 124 / 129
FLOOR_HELD_OUT = 50 / 54
FLOOR_AFTER_LEARNING = 88 / 91  # July-December, both files, after January-June as history


def cli(*args: object, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "msdigest.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def both() -> list[evaluation.Labeled]:
    return evaluation.read(TUNING, THEMES) + evaluation.read(HELD_OUT, THEMES)


def test_the_evaluation_set_covers_every_theme_with_hard_cases() -> None:
    items = both()
    assert len(items) >= 150
    by_theme = {t.id: sum(i.theme == t.id for i in items) for t in THEMES}
    assert min(by_theme.values()) >= 25, by_theme
    assert sum(bool(i.alt_theme) for i in items) >= 30  # items that fit two themes
    months = {i.date[:7] for i in items}
    assert len(months) == 12  # a year, so the first six months can teach the last six


def test_default_rules_agree_with_the_editor_at_least_as_often_as_they_did() -> None:
    tuning = evaluation.evaluate(evaluation.read(TUNING, THEMES), THEMES)
    held = evaluation.evaluate(evaluation.read(HELD_OUT, THEMES), THEMES)
    assert tuning.accuracy >= FLOOR_TUNING, [o.item.title for o in tuning.misses]
    assert held.accuracy >= FLOOR_HELD_OUT, [o.item.title for o in held.misses]
    assert held.lenient_accuracy >= held.accuracy


def test_learning_from_the_first_six_months_keeps_the_last_six_at_least_as_good() -> None:
    items = both()
    history = [i for i in items if i.date[5:7] <= "06"]
    later = [i for i in items if i.date[5:7] > "06"]
    model = evaluation.learn(history, THEMES)
    rules = evaluation.evaluate(later, THEMES)
    joined = evaluation.evaluate(later, THEMES, model)
    assert joined.accuracy >= FLOOR_AFTER_LEARNING
    assert joined.accuracy >= rules.accuracy


def test_evaluate_prints_agreement_confusion_and_each_miss_with_its_reason() -> None:
    run = cli("themes", "evaluate", TUNING, "--rules-only")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "strict agreement: 124/129 = 96.1%" in out
    assert "lenient agreement (theme or alt_theme): 127/129 = 98.4%" in out
    assert "confusion (rows: the file's theme; columns: msdigest's" in out
    assert "misses (5):" in out
    # a miss names its line, both themes and why it went where it went
    assert "Video consultations were popular but not for everything" in out
    assert "file: other; msdigest: exercise" in out
    assert "rules: exercise 2 ('physiotherapy'); other 1.5 (catch-all)" in out


def test_min_accuracy_exits_3_below_it_and_0_at_or_above(tmp_path: Path) -> None:
    assert cli("themes", "evaluate", TUNING, "--rules-only", "--min-accuracy", "0.95"
               ).returncode == 0
    below = cli("themes", "evaluate", TUNING, "--rules-only", "--min-accuracy", "97%")
    assert below.returncode == 3
    assert "below --min-accuracy 97.0%" in below.stdout
    bad = cli("themes", "evaluate", TUNING, "--min-accuracy", "lots")
    assert bad.returncode == 2 and "--min-accuracy lots" in bad.stderr


def test_learn_from_replays_a_history_and_says_so() -> None:
    run = cli("themes", "evaluate", HELD_OUT, "--learn-from", TUNING)
    assert run.returncode == 0, run.stderr
    assert "the model learned from" in run.stdout and "129 summaries" in run.stdout
    assert "strict agreement: 52/54" in run.stdout


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


GOOD = {"title": "Gut bacteria in MS", "summary": "Stool was sequenced.",
        "theme": "gut_microbiome"}


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("empty.jsonl", "", "empty.jsonl: the file is empty"),
    ("blank.jsonl", "\n \n", "blank.jsonl: the file is empty"),
    ("bad.jsonl", json.dumps(GOOD) + "\n{\"title\": \"x\",\n",
     "bad.jsonl: line 2: not a JSON object"),
    ("list.jsonl", json.dumps(GOOD) + "\n[1, 2]\n", "list.jsonl: line 2: not a JSON object"),
    ("unknown.jsonl", json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "theme": "Sleep & rest"}),
     "unknown.jsonl: line 2: theme 'Sleep & rest' is not a theme id"),
    ("undefined.jsonl", json.dumps({**GOOD, "alt_theme": "sleep"}),
     "undefined.jsonl: line 1: alt_theme 'sleep' is a theme the config does not define"),
    ("field.jsonl", json.dumps({**GOOD, "topic": "x"}),
     "field.jsonl: line 1: unknown field 'topic'"),
    ("notitle.jsonl", json.dumps({**GOOD, "title": " "}),
     "notitle.jsonl: line 1: title is missing or empty"),
    ("type.jsonl", json.dumps({**GOOD, "summary": 3}), "type.jsonl: line 1: summary must be"),
    ("header.csv", "title,text,theme\nA,b,other\n", "header.csv: line 1: the header lacks "
     "summary"),
    ("short.csv", "title,summary,theme\nA,b,other\n\"C\",d\n",
     "short.csv: line 3: 2 fields, the header has 3"),
    ("theme.csv", "title,summary,theme\nA,b,other\nC,d,sleep\n",
     "theme.csv: line 3: theme 'sleep' is a theme the config does not define"),
    ("header-only.csv", "title,summary,theme\n", "header-only.csv: no labeled summaries"),
])
def test_a_labeled_file_that_cannot_be_used_is_refused_naming_the_line(
        tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = write(tmp_path, name, text)
    run = cli("themes", "evaluate", path)
    assert run.returncode == 2, run.stdout
    assert expected in run.stderr.replace("\n", " ")
    assert "Traceback" not in run.stderr


def test_a_file_that_is_not_utf8_or_not_there_is_refused(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"title,summary,theme\nCaf\xe9 study,x,other\n")
    run = cli("themes", "evaluate", latin)
    assert run.returncode == 2 and "latin.csv: line 2: not UTF-8" in run.stderr
    gone = cli("themes", "evaluate", tmp_path / "nope.jsonl")
    assert gone.returncode == 2 and "nope.jsonl: cannot read it" in gone.stderr


def test_labels_are_checked_against_the_config_in_use(tmp_path: Path) -> None:
    cfg = write(tmp_path, "digest.toml", '[themes.sleep]\ntitle = "Sleep"\nterms = ["sleep"]\n'
                '[themes.rest]\ntitle = "Other"\n')
    data = write(tmp_path, "sleep.jsonl", json.dumps(
        {"title": "Insomnia and sleep in MS", "summary": "", "theme": "sleep"}) + "\n"
        + json.dumps(GOOD) + "\n")
    run = cli("--config", cfg, "themes", "evaluate", data)
    assert run.returncode == 2
    assert "sleep.jsonl: line 2: theme 'gut_microbiome' is a theme the config does not " \
        "define; the config's themes are sleep, rest" in run.stderr


def test_csv_with_alt_themes_and_a_summary_without_text(tmp_path: Path) -> None:
    path = write(tmp_path, "set.csv", "title,summary,theme,alt_theme\n"
                 "\"Ocrelizumab, infusions and B cells\",,therapies,\n"
                 "Fitter people had larger brain volumes,,exercise,biomarkers\n")
    items = evaluation.read(path, THEMES)
    assert [i.line for i in items] == [2, 3]
    result = evaluation.evaluate(items, THEMES)
    assert [o.decision.theme for o in result.outcomes] == ["therapies", "biomarkers"]
    assert (result.strict, result.lenient) == (1, 2)  # the title alone decides
