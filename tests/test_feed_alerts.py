"""Ops are emailed once when a feed has been failing for [collect] alert_after_hours, and once
when it works again — after a scheduled collect and after one by hand. Real SMTP server,
real HTTP feed server, real SQLite; the store's clock moves the days along."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from msdigest import accounts, notices, schedule
from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.store import Store

from .conftest import FeedServer, SmtpServer, rss

T0 = datetime(2026, 11, 20, 6, tzinfo=UTC)
ITEM = {"title": "Aerobic exercise and fatigue", "link": "https://t.example.org/s/1",
        "guid": "urn:t:1", "date": "Wed, 14 Oct 2026 09:00:00 +0000"}
OPS = ["ops@example.org", "oncall@example.org"]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def subjects(smtp: SmtpServer) -> list[tuple[str, str]]:
    return [(r.recipients[0], str(r.message["Subject"])) for r in smtp.handler.received]


def test_ops_hear_once_after_alert_after_hours_and_once_when_it_works_again(
        make_config: Callable[..., Config], smtp_server: SmtpServer,
        feed_server: FeedServer, tmp_path: Path) -> None:
    url = feed_server.put("feed.rss", rss([ITEM]))
    cfg = make_config(feeds=[url], smtp=smtp_server,
                      collect={"alert_after_hours": 48, "alert_to": OPS})
    clock = Clock(T0)
    with Store.open(cfg.store_location, clock=clock) as store:
        def collect_at(hours: float) -> list[str]:
            clock.now = T0 + timedelta(hours=hours)
            collect_feed(store, url, cfg.base_dir, cfg.tz, clock=clock)
            return notices.feed_alerts(store, cfg)

        assert collect_at(0) == []
        (feed_server.root / "feed.rss").unlink()
        assert collect_at(24) == []  # failing since 24 h
        assert collect_at(48) == []  # 24 h of failing: not yet
        assert collect_at(72) == ["Feed not working: " + url]  # 48 h of failing
        assert collect_at(96) == [] and collect_at(120) == []  # once, not at every collect
        mail = [m.message for m in smtp_server.handler.received]
        assert sorted(r.recipients[0] for r in smtp_server.handler.received) == sorted(OPS)
        body = mail[0].get_content()
        assert "HTTP 404" in body and "since 2026-11-21 06:00 UTC (3 in a row)" in body
        assert "it last worked 2026-11-20 06:00 UTC" in body
        assert mail[0]["Auto-Submitted"] == "auto-generated"

        feed_server.put("feed.rss", rss([ITEM]))
        assert collect_at(144) == ["Feed working again: " + url]
        assert collect_at(168) == []
        assert [s for _, s in subjects(smtp_server)] == [
            f"[MS Research Digest] Feed not working: {url}"] * 2 + [
            f"[MS Research Digest] Feed working again: {url}"] * 2

        # failing again later is a new episode: told again after another 48 h
        (feed_server.root / "feed.rss").unlink()
        assert collect_at(192) == [] and collect_at(240) == ["Feed not working: " + url]


def test_an_alert_that_could_not_be_sent_is_sent_at_the_next_collect(
        make_config: Callable[..., Config], smtp_server: SmtpServer, tmp_path: Path) -> None:
    url = str(tmp_path / "missing.rss")
    cfg = make_config(feeds=[url], smtp=smtp_server,
                      smtp_extra={"timeout": 2}, collect={"alert_after_hours": 0})
    with Store.open(cfg.store_location) as store:
        accounts.add(store, "eve@example.org", "Eve", "a long enough password")
        smtp_server.stop()
        collect_feed(store, url, cfg.base_dir, cfg.tz)
        assert notices.feed_alerts(store, cfg) == []
        health = store.feeds.health(url)
        assert health is not None and health.alerted_at is None
        smtp_server.start()
        collect_feed(store, url, cfg.base_dir, cfg.tz)
        assert notices.feed_alerts(store, cfg) == [f"Feed not working: {url}"]
    # no alert_to: the editors are told
    assert subjects(smtp_server) == [("eve@example.org",
                                      f"[MS Research Digest] Feed not working: {url}")]


def test_scheduled_and_hand_run_collects_both_alert(
        make_config: Callable[..., Config], smtp_server: SmtpServer, tmp_path: Path) -> None:
    scheduled = str(tmp_path / "scheduled-missing.rss")
    cfg = make_config(feeds=[scheduled], smtp=smtp_server,
                      collect={"alert_after_hours": 0, "alert_to": OPS[:1]})
    assert "cannot read file" in schedule.collect_job(cfg.source)
    assert subjects(smtp_server) == [(OPS[0], f"[MS Research Digest] Feed not working: "
                                      f"{scheduled}")]

    by_hand = str(tmp_path / "by-hand-missing.rss")
    cfg = make_config(feeds=[by_hand], smtp=smtp_server,
                      collect={"alert_after_hours": 0, "alert_to": OPS[1:]})
    done = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", cfg.source,
                           "collect"], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("MSDIGEST_")})
    assert done.returncode == 3, done.stderr
    assert f"emailed {OPS[1]}: Feed not working: {by_hand}" in done.stdout
    assert subjects(smtp_server)[-1] == (OPS[1], f"[MS Research Digest] Feed not working: "
                                         f"{by_hand}")
