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


# --- where a term stands, and how central it is ------------------------------------------


def test_a_word_in_passing_does_not_pull_a_summary_out_of_other() -> None:
    costs = summary("Health-care costs rose in the year before diagnosis",
                    "Records showed more doctor visits before MS was diagnosed. Costs rose "
                    "further after diagnosis, mostly from disease-modifying therapy.")
    assert classify(costs, THEMES).theme == "other"  # one therapy term, in the rest only
    twice = summary("Costs of care", "Doctor visits were counted. Most costs came from "
                    "disease-modifying therapy, above all from ocrelizumab.")
    assert classify(twice, THEMES).theme == "therapies"  # two terms in the rest: central


def test_the_title_and_first_sentence_outweigh_the_rest() -> None:
    s = summary("Aerobic exercise eased fatigue",
                "People cycled three times a week. Their MRI lesions and serum "
                "neurofilament light were also measured.")
    d = classify(s, THEMES)
    assert d.theme == "exercise" and d.runner_up == "biomarkers"


def test_minor_terms_support_a_theme_but_one_alone_cannot_carry_it() -> None:
    assert classify(summary("Bladder problems mattered more than walking problems",
                            "A survey of people with MS."), THEMES).theme == "other"
    assert classify(summary("People stuck with tablets more often than with injections",
                            "Two years of medicine records."), THEMES).theme == "therapies"


def test_plurals_hyphens_compounds_and_the_longest_term() -> None:
    assert classify(summary("Speech therapy exercises made speech clearer"),
                    THEMES).rules.hits["exercise"][0].term in ("speech therapy", "exercise")
    hits = classify(summary("The gut microbiome and gut-brain axis"), THEMES).rules.hits
    assert {h.term for h in hits["gut_microbiome"]} == {"gut microbiome", "gut-brain axis"}
    # a term never matches a part of a hyphenated word
    assert classify(summary("A study", "Non-drug approaches were listed."),
                    THEMES).theme == "other"
    assert classify(summary("Anti CD20 infusions", ""), THEMES).theme == "therapies"


def test_a_summary_without_text_is_classified_by_its_title_alone() -> None:
    s = Summary("abc123", "g", "Serum GFAP tracked progression", "https://t.example.org/x",
                datetime(2026, 7, 1, tzinfo=UTC), "", "", "feed")
    d = classify(s, THEMES)
    assert d.theme == "biomarkers" and "(no text: classified by its title alone)" in why(s)


def test_the_example_config_documents_the_default_themes() -> None:
    example = config_mod.load(REPO / "digest.example.toml", env={}).themes
    assert example == THEMES
