"""The store: a file made by an earlier release opens and migrates; a newer one is refused."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from msdigest.config import Config
from msdigest.errors import StoreError
from msdigest.issue import draft
from msdigest.period import Period
from msdigest.records import DeliveryState
from msdigest.store import Store
from msdigest.store.schema import VERSION

from .conftest import REPO

SCHEMA_0_1 = (REPO / "tests" / "data" / "store-0.1-schema.sql").read_text("utf-8")

STAMP = "2026-11-01T09:00:00+00:00"


def a_store_made_by_msdigest_0_1(path: Path) -> None:
    """What 0.1 left on disk: its schema, user_version 0, an issue sent in October."""
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_0_1)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute("INSERT INTO summaries VALUES ('abc123', 'g1', 'https://t.example.org/1', "
               "'Gut bacteria and relapses', '2026-10-05T09:00:00+00:00', '<p>Teaser.</p>', "
               "'Teaser.', 'feed', ?, ?)", (STAMP, STAMP))
    db.execute("INSERT INTO subscribers VALUES ('ana@example.org', 'Ana', '', 'active', "
               "'import', ?, ?)", (STAMP, STAMP))
    db.execute("INSERT INTO issues VALUES ('2026-10', ?, 'subject')", (STAMP,))
    db.execute("INSERT INTO issue_items VALUES ('2026-10', 'abc123', 'gut_microbiome', 0, 0)")
    db.execute("INSERT INTO deliveries (period, email, state, message_id, reason, updated_at) "
               "VALUES ('2026-10', 'ana@example.org', 'failed', '<m>', "
               "'550 5.1.1 No such user', ?)", (STAMP,))
    db.commit()
    db.close()


def test_a_store_made_by_the_previous_release_opens_and_keeps_its_data(
        make_config: Callable[..., Config]) -> None:
    cfg = make_config()
    a_store_made_by_msdigest_0_1(cfg.store_path)
    with Store.open(cfg.store_location) as store:
        version = store.db.one("PRAGMA user_version")
        assert version is not None and version[0] == VERSION
        ana = store.ledger.get(Period(2026, 10), "ana@example.org")
        assert ana is not None and ana.state is DeliveryState.FAILED
        assert ana.permanent  # read off the reply once, by the migration
        assert store.ledger.permanent_failures("ana@example.org") == 1
        # The issue 0.1 froze by reference only: rebuilt once, then kept as content.
        frozen = store.issues.frozen(Period(2026, 10))
        assert frozen is not None and frozen.edition is None
        d = draft(store, cfg, Period(2026, 10))
        assert d.frozen and [i.title for i in d.issue.items] == ["Gut bacteria and relapses"]
        frozen = store.issues.frozen(Period(2026, 10))
        assert frozen is not None and frozen.edition == d.edition
    with Store.open(cfg.store_location) as store:  # opening again migrates nothing twice
        assert store.issues.frozen_periods() == [Period(2026, 10)]


def test_a_store_from_a_newer_release_is_refused_with_a_clear_message(
        make_config: Callable[..., Config]) -> None:
    cfg = make_config()
    db = sqlite3.connect(cfg.store_path)
    db.execute(f"PRAGMA user_version = {VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="made by a newer msdigest"):
        Store.open(cfg.store_location)
    run = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", cfg.source,
                          "status"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "made by a newer msdigest" in run.stderr
    assert "Traceback" not in run.stderr


def test_nested_transactions_join_and_a_failure_rolls_back_everything(
        make_config: Callable[..., Config]) -> None:
    cfg = make_config()
    with Store.open(cfg.store_location) as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.runs.start("outer")
            with store.transaction():
                store.runs.start("inner")
            raise RuntimeError("boom")
        assert store.runs.recent() == []
