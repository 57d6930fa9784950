"""Learning from editors: every move and every placement in an approved or sent issue is a
labeled example in the store; the model trained on them joins the rules, can be
switched off, and never changes an issue an editor approved."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from msdigest import config as config_mod
from msdigest import editorial, learning
from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.editorial import ApprovalState, standing
from msdigest.issue import draft, freeze
from msdigest.model import Summary
from msdigest.period import Period
from msdigest.records import Source
from msdigest.store import Store
from msdigest.verdict import MIN_EXAMPLES, classify, sample, train

from .conftest import REPO

THEMES = config_mod.load(None, env={}).themes
OCTOBER = Period(2026, 10)


def summary(n: int, title: str, text: str = "") -> Summary:
    return Summary(f"s{n:03d}", f"g{n}", title, f"https://t.example.org/{n}",
                   datetime(2026, 7, 1, tzinfo=UTC), f"<p>{text}</p>", text, "feed")


# An editor who files memory and thinking training under "other", never under exercise.
COGNITIVE = [
    ("Computer memory training improved recall in people with MS",
     "A cognitive rehabilitation program of memory games for eight weeks improved recall."),
    ("Attention training on a tablet helped people with MS at work",
     "Cognitive rehabilitation with attention exercises on a tablet improved focus."),
    ("Group memory sessions eased forgetfulness",
     "Weekly cognitive rehabilitation groups taught memory strategies to people with MS."),
    ("Thinking speed improved after brain training games",
     "People with MS played brain training games as cognitive rehabilitation for ten weeks."),
    ("A memory notebook program helped daily life",
     "Cognitive rehabilitation with notebooks and reminders helped people with MS plan."),
]
PLAIN = [
    ("Gut bacteria differ in MS", "Stool samples showed dysbiosis.", "gut_microbiome"),
    ("Yoga improved balance", "Weekly yoga classes helped people with MS.", "exercise"),
    ("Serum neurofilament light predicted relapses", "sNfL rose first.", "biomarkers"),
    ("Ocrelizumab slowed disability", "Infusions every six months.", "therapies"),
    ("Loneliness was common in MS", "A survey of 2,000 people.", "other"),
]


def test_the_model_moves_the_kind_of_summary_the_editors_kept_moving() -> None:
    history = [sample(t, x, THEMES, "other", 2.0) for t, x in COGNITIVE]
    history += [sample(t, x, THEMES, theme) for _ in range(4) for t, x, theme in PLAIN]
    assert len(history) >= MIN_EXAMPLES
    model = train(history)
    new = summary(1, "Memory training helped people with MS remember names",
                  "Cognitive rehabilitation sessions twice a week for people with MS.")
    assert classify(new, THEMES).theme == "exercise"  # the rules: 'cognitive rehabilitation'
    decided = classify(new, THEMES, model)
    assert (decided.theme, decided.decided_by, decided.runner_up) == \
        ("other", "model", "exercise")
    # where the rules are clear and the editors agreed, the model changes nothing
    for t, x, theme in PLAIN:
        assert classify(summary(2, t, x), THEMES, model).theme == theme


def test_training_is_deterministic_and_needs_enough_examples() -> None:
    history = [sample(t, x, THEMES, "other", 2.0) for t, x in COGNITIVE]
    history += [sample(t, x, THEMES, theme) for _ in range(4) for t, x, theme in PLAIN]
    assert train(history) == train(list(history))
    few = train(history[:MIN_EXAMPLES - 1])
    new = summary(1, COGNITIVE[0][0], COGNITIVE[0][1])
    assert classify(new, THEMES, few).decided_by == "rules"  # too few: the rules alone


def test_every_decision_carries_a_margin_and_a_runner_up() -> None:
    clear = classify(summary(1, "Ocrelizumab infusions", "An anti-CD20 drug."), THEMES)
    close = classify(summary(2, "Yoga and MRI lesions"), THEMES)
    assert clear.margin > 0.9 and clear.runner_up != clear.theme
    assert close.low_margin and {close.theme, close.runner_up} == {"exercise", "biomarkers"}


def cli(cfg: Config, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", cfg.source,
                           *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def sample_store(make_config: Callable[..., Config]) -> tuple[Config, list[str]]:
    cfg = make_config(digest={"require_approval": True})
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        ids = [i.id for i in draft(store, cfg, OCTOBER).issue.items]
    return cfg, ids


def test_moves_approvals_and_sends_are_kept_as_examples_once_each(
        make_config: Callable[..., Config]) -> None:
    cfg, ids = sample_store(make_config)
    moved = cli(cfg, "issue", "move", "--period", OCTOBER, ids[0][:8], "other")
    assert moved.returncode == 0, moved.stderr
    for _ in range(2):  # approving again replaces the examples, never adds to them
        assert cli(cfg, "approve", "--period", OCTOBER, "--by", "Dana").returncode == 0
    with Store.open(cfg.store_location) as store:
        counts = store.labels.counts()
        assert counts == {Source.MOVE: 1, Source.APPROVED: len(ids)}
        examples = {(e.summary_id, e.source): e for e in store.labels.examples()}
        assert examples[(ids[0], Source.MOVE)].theme == "other"
        assert examples[(ids[0], Source.MOVE)].correction
        assert examples[(ids[0], Source.APPROVED)].correction  # it was moved
        assert not examples[(ids[1], Source.APPROVED)].correction
        freeze(store, draft(store, cfg, OCTOBER))  # what a send does first
        assert store.labels.counts()[Source.SENT] == len(ids)
        status = learning.status(store, cfg)
    assert status.used == len(ids) and status.corrections == 1
    shown = cli(cfg, "themes", "learn")
    assert shown.returncode == 0
    assert f"{len(ids) * 2 + 1} labeled examples (1 move, {len(ids)} approved, " \
        f"{len(ids)} sent)" in shown.stdout
    assert f"The model joins the rules from {MIN_EXAMPLES} summaries" in shown.stdout


def test_learning_can_be_switched_off_and_on_for_the_store(
        make_config: Callable[..., Config]) -> None:
    cfg, ids = sample_store(make_config)
    off = cli(cfg, "themes", "learn", "--off")
    assert off.returncode == 0 and "learning is off for this store" in off.stdout
    explained = cli(cfg, "themes", "explain", ids[0][:8])
    assert "model: not used (learning is off for this store" in explained.stdout
    with Store.open(cfg.store_location, readonly=True) as store:
        assert not store.labels.learning()
    on = cli(cfg, "themes", "learn", "--on")
    assert on.returncode == 0 and "learning is on" in on.stdout
    both = cli(cfg, "themes", "learn", "--on", "--off")
    assert both.returncode == 2 and "not allowed with" in both.stderr


def add(store: Store, n: int, title: str, text: str, day: datetime) -> str:
    s = Summary(f"cog{n:02d}", f"cog{n}", title, f"https://t.example.org/cog{n}", day,
                f"<p>{text}</p>", text, "feed")
    store.content.upsert(s, day)
    return s.id


def editor_files_cognitive_training_under_other(store: Store, cfg: Config) -> None:
    """August and September: the editor moves every memory-training summary to "other"
    and approves each month."""
    for n, (title, text) in enumerate(COGNITIVE * 2):  # each kind, twice
        add(store, n, title, text, datetime(2026, 8 + n % 2, 10 + n, tzinfo=UTC))
    for period in (Period(2026, 8), Period(2026, 9)):
        for p in draft(store, cfg, period).chosen:
            if p.summary.id.startswith("cog") and p.theme != "other":
                editorial.move(store, cfg, period, p.summary.id, "other")
        editorial.approve(store, cfg, period, "Dana")


NEW_KIND = ("Memory training helped people with MS remember names",
            "Cognitive rehabilitation sessions twice a week for people with MS.")


def test_what_the_model_learns_never_changes_an_approved_issue(
        make_config: Callable[..., Config]) -> None:
    cfg, _ = sample_store(make_config)
    with Store.open(cfg.store_location) as store:
        october = add(store, 99, *NEW_KIND, datetime(2026, 10, 20, tzinfo=UTC))
        editorial.approve(store, cfg, OCTOBER, "Dana")
        before = draft(store, cfg, OCTOBER).issue
        assert {i.id: i.theme for i in before.items}[october] == "exercise"
        editor_files_cognitive_training_under_other(store, cfg)
        assert learning.model(store, cfg) is not None  # it joined the rules
        after = draft(store, cfg, OCTOBER)
        marks = after.marks(october)
        assert marks is not None and marks.automatic == "other"  # what it would do now
        assert after.issue == before  # what was approved stays
        assert standing(store, after).state is ApprovalState.APPROVED


def test_explain_shows_the_rules_the_model_and_which_decided(
        make_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg, _ = sample_store(make_config)
    with Store.open(cfg.store_location) as store:
        editor_files_cognitive_training_under_other(store, cfg)
        editorial.approve(store, cfg, OCTOBER, "Dana")
        add(store, 98, *NEW_KIND, datetime(2026, 11, 3, tzinfo=UTC))
        used = learning.status(store, cfg).used
    run = cli(cfg, "themes", "explain", "cog98")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "theme: other (Other research), decided by the model" in out
    assert "'cognitive rehabilitation': first sentence (2) = 2" in out  # the rules' part
    assert f"model: learned from {used} labeled examples" in out
    assert "words weighing most for other over exercise: 'memory'" in out
    assert "the learned words moved it from exercise, the rules' choice" in out
    november = cli(cfg, "issue", "show", "--period", "2026-11")
    assert "cog98" in november.stdout
