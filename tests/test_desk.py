"""The editor's desk (`msdigest preview --serve`), driven in Chromium as an editor uses it.

The server runs in this process (a thread, port 0) against a store holding the bundled
sample feed plus a small feed with a weakly matching summary and an undated entry. The
page is checked in Debian's chromium through Debian's chromedriver (set up as in
test_browser.py: explicit paths, nothing downloaded; a missing browser fails, never
skips). The CLI's `--serve` runs as a real subprocess and is stopped with signals.
Screenshots go to test-artifacts/desk*.png.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from msdigest import editorial, preview
from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.issue import draft, freeze
from msdigest.period import Period
from msdigest.store import Store
from msdigest.unsubscribe import Signer
from msdigest.web.desk import serve_desk
from msdigest.web.server import Server

from .chromium import screenshot
from .conftest import REPO, rss
from .conftest import issue_of as compose

pytestmark = pytest.mark.browser

PERIOD = Period(2026, 10)
SECRET = b"desk-test-secret-0123456789abcdefghij"
WEAK_TITLE = "Sleep quality and fatigue in people with MS: a survey"
UNDATED_TITLE = "An undated summary"
WIDE, NARROW = 1440, 900

# What the desk and the two email frames look like, measured in one go.
MEASURE_FRAME = """
const d = document.documentElement;
return {innerWidth: innerWidth, clientWidth: d.clientWidth, scrollWidth: d.scrollWidth,
        bodyScrollWidth: document.body.scrollWidth,
        headings: [...document.querySelectorAll('h2')].map(
          h => h.textContent.replace(/\\s+/g, ' ').trim()),
        scripts: document.scripts.length};
"""
BOX = """const r = arguments[0].getBoundingClientRect();
return {top: r.top + scrollY, left: r.left, width: r.width, height: r.height};"""


def cli(cfg: Config, *args: object) -> list[str]:
    return [sys.executable, "-m", "msdigest.cli", "--config", cfg.source, *map(str, args)]


def env() -> dict[str, str]:
    return {**os.environ, "MSDIGEST_SECRET": SECRET.decode()}


# --- set-up: a store with something to warn about, and the server in a thread ------------


@dataclass
class Desk:
    cfg: Config
    store: Store
    url: str
    weak_id: str
    ids: dict[str, list[str]]  # theme id -> the sample issue's summary ids, before changes


@pytest.fixture
def desk(make_config: Callable[..., Config], tmp_path: Path) -> Iterator[Desk]:
    cfg = make_config(digest={"require_approval": True})
    store = Store.open(cfg.store_location)
    collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
    ids = {s.id: [i.id for i in s.items] for s in compose(store, cfg, PERIOD).sections}
    extra = tmp_path / "extra-feed.xml"
    extra.write_text(rss([
        # "yoga" once in the text, nowhere else: an exercise summary on thin evidence.
        {"title": WEAK_TITLE, "link": "https://summaries.example.org/s/sleep-survey",
         "guid": "sleep-survey", "date": "Wed, 21 Oct 2026 09:00:00 GMT",
         "html": "<p>Most participants slept badly; a few who did yoga slept better.</p>"},
        {"title": UNDATED_TITLE, "link": "https://summaries.example.org/s/undated",
         "guid": "undated", "html": "<p>No date anywhere.</p>"},
    ]), "utf-8")
    report = collect_feed(store, str(extra), cfg.base_dir, cfg.tz)
    assert report.new == 1 and len(report.skipped) == 1
    weak_id = next(s.id for s in store.content.all() if s.title == WEAK_TITLE)

    started: queue.Queue[Server] = queue.Queue()
    said: list[str] = []
    thread = threading.Thread(target=serve_desk, args=(cfg, PERIOD, SECRET),
                              kwargs={"port": 0, "announce": said.append,
                                      "ready": started.put}, daemon=True)
    thread.start()
    httpd = started.get(timeout=10)
    assert said[0] == f"editor's desk for the {PERIOD} issue: {httpd.url}"
    try:
        yield Desk(cfg, store, httpd.url, weak_id, ids)
    finally:
        httpd.shutdown()  # serve() notices, stops and returns
        thread.join(10)
        assert not thread.is_alive() and said[-1] == "editor's desk stopped"
        store.close()


# --- what the editor sees ---------------------------------------------------------------


def open_desk(driver: Any, url: str, width: int = WIDE) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    driver.get(url)  # returns after the load event, which waits for both frames


def text(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def texts(driver: Any, css: str) -> list[str]:
    from selenium.webdriver.common.by import By
    return [str(e.text) for e in driver.find_elements(By.CSS_SELECTOR, css)]


def in_frame(driver: Any, frame_id: str) -> dict[str, Any]:
    from selenium.webdriver.common.by import By
    driver.switch_to.frame(driver.find_element(By.ID, frame_id))
    try:
        return dict(driver.execute_script(MEASURE_FRAME))
    finally:
        driver.switch_to.default_content()


def box(driver: Any, css: str) -> dict[str, float]:
    from selenium.webdriver.common.by import By
    return dict(driver.execute_script(BOX, driver.find_element(By.CSS_SELECTOR, css)))


def counts(driver: Any) -> dict[str, int]:
    from selenium.webdriver.common.by import By
    rows = driver.find_elements(By.CSS_SELECTOR, "#counts tbody tr")
    return {r.get_attribute("data-theme"): int(r.find_element(By.CSS_SELECTOR, "td.n").text)
            for r in rows}


def test_the_desk_shows_the_issue_and_everything_to_check(driver: Any, desk: Desk) -> None:
    cfg, store = desk.cfg, desk.store
    gut = desk.ids["gut_microbiome"][0]  # October's only gut microbiome summary
    pinned = desk.ids["exercise"][1]  # the older of two: pinning moves it first
    moved = desk.ids["therapies"][1]
    editorial.exclude(store, cfg, PERIOD, gut)
    editorial.pin(store, cfg, PERIOD, pinned)
    editorial.move(store, cfg, PERIOD, moved, "other")
    editorial.set_intro(store, PERIOD, "A **big** month for [trials](https://t.example.org/x).")
    editorial.set_subject(store, cfg, PERIOD, "Your {month} digest: {count} summaries")

    started = time.perf_counter()
    open_desk(driver, desk.url)
    loaded = time.perf_counter() - started

    # The inbox line: the editor's subject, counted, and the preheader.
    assert text(driver, "#subject") == "Your October 2026 digest: 8 summaries"
    assert text(driver, "#preheader") == \
        "8 plain-language summaries of MS research from October 2026."
    # Per-theme counts: gut emptied, the weak match added to exercise, one therapy moved.
    expected = {"gut_microbiome": 0, "exercise": 3, "biomarkers": 2, "therapies": 1,
                "other": 2}
    assert counts(driver) == expected
    assert text(driver, "#counts h2") == "8 summaries by theme"

    # Warnings: the empty theme, the weak match (with how to check it), the skipped entry.
    warnings = texts(driver, "#warnings li")
    assert "Theme 'Gut microbiome' has no summaries this month." in warnings
    weak = texts(driver, "#warnings li.weak-match")
    assert len(weak) == 1 and desk.weak_id in weak[0] and WEAK_TITLE in weak[0]
    assert f"msdigest themes explain {desk.weak_id}" in weak[0]
    skipped = texts(driver, "#warnings li.skipped")
    assert len(skipped) == 1 and UNDATED_TITLE in skipped[0]
    assert "no date in the feed or in the text" in skipped[0]
    assert "weak match" in text(driver, f'#items li[data-id="{desk.weak_id}"]')

    # Editorial state: the note rendered from Markdown, the subject, pinned, moved, excluded.
    assert text(driver, "#intro strong") == "big"
    assert text(driver, "#intro a") == "trials"
    assert "Your {month} digest: {count} summaries" in text(driver, "#subject-override")
    assert texts(driver, "#pinned li") == [f"{pinned} {title_of(desk, pinned)}"]
    exercise = [e for e in texts(driver, '#items li.item') if "pinned" in e]
    assert len(exercise) == 1 and exercise[0].startswith(pinned)
    first_exercise = text(driver, '#items h3[data-theme="exercise"] + ul li')
    assert first_exercise.startswith(pinned) and "pinned" in first_exercise
    assert "Other research" in text(driver, "#moved li") and moved in text(driver, "#moved li")
    excluded = texts(driver, "#excluded li")
    assert len(excluded) == 1 and gut in excluded[0]
    assert f"msdigest issue restore --period {PERIOD} {gut}" in excluded[0]
    # Next to each summary: its id and the commands that change it.
    item = text(driver, f'#items li[data-id="{desk.ids["biomarkers"][0]}"]')
    for command in ("exclude", "pin", "move"):
        assert f"msdigest issue {command} --period {PERIOD} {desk.ids['biomarkers'][0]}" \
            in item
    assert f"msdigest issue unpin --period {PERIOD} {pinned}" in \
        text(driver, f'#items li[data-id="{pinned}"]')

    # Approval: not yet, with the commands to test-send and approve.
    assert text(driver, "#approval-state") == "Not approved yet."
    assert f"msdigest approve --period {PERIOD} --by NAME" in text(driver, "#approval")
    assert f"msdigest send-test --period {PERIOD} --to ADDR" in text(driver, "#approval")

    # The plain-text part.
    plain = text(driver, "#text")
    assert plain.startswith("Hello Alex,") or "Hello Alex," in plain
    assert "A big month for trials" in plain and "Gut microbiome (0)" in plain

    # The email in both frames, loaded, themes in order; the phone frame fits 375 px.
    headings = [f"{title} ({n})" for title, n in zip(
        [t.title for t in cfg.themes], expected.values(), strict=True)]
    desktop, phone = in_frame(driver, "desktop"), in_frame(driver, "phone")
    assert desktop["headings"] == headings == phone["headings"]
    assert desktop["innerWidth"] == 800 and desktop["scrollWidth"] <= 800
    assert phone["innerWidth"] == 375 and phone["clientWidth"] == 375
    assert phone["scrollWidth"] <= 375 and phone["bodyScrollWidth"] <= 375, phone
    # Side by side on a wide screen, and the desk itself never scrolls sideways.
    d, p = box(driver, "#desktop"), box(driver, "#phone")
    assert abs(d["top"] - p["top"]) < 1 and p["left"] > d["left"] + 800
    assert driver.execute_script("return document.documentElement.scrollWidth") <= WIDE
    height = driver.execute_script("return document.documentElement.scrollHeight")
    assert screenshot(driver, "desk.png", WIDE, height).stat().st_size > 50_000
    print(f"desk page with both frames loaded in {loaded:.2f} s")

    # On a narrower screen the phone view goes below the desktop one.
    open_desk(driver, desk.url, NARROW)
    d, p = box(driver, "#desktop"), box(driver, "#phone")
    assert p["top"] > d["top"] + d["height"]
    assert driver.execute_script("return document.documentElement.scrollWidth") <= NARROW
    screenshot(driver, "desk-900.png", NARROW,
               driver.execute_script("return document.documentElement.scrollHeight"))


def title_of(desk: Desk, summary_id: str) -> str:
    found = desk.store.content.get(summary_id)
    assert found is not None
    return found.title


def test_approval_and_changes_from_another_terminal_show_on_reload(
        driver: Any, desk: Desk) -> None:
    cfg, store = desk.cfg, desk.store
    open_desk(driver, desk.url)
    assert text(driver, "#approval-state") == "Not approved yet."

    editorial.approve(store, cfg, PERIOD, "Eve")
    driver.refresh()
    state = text(driver, "#approval-state")
    assert re.fullmatch(r"Approved by Eve at \d{4}-\d\d-\d\d \d\d:\d\d UTC\.", state), state

    editorial.set_intro(store, PERIOD, "One more thing.")
    driver.refresh()
    assert text(driver, "#approval-state").startswith("Changed since Eve approved it at ")
    assert text(driver, "#intro") == "One more thing."

    # `msdigest issue pin` in another terminal, then reload: the page shows it.
    target = desk.ids["biomarkers"][1]
    assert "pinned" not in text(driver, f'#items li[data-id="{target}"]')
    done = subprocess.run(cli(cfg, "issue", "pin", "--period", PERIOD, target),
                          capture_output=True, text=True, env=env(), timeout=60)
    assert done.returncode == 0, done.stderr
    driver.refresh()
    assert texts(driver, "#pinned li") == [f"{target} {title_of(desk, target)}"]
    first = text(driver, '#items h3[data-theme="biomarkers"] + ul li')
    assert first.startswith(target) and "pinned" in first
    # ... and the email in the frames is the new one too.
    from selenium.webdriver.common.by import By
    driver.switch_to.frame(driver.find_element(By.ID, "phone"))
    try:
        first_title = driver.execute_script(
            "return [...document.querySelectorAll('h2')][2].nextElementSibling"
            ".querySelector('h3').textContent.trim()")
    finally:
        driver.switch_to.default_content()
    assert first_title == title_of(desk, target)


# --- the HTTP side: same files as `preview --out`, strict headers, 404 ---------------------


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_the_preview_files_are_served_as_preview_writes_them(desk: Desk, tmp_path: Path
                                                             ) -> None:
    files = preview.write(draft(desk.store, desk.cfg, PERIOD).edition, tmp_path / "out",
                          Signer.of(desk.cfg, SECRET))
    for name, path in (("issue.html", files.html), ("issue.txt", files.text),
                       ("issue.json", files.json)):
        status, headers, body = fetch(desk.url + name)
        assert status == 200 and body == path.read_bytes(), name
        assert headers["Cache-Control"] == "no-store"
    status, headers, body = fetch(desk.url)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-src 'self'" in csp and "script" not in csp
    assert b"<script" not in body
    status, headers, _ = fetch(desk.url + "issue.html")
    assert "frame-ancestors 'self'" in headers["Content-Security-Policy"]
    for nothing in ("favicon.ico", "issue.htm", "../store.sqlite", "issue.html/x"):
        assert fetch(desk.url + nothing)[0] == 404, nothing


def test_a_sent_issue_is_shown_frozen_without_edit_commands(desk: Desk) -> None:
    issue = compose(desk.store, desk.cfg, PERIOD)
    freeze(desk.store, draft(desk.store, desk.cfg, PERIOD))
    status, _, body = fetch(desk.url)
    page = body.decode("utf-8")
    assert status == 200 and "Sent: the issue went out and can no longer change." in page
    assert "msdigest issue exclude" not in page and "msdigest approve" not in page
    assert issue.subject in page
    request = urllib.request.Request(desk.url, method="HEAD")  # headers only
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 200 and resp.read() == b""


# --- the command: `msdigest preview --serve` ------------------------------------------------


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_preview_serve_command_runs_until_a_signal(
        make_config: Callable[..., Config], stop: signal.Signals) -> None:
    cfg = make_config()
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
    command = cli(cfg, "preview", "--period", str(PERIOD), "--serve", "--port", "0")
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env()) as proc:
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or []],
                                  daemon=True)
        reader.start()
        try:
            first = lines.get(timeout=30)
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
            assert found and int(found.group(1)) > 0, first
            status, _, body = fetch(found.group(0))
            assert status == 200 and b"Editor's desk" in body
            assert b"MS Research Digest \xe2\x80\x94 October 2026: 8 new summaries" in body
            assert fetch(found.group(0) + "issue.txt")[0] == 200
            proc.send_signal(stop)
            assert proc.wait(timeout=20) == 0, proc.stderr.read() if proc.stderr else ""
        finally:
            if proc.poll() is None:
                proc.kill()
        reader.join(5)
    said = [first]
    while not lines.empty():
        said.append(lines.get())
    assert said[-1].strip() == "editor's desk stopped", said


# --- close calls: low-margin decisions listed beside the weak matches --------------------

CLOSE_TITLE = "Yoga and MRI lesions in people with MS"


def test_close_calls_are_listed_for_review_with_the_runner_up(
        make_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg = make_config()
    extra = tmp_path / "close-feed.xml"
    extra.write_text(rss([
        # as much exercise as biomarkers: a close call, not a weak match
        {"title": CLOSE_TITLE, "link": "https://summaries.example.org/s/close",
         "guid": "close", "date": "Thu, 22 Oct 2026 09:00:00 GMT",
         "html": "<p>Both were followed for a year.</p>"},
        {"title": WEAK_TITLE, "link": "https://summaries.example.org/s/sleep-survey",
         "guid": "sleep-survey", "date": "Wed, 21 Oct 2026 09:00:00 GMT",
         "html": "<p>Most participants slept badly; a few who did yoga slept better.</p>"},
    ]), "utf-8")
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        collect_feed(store, str(extra), cfg.base_dir, cfg.tz)
        close = next(s.id for s in store.content.all() if s.title == CLOSE_TITLE)
        weak = next(s.id for s in store.content.all() if s.title == WEAK_TITLE)
    started: queue.Queue[Server] = queue.Queue()
    thread = threading.Thread(target=serve_desk, args=(cfg, PERIOD, SECRET),
                              kwargs={"port": 0, "announce": lambda _: None,
                                      "ready": started.put}, daemon=True)
    thread.start()
    httpd = started.get(timeout=10)
    try:
        with urllib.request.urlopen(httpd.url, timeout=30) as resp:
            page = resp.read().decode("utf-8")
    finally:
        httpd.shutdown()
        thread.join(10)
    items = re.findall(r'<li class="warning low-margin">(.*?)</li>', page, re.S)
    assert len(items) == 1, items
    text = " ".join(re.sub(r"<[^>]+>", "", items[0]).split())
    assert close in text and CLOSE_TITLE in text
    assert "is under Exercise and rehabilitation by a margin of 0.00" in text
    assert "the runner-up is Biomarkers and monitoring" in text
    assert f"msdigest themes explain {close}" in text
    weak_items = re.findall(r'<li class="warning weak-match">(.*?)</li>', page, re.S)
    assert len(weak_items) == 1 and weak in weak_items[0]  # a weak match is not listed twice
    assert "runner-up: Other research" in " ".join(weak_items[0].split())
    # the preview's warnings say the same, with the command to check
    out = tmp_path / "preview"
    run = subprocess.run(cli(cfg, "preview", "--period", PERIOD, "--out", out), env=env(),
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert run.returncode == 0, run.stderr
    assert (f"warning: close call: {close} '{CLOSE_TITLE}' is under 'Exercise and "
            "rehabilitation' by a margin of 0.00; the runner-up is 'Biomarkers and "
            f"monitoring' (`msdigest themes explain {close}`)") in run.stdout
    assert f"warning: weak theme match: {weak}" in run.stdout
