"""Themes: editor-readable rules give each summary one primary theme, and say why."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from msdigest import config as config_mod
from msdigest.collect import collect_feed
from msdigest.model import Summary
from msdigest.store import Store
from msdigest.verdict import classify, explain

from .conftest import REPO

THEMES = config_mod.load(None, env={}).themes


def summary(title: str, text: str = "") -> Summary:
    return Summary("abc123", "g", title, "https://t.example.org/x",
                   datetime(2026, 7, 1, tzinfo=UTC), f"<p>{text}</p>", text, "feed")


@pytest.mark.parametrize(("title", "text", "theme"), [
    ("Gut bacteria shape relapses", "", "gut_microbiome"),
    ("A study", "Dysbiosis and the microbiota were measured.", "gut_microbiome"),
    ("Aerobic training and fatigue", "", "exercise"),
    ("A study", "More physical activity, less fatigue.", "exercise"),
    ("Serum neurofilament light predicts relapse", "", "biomarkers"),
    ("A study", "sNfL and GFAP levels rose.", "biomarkers"),
    ("Retina scans", "OCT showed thinning.", "biomarkers"),
    ("A study", "A BTK inhibitor slowed disability.", "therapies"),
    ("Switching disease-modifying therapies", "", "therapies"),
    ("Disease modifying therapy in older adults", "", "therapies"),  # hyphen or space
    ("Sleep quality in MS", "People slept better with routines.", "other"),
])
def test_primary_theme(title: str, text: str, theme: str) -> None:
    assert classify(summary(title, text), THEMES).theme == theme


def test_whole_words_only_and_exact_terms_keep_their_case() -> None:
    # "exercised" is not the word "exercise"; "oct." (the month) is not OCT.
    assert classify(summary("A study", "Mice exercised; data from oct. 2026."),
                    THEMES).theme == "other"
    assert classify(summary("A study", "DRUG"), THEMES).theme == "therapies"  # any case


def test_title_counts_more_and_ties_follow_theme_order() -> None:
    # One exercise term in the title (3) beats two therapy terms in the text (2).
    s = summary("Exercise after diagnosis", "A clinical trial of a drug.")
    assert classify(s, THEMES).theme == "exercise"
    tie = summary("A study", "Gut bacteria and yoga.")
    assert classify(tie, THEMES).theme == "gut_microbiome"  # listed first


def why(s: Summary) -> str:
    return explain(s, classify(s, THEMES), THEMES, None, "learning is off")


def test_explain_shows_the_terms_that_decided() -> None:
    text = why(summary("Aerobic exercise and gut bacteria", "Aerobic cycling."))
    assert "theme: exercise (Exercise and rehabilitation), decided by the rules" in text
    assert "* exercise: score 10" in text
    assert "'aerobic': title (3) + first sentence (2) = 5" in text
    assert "gut_microbiome: score 3" in text
    assert "runner-up gut_microbiome" in text
    other = why(summary("Sleep in MS"))
    assert "theme: other" in other and "catch-all" in other


def test_editor_rules_from_config_change_the_result(tmp_path: Path) -> None:
    path = tmp_path / "digest.toml"
    path.write_text('[themes.sleep]\ntitle = "Sleep"\nterms = ["sleep", "insomnia"]\n'
                    '[themes.rest]\ntitle = "Other"\n')
    themes = config_mod.load(path, env={}).themes
    assert classify(summary("Insomnia in MS"), themes).theme == "sleep"
    assert classify(summary("Gut bacteria"), themes).theme == "rest"


def test_themes_explain_command(tmp_path: Path) -> None:
    cfg = tmp_path / "digest.toml"
    cfg.write_text('[store]\npath = "s.sqlite"\n')
    loaded = config_mod.load(cfg, env={})
    with Store.open(loaded.store_path) as store:
        collect_feed(store, "msdigest:sample-feed.xml", tmp_path, loaded.tz)
        target = next(s for s in store.content.all() if "yoga" in s.title.lower())
    run = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", str(cfg), "themes",
                          "explain", target.id[:6]], capture_output=True, text=True, cwd=REPO,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    assert target.title in run.stdout
    assert "theme: exercise" in run.stdout and "'yoga'" in run.stdout
    missing = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", str(cfg),
                              "themes", "explain", "zzzz"], capture_output=True, text=True,
                             cwd=REPO, timeout=60)
    assert missing.returncode == 1
    assert "no summary with id 'zzzz'" in missing.stderr
