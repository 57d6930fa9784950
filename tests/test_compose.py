"""Compose and preview: what an issue holds, and the files an editor checks."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from msdigest import config as config_mod
from msdigest.compose import teaser
from msdigest.issue import draft, freeze
from msdigest.model import Summary
from msdigest.period import Period
from msdigest.store import Store

from .conftest import REPO
from .conftest import issue_of as compose

CFG = config_mod.load(None, env={})


def add(store: Store, n: int, published: datetime, seen: datetime, title: str = "",
        text: str = "") -> Summary:
    s = Summary(f"id{n:03d}", f"g{n}", title or f"Summary {n} about gut bacteria",
                f"https://t.example.org/{n}", published, f"<p>{text or 'Teaser.'}</p>",
                text or "Teaser.", "feed")
    store.content.upsert(s, seen)
    return s


def ids(issue) -> list[str]:  # type: ignore[no-untyped-def]
    return [i.id for s in issue.sections for i in s.items]


def test_teaser_cuts_at_a_word_boundary() -> None:
    text = "People with MS who walked daily reported less fatigue and better sleep overall."
    assert teaser(text, 200) == text
    cut = teaser(text, 40)
    assert cut == "People with MS who walked daily reported…"
    assert len(cut) <= 41
    assert teaser("First paragraph.\nSecond paragraph.", 200) == "First paragraph."


def test_month_bounds_follow_the_configured_time_zone() -> None:
    from zoneinfo import ZoneInfo
    start, end = Period(2026, 12).bounds(ZoneInfo("America/New_York"))
    assert start.isoformat() == "2026-12-01T00:00:00-05:00"
    assert end.isoformat() == "2027-01-01T00:00:00-05:00"
    assert str(Period.of(datetime(2027, 1, 1).date()).previous()) == "2026-12"


def test_issue_holds_its_month_newest_first_in_theme_order(store: Store) -> None:
    seen = datetime(2026, 8, 1, tzinfo=UTC)
    add(store, 1, datetime(2026, 7, 2, tzinfo=UTC), seen)
    add(store, 2, datetime(2026, 7, 20, tzinfo=UTC), seen)
    add(store, 3, datetime(2026, 7, 10, tzinfo=UTC), seen, title="Aerobic exercise helps")
    add(store, 4, datetime(2026, 6, 30, 23, 59, tzinfo=UTC), seen)  # June: not in July
    add(store, 5, datetime(2026, 8, 1, tzinfo=UTC), seen)  # August: not in July
    issue = compose(store, CFG, "2026-07")
    assert [s.id for s in issue.sections] == list(CFG.theme_ids)  # every theme, in order
    assert [i.id for i in issue.sections[0].items] == ["id002", "id001"]  # newest first
    assert [i.id for i in issue.sections[1].items] == ["id003"]
    assert issue.subject == "MS Research Digest — July 2026: 3 new summaries"


def test_late_arrivals_join_the_next_issue_and_nothing_is_sent_twice(store: Store) -> None:
    july_seen = datetime(2026, 8, 1, tzinfo=UTC)
    add(store, 1, datetime(2026, 7, 5, tzinfo=UTC), july_seen)
    freeze(store, draft(store, CFG, Period(2026, 7)))  # July goes out
    frozen_at = store.issues.previous_frozen_at(Period(2026, 8))
    assert frozen_at is not None
    # A July summary first seen after July's issue was frozen: a late arrival for August.
    add(store, 2, datetime(2026, 7, 25, tzinfo=UTC), frozen_at + timedelta(seconds=5))
    add(store, 3, datetime(2026, 8, 10, tzinfo=UTC), frozen_at + timedelta(seconds=5))
    august = compose(store, CFG, "2026-08")
    assert ids(august) == ["id003", "id002"]
    assert "id001" not in ids(august)  # already sent in July
    # July stays exactly as sent, even though id002 is dated July.
    assert ids(compose(store, CFG, "2026-07")) == ["id001"]


def test_preview_command_writes_html_text_and_json(tmp_path: Path) -> None:
    cfg_path = tmp_path / "digest.toml"
    cfg_path.write_text('[store]\npath = "s.sqlite"\n')
    env = {"PATH": "/usr/bin:/bin", "MSDIGEST_SECRET": "s3cret-" + "x" * 32}
    run = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", str(cfg_path),
                          "collect"], capture_output=True, text=True, cwd=REPO, env=env,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "preview"
    run = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", str(cfg_path),
                          "preview", "--period", "2026-09", "--out", str(out)],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    data = json.loads((out / "issue.json").read_text())
    assert data["period"] == "2026-09"
    assert data["subject"] == "MS Research Digest — September 2026: 9 new summaries"
    assert [t["id"] for t in data["themes"]] == list(CFG.theme_ids)
    first = data["themes"][0]["items"][0]
    assert set(first) == {"id", "title", "link", "published", "teaser"}
    assert datetime.fromisoformat(first["published"]).tzinfo is not None
    html = (out / "issue.html").read_text()
    text = (out / "issue.txt").read_text()
    for theme in data["themes"]:
        assert theme["title"] in html
        for item in theme["items"]:
            assert item["link"] in html and item["link"] in text
    assert 'style="' in html and "<style>" in html  # inlined, media queries kept
    assert "AI-generated summary — for informational purposes only" in text
    assert "wrote " in run.stdout and "issue.html" in run.stdout
    bad = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", str(cfg_path),
                          "preview", "--period", "2026-13", "--out", str(out)],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert bad.returncode == 2 and "period must be YYYY-MM" in bad.stderr


def test_preview_includes_empty_themes_in_json(tmp_path: Path, store: Store) -> None:
    from msdigest.preview import write
    from msdigest.unsubscribe import Signer
    add(store, 1, datetime(2026, 7, 5, tzinfo=UTC), datetime(2026, 7, 6, tzinfo=UTC))
    files = write(draft(store, CFG, Period(2026, 7)).edition, tmp_path / "p",
                  Signer.of(CFG, b"k"))
    data = json.loads(files.json.read_text())
    assert [len(t["items"]) for t in data["themes"]] == [1, 0, 0, 0, 0]
    assert "theme 'Therapies' has no summaries this month" in files.warnings
