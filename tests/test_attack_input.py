"""What the attack run broke with hostile input (shared/notes/reliability_attack.md):
huge or slow feeds, colliding ids, oversized CSV fields, control characters in names,
a short signing key. Each against a real HTTP server, real files and real processes."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.delivery.send import send
from msdigest.feeds.parsers import summary_id
from msdigest.feeds.retrievers import Limits
from msdigest.model import Summary
from msdigest.period import Period
from msdigest.store import Store

from .conftest import REPO, SECRET, FeedServer, SmtpServer, rss


def item(n: int) -> dict[str, str]:
    return {"title": f"Summary {n}", "link": f"https://t.example.org/s/{n}",
            "guid": f"urn:t:{n}", "date": "Thu, 01 Oct 2026 09:00:00 GMT",
            "html": f"<p>Teaser {n}.</p>"}


class Drip(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.end_headers()
        self.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel>')
        for _ in range(100):
            time.sleep(0.2)
            try:
                self.wfile.write(b" ")
                self.wfile.flush()
            except OSError:
                return

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def drip() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/slow.xml"
    server.shutdown()
    server.server_close()


def test_a_feed_sending_a_byte_now_and_then_is_cut_off_and_the_next_feed_read(
        tmp_path: Path, feed_server: FeedServer, drip: str) -> None:
    good = feed_server.put("good.xml", rss([item(1)]))
    cfg = tmp_path / "digest.toml"
    cfg.write_text(f'[store]\npath = "s.sqlite"\n[collect]\ntimeout = 2\n'
                   f'[[feeds]]\nurl = "{drip}"\n[[feeds]]\nurl = "{good}"\n')
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", str(cfg),
                          "collect"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert time.monotonic() - started < 20  # two seconds' deadline, not a hang
    assert run.returncode == 3, run.stderr
    assert f"{drip}: FAILED — {drip}: took longer than 2 s ([collect] timeout)" in run.stdout
    assert f"{good}: 1 new" in run.stdout and "Traceback" not in run.stderr


def test_a_feed_over_max_feed_mb_is_refused_and_the_others_read(
        store: Store, feed_server: FeedServer) -> None:
    filler = "<p>" + "x" * 2_000 + "</p>"
    big = feed_server.put("big.xml", rss([{**item(n), "html": filler} for n in range(1200)]))
    good = feed_server.put("good.xml", rss([item(1)]))
    limits = Limits(30, 1024 * 1024)  # 1 MB; the big feed is about 2.5 MB
    reports = [collect_feed(store, url, Path("."), ZoneInfo("UTC"), limits)
               for url in (big, good)]
    assert reports[0].error == (f"{big}: the feed is larger than 1 MB ([collect] "
                                "max_feed_mb); skipped")
    assert reports[1].new == 1 and store.content.count() == 1


def test_a_colliding_summary_id_is_reported_and_both_summaries_kept(
        store: Store, tmp_path: Path) -> None:
    first = item(1)
    # Another summary already holds the id the feed's entry would get.
    taken = summary_id(first["guid"])
    assert len(taken) == 16  # 64 bits: no birthday search finds one in a second
    when = datetime(2026, 10, 1, tzinfo=UTC)
    store.content.upsert(Summary(taken, "urn:other", "Someone else", "https://t.example.org/o",
                                 when, "<p>x</p>", "x", "f"), when)
    feed = tmp_path / "f.xml"
    feed.write_text(rss([first, item(2)]))
    report = collect_feed(store, str(feed), Path("."), ZoneInfo("UTC"))
    assert (report.new, report.error) == (2, "")
    assert any(f"its id {taken} belongs to another summary; stored as "
               f"{summary_id(first['guid'], 32)}" in w for w in report.warnings)
    assert store.content.count() == 3


def test_a_csv_field_over_the_limit_is_reported_by_line_and_the_rest_imported(
        tmp_path: Path) -> None:
    csv = tmp_path / "big.csv"
    csv.write_text("email,name,themes,status\nbig@example.org," + "A" * 10_000_000
                   + ",,active\nok@example.org,OK,,active\n", "utf-8")
    cfg = tmp_path / "digest.toml"
    cfg.write_text('[store]\npath = "s.sqlite"\n')
    run = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", str(cfg),
                          "subscribers", "import", str(csv)], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 3, run.stderr
    assert "1 new" in run.stdout and "line 2: cannot be read as CSV: field larger" in run.stdout
    assert "Traceback" not in run.stderr


def test_control_characters_in_a_name_never_reach_a_header(
        make_config: Callable[..., Config], smtp_server: SmtpServer, tmp_path: Path) -> None:
    from msdigest.subscribers import import_file
    cfg = make_config(smtp=smtp_server)
    csv = tmp_path / "s.csv"
    csv.write_text('email,name,themes,status\nnul@example.org,"Nu\x00ll \x1b[31mred\x07",,active\n'
                   'crlf@example.org,"Eve\r\nBcc: victim@evil.example",,active\n', "utf-8")
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        import_file(store, csv, cfg.theme_ids)
        assert send(store, cfg, Period(2026, 10), SECRET).sent == 2
    for received in smtp_server.handler.received:
        head = received.data.split(b"\r\n\r\n", 1)[0]
        assert not [b for b in head if b < 32 and b not in (9, 10, 13)], head
        assert b"Bcc:" not in head.replace(b"Eve Bcc: victim", b"")
    nul = smtp_server.handler.to("nul@example.org")[0].message
    assert nul["To"].addresses[0].display_name == "Null [31mred"


def test_a_short_signing_key_is_refused_with_how_to_make_one(tmp_path: Path) -> None:
    cfg = tmp_path / "digest.toml"
    cfg.write_text('[store]\npath = "s.sqlite"\n')
    env = {**os.environ, "MSDIGEST_SECRET": "a"}
    run = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", str(cfg),
                          "config"], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 2
    assert "MSDIGEST_SECRET is 1 byte long; it must be at least 32" in run.stderr
    assert "secrets.token_urlsafe(32)" in run.stderr and "Traceback" not in run.stderr


def test_link_pages_on_a_public_address_say_to_put_a_proxy_in_front(tmp_path: Path) -> None:
    """W13: wsgiref is not for the internet on its own; the command and the README say how."""
    cfg = tmp_path / "digest.toml"
    cfg.write_text('[store]\npath = "s.sqlite"\n')
    env = {**os.environ, "MSDIGEST_SECRET": SECRET.decode(), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "msdigest.cli", "--config", str(cfg), "web",
                             "--host", "0.0.0.0", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and "serving unsubscribe" in proc.stdout.readline()
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "not a loopback address" in err and "Putting the link pages online" in err
    readme = (REPO / "README.md").read_text("utf-8")
    section = readme[readme.index("## Putting the link pages online"):]
    for directive in ("proxy_pass http://127.0.0.1", "client_max_body_size", "limit_conn",
                      "client_body_timeout"):
        assert directive in section
