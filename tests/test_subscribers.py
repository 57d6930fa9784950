"""Subscribers: CSV import reports bad rows by line, imports the rest, never duplicates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from msdigest import config as config_mod
from msdigest.store import Store
from msdigest.subscribers import CsvError, import_file, parse

from .conftest import REPO

THEMES = config_mod.load(None, env={}).theme_ids


def test_example_csv_shows_every_case(store: Store) -> None:
    report = import_file(store, REPO / "subscribers.example.csv", THEMES)
    assert (report.new, report.updated, report.unchanged) == (7, 0, 0)
    problems = [str(e) for e in report.errors]
    assert problems == [
        "line 9 (not-an-address): invalid email address: An email address must have an @-sign.",
        "line 10 (hugo.berg@example.org): unknown theme sleep (known: gut_microbiome, "
        "exercise, biomarkers, therapies, other)",
        "line 11 (ben.okafor@example.org): duplicate of line 3",
        "line 12 (ines.costa@example.org): status must be active or unsubscribed, got 'paused'",
    ]
    assert store.subscribers.counts() == {"active": 6, "unsubscribed": 1}
    ben = store.subscribers.get("ben.okafor@example.org")
    assert ben is not None and ben.themes == ("exercise", "therapies")
    assert ben.name == "Ben Okafor"  # the first row wins, the duplicate is reported
    assert store.subscribers.get("ana.silva@example.org").themes == ()  # type: ignore[union-attr]


def test_reimport_updates_and_never_duplicates(tmp_path: Path, store: Store) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("email,name,themes,status\nA@Example.org,Ann,,active\n")
    import_file(store, csv, THEMES)
    csv.write_text("email,name,themes,status\na@example.org,Ann B,exercise,active\n")
    again = import_file(store, csv, THEMES)
    assert (again.new, again.updated) == (0, 1)
    assert store.subscribers.counts() == {"active": 1}
    sub = store.subscribers.get("a@example.org")
    assert sub is not None and (sub.name, sub.themes) == ("Ann B", ("exercise",))
    assert import_file(store, csv, THEMES).unchanged == 1


def test_an_opt_out_through_the_link_survives_a_reimport(tmp_path: Path, store: Store) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("email,name,themes,status\nb@example.org,Bo,,active\n")
    import_file(store, csv, THEMES)
    store.subscribers.set_status("b@example.org", "unsubscribed", "link")
    report = import_file(store, csv, THEMES)
    assert report.kept_unsubscribed == ["b@example.org"]
    assert store.subscribers.get("b@example.org").status == "unsubscribed"  # type: ignore[union-attr]


def test_wrong_header_and_ragged_rows() -> None:
    with pytest.raises(CsvError, match=r"line 1: the header must name .* \(missing: email\)"):
        parse("mail,name\nx@example.org,X\n", THEMES)
    with pytest.raises(CsvError, match=r"line 1: unknown column\(s\) phone"):
        parse("email,phone\nx@example.org,1\n", THEMES)
    good, errors = parse("email,name,themes,status\nx@example.org,X,,active,extra\n"
                         "\ny@example.org\n", THEMES)
    assert [s.email for s in good] == ["y@example.org"]
    assert str(errors[0]).startswith("line 2 (x@example.org): too many fields")


def test_import_command_reports_lines_and_exits_3(tmp_path: Path) -> None:
    cfg = tmp_path / "digest.toml"
    cfg.write_text('[store]\npath = "s.sqlite"\n')
    run = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", str(cfg),
                          "subscribers", "import", str(REPO / "subscribers.example.csv")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert run.returncode == 3, run.stderr
    assert "7 new, 0 updated, 0 unchanged, 4 rejected" in run.stdout
    assert "subscribers.example.csv: line 10 (hugo.berg@example.org): unknown theme sleep" \
        in run.stdout
