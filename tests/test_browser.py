"""The email as a person sees it: the preview's issue.html in headless Chromium.

Drives Debian's chromium through Debian's chromedriver with Selenium. Both paths are
given explicitly, so Selenium Manager never looks for (or downloads) a browser or a
driver. `make test` installs chromium and chromium-driver when they are missing; a
missing browser fails these tests (it never skips them).

The page is opened at 375 px as a phone (mobile emulation: the viewport meta decides
the layout width) and at 800 px as a desktop window, in light and in dark mode.
Screenshots go to test-artifacts/ at the repo root.

html-validate (npm, installed by `make test` from package-lock.json) checks the HTML.
.htmlvalidate.json extends html-validate:recommended and turns off only what an email
needs: `no-inline-style` (premailer inlines the CSS on purpose: Gmail drops <style>),
`no-conditional-comment` (the <!--[if mso]> ghost tables are Outlook for Windows'
layout), and lets `prefer-native-element` accept role="article" (the wrapper <div>
names the email for screen readers; webmail strips or renames <article>).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from msdigest import config as config_mod
from msdigest.collect import collect_feed
from msdigest.model import Edition, Issue, Item, Section
from msdigest.period import Period
from msdigest.preview import PreviewFiles
from msdigest.preview import write as write_edition
from msdigest.store import Store
from msdigest.templates import look
from msdigest.unsubscribe import Signer

from .chromium import screenshot
from .conftest import REPO, issue_of

pytestmark = pytest.mark.browser

HTML_VALIDATE = REPO / "node_modules" / ".bin" / "html-validate"
CFG = config_mod.load(None, env={})
PERIOD = "2026-10"

# Everything measured in the page, in one script: returns plain JSON.
MEASURE = """
const vis = el => {
  const s = getComputedStyle(el), r = el.getBoundingClientRect();
  return s.display !== 'none' && s.visibility !== 'hidden' && parseFloat(s.opacity) > 0
    && r.width > 0 && r.height > 0;
};
const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => {
  const f = v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const background = el => {
  for (; el; el = el.parentElement) {
    const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const contrast = el => {
  const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
};
const texts = [...document.body.querySelectorAll('*')].filter(el =>
  [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()));
const shown = texts.filter(vis);
const box = el => { const r = el.getBoundingClientRect();
  return {top: r.top + scrollY, left: r.left, right: r.right, width: r.width,
          height: r.height}; };
return {
  innerWidth: innerWidth,
  scrollWidth: document.documentElement.scrollWidth,
  bodyScrollWidth: document.body.scrollWidth,
  scrollHeight: document.documentElement.scrollHeight,
  bodyFont: parseFloat(getComputedStyle(document.body).fontSize),
  paragraphFonts: [...document.querySelectorAll('p, li, td')].filter(vis).map(
    el => parseFloat(getComputedStyle(el).fontSize)),
  smallText: shown.filter(el => parseFloat(getComputedStyle(el).fontSize) < 16).map(
    el => el.tagName + ': ' + el.textContent.trim().slice(0, 60)),
  lowContrast: shown.filter(el => contrast(el) < 4.5).map(
    el => el.tagName + ' ' + contrast(el).toFixed(2) + ': ' + el.textContent.trim().slice(0, 40)),
  links: [...document.querySelectorAll('a')].map(a => ({
    href: a.getAttribute('href'), text: a.textContent.trim(), visible: vis(a), ...box(a)})),
  headings: [...document.querySelectorAll('h2')].map(
    h => h.textContent.replace(/\\s+/g, ' ').trim()),
  notices: texts.filter(el => el.textContent.trim() === arguments[0]).map(el => ({
    visible: vis(el), ...box(el)})),
  caveats: arguments[1].map(c => texts.filter(el => el.textContent.trim() === c).map(
    el => ({visible: vis(el), ...box(el)}))),
  preheader: texts.filter(el => el.textContent.includes(arguments[2])).map(el => ({
    visible: vis(el), display: getComputedStyle(el).display})),
  innerText: document.body.innerText,
};
"""


def write(issue: Issue, folder: Path, secret: bytes) -> PreviewFiles:
    return write_edition(Edition(issue, look(CFG)), folder, Signer.of(CFG, secret))


@pytest.fixture(scope="module")
def preview(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Issue, PreviewFiles]]:
    """issue.html for the sample feed's October 2026 issue, as `msdigest preview` writes it."""
    folder = tmp_path_factory.mktemp("browser")
    with Store.open(folder / "store.sqlite") as store:
        collect_feed(store, "msdigest:sample-feed.xml", REPO, CFG.tz)
        issue = issue_of(store, CFG, PERIOD)
    yield issue, write(issue, folder / "preview", b"test-secret")


def view(driver: Any, url: str, width: int, phone: bool, dark: bool = False) -> dict[str, Any]:
    """Open the page at this width and measure it."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 800, "deviceScaleFactor": 1, "mobile": phone})
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
        {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})
    driver.get(url)
    return driver.execute_script(MEASURE, CFG.digest.disclaimer, list(CFG.digest.caveats),
                                 "plain-language summaries of MS research from October 2026")


def check_what_a_reader_sees(page: dict[str, Any], issue: Issue) -> None:
    # Every link is a real https link, big enough to tap (44 px), on screen.
    links = page["links"]
    assert len(links) == 2 * issue.count + 4
    bad = [a for a in links if not (a["href"] or "").startswith("https://")]
    assert not bad, bad
    small = [(a["text"], round(a["height"], 1)) for a in links if a["height"] < 44]
    assert not small, f"tap targets under 44 px high: {small}"
    assert all(a["visible"] and a["right"] <= page["innerWidth"] for a in links)
    # The per-summary notice under every summary, and each caveat, can be seen.
    assert len(page["notices"]) == issue.count
    assert all(n["visible"] and n["width"] > 100 for n in page["notices"])
    for caveat in page["caveats"]:
        assert len(caveat) == 1 and caveat[0]["visible"]
    # Themes in the configured order, with counts.
    assert page["headings"] == [f"{s.title} ({len(s.items)})" for s in issue.sections]
    # The preheader is for the inbox list only.
    assert page["preheader"] and not any(p["visible"] for p in page["preheader"])
    assert page["preheader"][0]["display"] == "none"
    assert "plain-language summaries of MS research from October 2026" not in page["innerText"]
    # Readable: nothing under 16 px, and enough contrast (WCAG AA, 4.5:1) everywhere.
    assert not page["smallText"], page["smallText"]
    assert not page["lowContrast"], page["lowContrast"]


def test_on_a_phone_375_px_wide(driver: Any, preview: tuple[Issue, PreviewFiles]) -> None:
    issue, files = preview
    page = view(driver, files.html.as_uri(), 375, phone=True)
    assert page["innerWidth"] == 375  # the viewport meta gives the phone's own width
    assert page["scrollWidth"] <= page["innerWidth"], "the page scrolls sideways at 375 px"
    assert page["bodyScrollWidth"] <= page["innerWidth"]
    assert page["bodyFont"] >= 16
    assert page["paragraphFonts"] and min(page["paragraphFonts"]) >= 16
    check_what_a_reader_sees(page, issue)
    # One column, edge to edge, with the text clear of the screen's edges.
    notices = page["notices"]
    assert all(n["left"] >= 16 and n["right"] <= 375 - 16 for n in notices)
    assert len({round(n["left"]) for n in notices}) == 1
    path = screenshot(driver, "email-375.png", 375, page["scrollHeight"])
    assert path.stat().st_size > 10_000


def test_on_a_phone_in_dark_mode(driver: Any, preview: tuple[Issue, PreviewFiles]) -> None:
    issue, files = preview
    page = view(driver, files.html.as_uri(), 375, phone=True, dark=True)
    assert page["scrollWidth"] <= page["innerWidth"]
    check_what_a_reader_sees(page, issue)  # includes the contrast of every text
    screenshot(driver, "email-375-dark.png", 375, page["scrollHeight"])


def test_on_a_desktop_800_px_wide(driver: Any, preview: tuple[Issue, PreviewFiles]) -> None:
    issue, files = preview
    page = view(driver, files.html.as_uri(), 800, phone=False)
    assert page["innerWidth"] == 800
    assert page["scrollWidth"] <= 800
    check_what_a_reader_sees(page, issue)
    # The column stops at 600 px and sits in the middle.
    notices = page["notices"]
    lefts = {round(n["left"]) for n in notices}
    assert len(lefts) == 1
    left = lefts.pop()
    assert 100 <= left <= 130  # (800 - 600) / 2 + 20 px padding
    assert all(n["right"] <= 700 - 20 + 1 for n in notices)
    path = screenshot(driver, "email-800.png", 800, page["scrollHeight"])
    assert path.stat().st_size > 10_000


def test_long_words_and_many_summaries_still_fit_a_phone(driver: Any, tmp_path: Path) -> None:
    """A title with a very long word (a gene name, a pasted URL) must not widen the page."""
    long_word = "antiinterleukin17heterodimerreceptor" * 3  # no place to break it
    items = tuple(
        Item(f"id{k}", f"{long_word} {k} in relapsing MS", f"https://summaries.example.org/s/{k}",
             datetime(2026, 10, 20, tzinfo=UTC), f"Teaser {k} " + long_word * 2, "other")
        for k in range(12))
    issue = Issue(Period.parse(PERIOD), CFG.site.name,
                  (Section("other", "Other research " + long_word, items),), "s", "p",
                  intro="A **big** month: see [the trials](https://summaries.example.org/t).")
    files = write(issue, tmp_path, b"test-secret")
    page = view(driver, files.html.as_uri(), 375, phone=True)
    assert page["scrollWidth"] <= page["innerWidth"] == 375
    assert len(page["notices"]) == 12
    assert all(n["right"] <= 375 - 16 for n in page["notices"])
    assert len(page["links"]) == 2 * 12 + 4 + 1  # the note's link too
    assert all(a["right"] <= 375 and a["height"] >= 44 for a in page["links"]), page["links"]


def test_html_validate_finds_no_errors(preview: tuple[Issue, PreviewFiles]) -> None:
    if not HTML_VALIDATE.is_file() or shutil.which("node") is None:
        pytest.fail(f"{HTML_VALIDATE} not found: run `make test`, which runs `npm ci`",
                    pytrace=False)
    _, files = preview
    cmd = [str(HTML_VALIDATE), "--config", str(REPO / ".htmlvalidate.json"),
           "--formatter", "json"]
    run = subprocess.run([*cmd, str(files.html)], capture_output=True, text=True, timeout=120,
                         cwd=REPO)
    results = json.loads(run.stdout or "[]")
    messages = [f"{m['line']}:{m['column']} {m['ruleId']}: {m['message']}"
                for r in results for m in r["messages"]]
    assert run.returncode == 0 and not messages, "\n".join(messages) or run.stderr
    # The checker does check: the same config rejects an image without alt text.
    broken = files.html.with_name("broken.html")
    broken.write_text(files.html.read_text("utf-8").replace(
        "</h1>", '</h1><img src="https://summaries.example.org/logo.png">'), "utf-8")
    run = subprocess.run([*cmd, str(broken)], capture_output=True, text=True, timeout=120,
                         cwd=REPO)
    assert run.returncode != 0
    assert "wcag/h37" in run.stdout  # images need alt text
