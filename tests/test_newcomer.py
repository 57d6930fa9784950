"""What a newcomer meets first: the README's commands work as written on the sample data,
`--config` goes before or after the command, and running without any config file outside
the demo says, in one line, that the embedded demo defaults are in use."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from msdigest import config as config_mod
from msdigest.collect import collect_feed
from msdigest.store import Store

from .conftest import REPO, issue_of, write_config

NOTE = "the embedded demo defaults are in use"


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSDIGEST_")}
    return subprocess.run([sys.executable, "-m", "msdigest.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=60)


def month_section() -> str:
    readme = (REPO / "README.md").read_text("utf-8")
    return readme[readme.index("## How a month goes"):readme.index("Ops run the whole thing")]


def test_readme_says_how_to_put_msdigest_on_path_and_to_copy_the_example_config() -> None:
    section = month_section()
    assert ". .venv/bin/activate" in section
    assert "cp digest.example.toml digest.toml" in section
    assert (REPO / "digest.example.toml").is_file()


def test_the_readme_examples_use_a_month_the_sample_data_fills(tmp_path: Path) -> None:
    section = month_section()
    periods = set(re.findall(r"--period (\d{4}-\d{2})", section))
    assert len(periods) == 1, periods
    cfg = config_mod.load(write_config(tmp_path / "digest.toml",
                                       {"store": {"path": "store.sqlite"}}), env={})
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        issue = issue_of(store, cfg, periods.pop())
    assert issue.count >= 5
    excluded = re.search(r"issue exclude --period \S+ ([0-9a-f]+)", section)
    assert excluded is not None
    assert any(item.id.startswith(excluded.group(1))
               for s in issue.sections for item in s.items)


def test_config_may_come_after_the_command(tmp_path: Path) -> None:
    config = write_config(tmp_path / "elsewhere.toml", {"store": {"path": "mine.sqlite"}})
    collected = run(["collect", "--config", str(config)], tmp_path)
    assert collected.returncode == 0, collected.stderr
    assert f"store {tmp_path / 'mine.sqlite'}: 25 summaries" in collected.stdout
    nested = run(["issue", "show", "--period", "2026-10", "--config", str(config)], tmp_path)
    assert nested.returncode == 0, nested.stderr
    assert "6035f2dc" in nested.stdout
    # after the command wins over before it, as the last word on the line
    both = run(["--config", "no-such.toml", "config", "--config", str(config)], tmp_path)
    assert both.returncode == 0, both.stderr
    assert f"config: {config} — valid" in both.stdout
    assert not (tmp_path / "msdigest.sqlite").exists()


def test_without_a_config_file_one_line_says_the_demo_defaults_are_in_use(
        tmp_path: Path) -> None:
    bare = run(["themes", "list"], tmp_path)
    assert bare.returncode == 0, bare.stderr
    notes = [line for line in bare.stderr.splitlines() if NOTE in line]
    assert len(notes) == 1 and len(bare.stderr.strip().splitlines()) == 1, bare.stderr
    assert "sample feed" in notes[0] and str(tmp_path / "msdigest.sqlite") in notes[0]

    write_config(tmp_path / "digest.toml", {"store": {"path": "store.sqlite"}})
    configured = run(["themes", "list"], tmp_path)
    assert configured.returncode == 0 and NOTE not in configured.stderr, configured.stderr
