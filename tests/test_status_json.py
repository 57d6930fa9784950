"""`msdigest status --json`: one machine-readable document — the feeds' health, every recent
run (by hand or scheduled) with its outcome and counts, the issues, the scheduler's next
runs — and exit 0 when healthy, 3 when degraded. Real CLI subprocesses, SMTP and SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from msdigest import schedule, timeline
from msdigest.config import Config
from msdigest.delivery.send import send
from msdigest.period import Period
from msdigest.store import Store
from msdigest.subscribers import import_file

from .conftest import REPO, SECRET, FeedServer, SmtpServer

ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("MSDIGEST_")},
       "MSDIGEST_SECRET": SECRET.decode()}
OCTOBER, SEPTEMBER = Period(2026, 10), Period(2026, 9)


def cli(cfg: Config, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", cfg.source,
                           *args], capture_output=True, text=True, timeout=120, env=ENV)


def status(cfg: Config) -> tuple[int, dict[str, Any]]:
    done = cli(cfg, "status", "--json")
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)


def install_jobs(cfg: Config) -> None:
    """What `msdigest run` leaves in the store: its jobs and their next run times."""
    sched = schedule.scheduler(cfg)
    sched.start(paused=True)
    try:
        schedule.sync_jobs(sched, cfg, cfg.source)
    finally:
        sched.remove_jobstore("default")
        sched.shutdown()


def test_status_json_holds_feeds_runs_issues_and_the_schedule_and_exits_0_when_healthy(
        make_config: Callable[..., Config], smtp_server: SmtpServer) -> None:
    cfg = make_config(feeds=["msdigest:sample-feed.xml"], smtp=smtp_server,
                      schedule={"collect": "0 6 * * *", "send": "0 9 1 * *"})
    assert cli(cfg, "collect").returncode == 0
    with Store.open(cfg.store_location) as store:
        import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
    sent = cli(cfg, "send", "--period", str(OCTOBER))
    assert sent.returncode == 0, sent.stderr
    install_jobs(cfg)

    code, doc = status(cfg)
    assert code == 0 and doc["status"] == "ok" and doc["problems"] == [], doc["problems"]
    assert datetime.fromisoformat(doc["generated_at"]).tzinfo is not None

    [feed] = doc["feeds"]
    assert feed["url"] == "msdigest:sample-feed.xml" and feed["failing"] is False
    assert feed["consecutive_failures"] == 0 and feed["last_ok"] and not feed["last_error"]

    by_job = {r["job"]: r for r in doc["runs"]}
    assert by_job["collect"]["started_by"] == "manual" and by_job["collect"]["outcome"] == "ok"
    assert by_job["collect"]["counts"]["new"] == 25
    delivered = len(smtp_server.handler.received)
    send_run = by_job[f"send {OCTOBER}"]
    assert (send_run["started_by"], send_run["outcome"]) == ("manual", "ok")
    assert send_run["counts"]["sent"] == delivered > 0 and send_run["finished_at"]

    issue = next(i for i in doc["issues"] if i["period"] == str(OCTOBER))
    assert issue["states"]["sent"] == delivered and issue["unfinished"] == 0
    assert issue["approval"] == "sent" and issue["frozen_at"] and issue["sent_at"]

    assert set(doc["schedule"]) == {"collect", "send"}
    assert doc["schedule"]["send"]["cron"] == "0 9 1 * *"
    next_send = datetime.fromisoformat(doc["schedule"]["send"]["next_run"])
    assert next_send > datetime.now(UTC) and (next_send.day, next_send.hour) == (1, 9)


def test_status_json_exits_3_when_a_feed_fails_or_a_send_is_unfinished_past_its_time(
        make_config: Callable[..., Config], smtp_server: SmtpServer,
        feed_server: FeedServer) -> None:
    cfg = make_config(feeds=["msdigest:sample-feed.xml"], smtp=smtp_server,
                      smtp_extra={"max_attempts": 2, "timeout": 2})
    assert cli(cfg, "collect").returncode == 0
    with Store.open(cfg.store_location) as store:
        import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
    smtp_server.stop()  # the relay is down: a send stops with everyone still to go
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    with Store.open(cfg.store_location, clock=lambda: two_hours_ago) as store:
        report = send(store, cfg, OCTOBER, SECRET, clock=lambda: two_hours_ago)
        assert report.sent == 0 and report.stopped
    with Store.open(cfg.store_location) as store:  # just now: as good as under way
        assert send(store, cfg, SEPTEMBER, SECRET).stopped
    code, doc = status(cfg)
    assert code == 3 and doc["status"] == "degraded"
    assert doc["schedule"] is None  # no `msdigest run` has used this store
    issue = next(i for i in doc["issues"] if i["period"] == str(OCTOBER))
    assert issue["unfinished"] == report.remaining > 0 and issue["frozen_at"]
    assert next(i for i in doc["issues"] if i["period"] == str(SEPTEMBER))["unfinished"] > 0
    [problem] = doc["problems"]  # September's send stopped a moment ago: not yet a problem
    assert f"the {OCTOBER} issue is not sent to {report.remaining} subscribers yet" in problem

    # The November issue's send time came (the scheduler marks it) and it did not go out.
    with Store.open(cfg.store_location) as store:
        store.audit.notice_once(Period(2026, 11), timeline.DUE)
    code, doc = status(cfg)
    assert code == 3
    assert any("the 2026-11 issue was due" in p and "has not gone out" in p
               for p in doc["problems"]), doc["problems"]

    broken = make_config(feeds=[f"{feed_server.url}/missing.rss"])
    assert cli(broken, "collect").returncode == 3
    code, doc = status(broken)
    assert code == 3 and doc["feeds"][0]["failing"] is True
    assert "HTTP 404" in doc["feeds"][0]["last_error"]
    assert doc["runs"][0]["outcome"] == "partial" and doc["runs"][0]["counts"]["failing"] == 1
