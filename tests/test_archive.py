"""`msdigest archive`: a static web copy of every sent issue, where "View in browser" points."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from msdigest import schedule
from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.delivery.send import send
from msdigest.period import Period
from msdigest.personal import PLACEHOLDER
from msdigest.records import StartedBy
from msdigest.store import Store
from msdigest.subscribers import import_file
from msdigest.web import app

from .conftest import REPO, SECRET, SmtpServer


def test_archive_has_every_sent_issue_and_an_index(
        make_config: Callable[..., Config], smtp_server: SmtpServer, tmp_path: Path) -> None:
    cfg = make_config(smtp=smtp_server)
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
        send(store, cfg, Period.parse("2026-08"), SECRET)
        send(store, cfg, Period.parse("2026-09"), SECRET)
    out = tmp_path / "archive"
    run = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", cfg.source,
                          "archive", "--out", str(out)], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["2026-08.html", "2026-09.html",
                                                     "index.html"]  # October was not sent
    index = (out / "index.html").read_text()
    assert index.index("September 2026") < index.index("August 2026")  # newest first
    assert 'href="2026-09.html"' in index
    page = (out / "2026-09.html").read_text()
    assert "MS Research Digest — September 2026: 9 new summaries" in page
    for theme in ("Gut microbiome", "Exercise and rehabilitation", "Therapies"):
        assert theme in page
    assert "web version of the September 2026 issue" in page
    assert "Unsubscribe" not in page and "subscriber" not in page  # nobody's personal links
    assert not any(token in page for token in PLACEHOLDER.values())
    # The email's "View in browser" link is where this page is published.
    sent = smtp_server.handler.to("ana.silva@example.org")[-1].message
    html = sent.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"{cfg.digest.archive_url}/2026-09.html" in html


# --- rebuilt after every completed send, and served by `msdigest web` ----------------------


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def test_a_completed_scheduled_send_rebuilds_the_archive_which_web_serves_where_emails_point(
        make_config: Callable[..., Config], smtp_server: SmtpServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSDIGEST_SECRET", SECRET.decode())
    cfg = make_config(feeds=["msdigest:sample-feed.xml"], smtp=smtp_server)
    assert cfg.archive_dir == tmp_path / "archive"  # the default: beside the config
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
    assert "sent" in schedule.send_job(cfg.source, "2026-10")
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == ["2026-10.html",
                                                                      "index.html"]
    with Store.open(cfg.store_location) as store:
        [sent_run] = store.runs.recent()
    assert (sent_run.job, sent_run.outcome, sent_run.started_by) == (
        "send 2026-10", "ok", StartedBy.SCHEDULE)
    assert f"; archive: 1 issue in {tmp_path / 'archive'}" in sent_run.detail

    sent = smtp_server.handler.to("ana.silva@example.org")[-1].message
    html = sent.get_body(("html",)).get_content()  # type: ignore[union-attr]
    view = re.search(r'href="(https://[^"]+/2026-10\.html)"', html)
    assert view is not None and view.group(1) == f"{cfg.digest.archive_url}/2026-10.html"
    path = urllib.parse.urlsplit(view.group(1)).path  # what the reverse proxy passes on
    httpd = app.server(cfg, SECRET, "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_port}"
        status, page = get(base + path)
        assert status == 200 and "October 2026" in page and "Unsubscribe" not in page
        status, index = get(f"{base}/digest/archive/")
        assert status == 200 and 'href="2026-10.html"' in index
        for wrong in ("/digest/archive/2026-09.html", "/digest/archive/..%2fdigest.toml",
                      "/digest/archive/store.sqlite", "/archive/../store.sqlite",
                      "/digest/archive/.index.html.part"):
            assert get(base + wrong)[0] == 404, wrong
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_hand_run_send_rebuilds_it_too_unless_archive_dir_is_empty_or_the_send_unfinished(
        make_config: Callable[..., Config], smtp_server: SmtpServer, tmp_path: Path) -> None:
    env = {**os.environ, "MSDIGEST_SECRET": SECRET.decode()}
    cfg = make_config(smtp=smtp_server, digest={"require_approval": False,
                                                "archive_dir": "site/archive"},
                      smtp_extra={"max_attempts": 1, "timeout": 2})
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
    cli = [sys.executable, "-m", "msdigest.cli", "--config", cfg.source, "send", "--period"]
    smtp_server.stop()
    down = subprocess.run([*cli, "2026-09"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert down.returncode == 1 and not (tmp_path / "site").exists(), down.stdout
    smtp_server.start()
    done = subprocess.run([*cli, "2026-09"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"archive: 1 issue in {tmp_path / 'site' / 'archive'}" in done.stdout
    assert (tmp_path / "site" / "archive" / "2026-09.html").is_file()

    off = make_config(smtp=smtp_server, digest={"require_approval": False, "archive_dir": ""})
    assert off.archive_dir is None
    done = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", off.source,
                           "send", "--period", "2026-10"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0 and "archive:" not in done.stdout
    assert sorted(p.name for p in (tmp_path / "site" / "archive").iterdir()) == [
        "2026-09.html", "index.html"]  # not rebuilt: October is not in it
