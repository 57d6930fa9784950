"""The signed-in desk (`msdigest web`) driven in Chromium as an editor uses it: sign in,
leave a summary out, move one, write and preview the intro, send a test, approve; a
scheduled send that waited for that approval going out; signing out.

The web app runs in this process (`msdigest.web.app.server` on port 0, `serve_forever` in
a thread), against a store holding the bundled sample feed, the example subscribers and
one editor's account, with [smtp] pointing at a real aiosmtpd server. The scheduler runs
as the real `msdigest run` subprocess, as in test_schedule.py. After every step the test
checks what the page shows and what a fresh Store.open holds.
"""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from msdigest import accounts, editorial
from msdigest import config as config_mod
from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.issue import draft
from msdigest.period import Period
from msdigest.records import DeliveryState
from msdigest.store import Store
from msdigest.subscribers import import_file
from msdigest.web import app
from msdigest.web.editing import SESSION

from .chromium import screenshot
from .conftest import REPO, SECRET, SmtpServer, issue_of, last_month
from .test_schedule import ACTIVE, Service, import_subscribers, miss, runs, service_config

pytestmark = pytest.mark.browser

PERIOD = Period(2026, 10)  # the bundled sample feed's month
EVE, NAME, PASSWORD = "eve@example.org", "Eve", "correct horse battery staple"
ACTOR = f"{NAME} ({EVE})"  # how the desk names her in the audit log and the approval
INTRO = "A **big** month for [trials](https://t.example.org/x)."
WIDE = 1440
WAIT = 30  # seconds for a page or a message; never a measured time
APPROVED = re.compile(rf"Approved by {re.escape(ACTOR)} at \d{{4}}-\d\d-\d\d \d\d:\d\d UTC\.")


# --- the web app, in a thread -------------------------------------------------------------


@contextmanager
def serving(cfg: Config) -> Iterator[str]:
    """`msdigest web`'s server for this config; yields its base URL (no trailing /)."""
    httpd = app.server(cfg, SECRET, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(10)
        assert not thread.is_alive(), "the web server did not stop"


def fill_store(cfg: Config, feed: str) -> None:
    with Store.open(cfg.store_location) as store:
        collect_feed(store, feed, cfg.base_dir, cfg.tz)
        report = import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
        assert report.new == 7, report  # six active, one unsubscribed; four rows refused
        accounts.add(store, EVE, NAME, PASSWORD)


@dataclass
class Desk:
    cfg: Config
    url: str
    smtp: SmtpServer

    def store(self) -> Store:
        """A fresh connection: what the desk really wrote."""
        return Store.open(self.cfg.store_path)


@pytest.fixture
def desk(make_config: Callable[..., Config], smtp_server: SmtpServer) -> Iterator[Desk]:
    cfg = make_config(smtp=smtp_server, digest={"require_approval": True})
    fill_store(cfg, "msdigest:sample-feed.xml")
    with serving(cfg) as url:
        yield Desk(cfg, url, smtp_server)


# --- what the editor does and sees --------------------------------------------------------


def fresh_browser(driver: Any) -> None:
    """No cookie from an earlier test (cookies ignore ports), a wide window."""
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WIDE, "height": 1000, "deviceScaleFactor": 1, "mobile": False})


def find(driver: Any, css: str) -> Any:
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, WAIT).until(
        ec.presence_of_element_located(("css selector", css)), f"no {css} on the page")


def text(driver: Any, css: str) -> str:
    return str(find(driver, css).text)


def texts(driver: Any, css: str) -> list[str]:
    return [str(e.text) for e in driver.find_elements("css selector", css)]


def absent(driver: Any, css: str) -> bool:
    return not driver.find_elements("css selector", css)


def shown(driver: Any) -> str:
    """Where the browser is and what the page says, for a failure's message."""
    body = driver.find_elements("css selector", "body")
    return f"{driver.current_url}: {body[0].text[:500] if body else ''!r}"


def wait_text(driver: Any, css: str, expected: str) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        WebDriverWait(driver, WAIT).until(
            ec.text_to_be_present_in_element(("css selector", css), expected))
    except TimeoutException:
        pytest.fail(f"{css} never read {expected!r}; the page is {shown(driver)}")


def press(driver: Any, button: Any) -> None:
    """Click a submit button and wait until the page it leads to has loaded."""
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    old = driver.find_element("css selector", "html")
    label = button.text
    button.click()
    WebDriverWait(driver, WAIT).until(ec.staleness_of(old), "the form led to no new page")
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.readyState") == "complete")
    # the desk's pages are HTML; its refusals (403 and the like) are plain text
    kind = driver.execute_script("return document.contentType")
    assert kind == "text/html", f"{label!r} led to a {kind} page, {shown(driver)}"


def button(driver: Any, css: str, label: str) -> Any:
    """The submit button labelled `label` inside the element `css`."""
    inside = find(driver, css)
    found = [b for b in inside.find_elements("css selector", "button[type=submit]")
             if b.text.strip() == label]
    assert len(found) == 1, f"{len(found)} {label!r} buttons in {css}"
    return found[0]


def sign_in(driver: Any, password: str = PASSWORD) -> None:
    """On the sign-in page: type the address and the password, press Sign in."""
    email = find(driver, "#email")
    email.clear()
    email.send_keys(EVE)
    find(driver, "#password").send_keys(password)
    press(driver, button(driver, "main form", "Sign in"))


def counts(driver: Any) -> dict[str, int]:
    return {r.get_attribute("data-theme"): int(r.find_element("css selector", "td.n").text)
            for r in driver.find_elements("css selector", "#counts tbody tr")}


def audit_lines(driver: Any) -> list[str]:
    return texts(driver, "#audit ol.audit li")


def path_of(driver: Any, base: str) -> str:
    url = str(driver.current_url)
    assert url.startswith(base), url
    return url[len(base):]


def stored_counts(d: Desk) -> dict[str, int]:
    with d.store() as store:
        return {s.id: len(s.items) for s in issue_of(store, d.cfg, PERIOD).sections}


# --- 1. sign in, shape the issue, send a test, approve ------------------------------------


def test_an_editor_signs_in_shapes_the_issue_sends_a_test_and_approves_it(
        driver: Any, desk: Desk) -> None:
    from selenium.webdriver.support.select import Select

    fresh_browser(driver)
    with desk.store() as store:
        sections = {s.id: [(i.id, i.title) for i in s.items]
                    for s in issue_of(store, desk.cfg, PERIOD).sections}
    left_out, left_out_title = sections["gut_microbiome"][0]
    moving, moving_title = sections["therapies"][1]
    before = stored_counts(desk)
    total = sum(before.values())
    assert before["gut_microbiome"] >= 1 and before["therapies"] >= 2 and total >= 3

    # Not signed in: the issue's address leads to the sign-in page, which remembers it.
    driver.get(f"{desk.url}/desk/{PERIOD}/")
    wait_text(driver, "main h1", "Editor's desk")
    assert path_of(driver, desk.url) == f"/desk/login?next=/desk/{PERIOD}/"
    assert driver.get_cookie(SESSION) is None

    # A wrong password: the error, the address kept, still the sign-in page, no session.
    sign_in(driver, "not the password at all")
    wait_text(driver, "#error", accounts.WRONG)
    assert path_of(driver, desk.url) == f"/desk/login?next=/desk/{PERIOD}/"
    assert find(driver, "#email").get_attribute("value") == EVE
    assert find(driver, "#password").get_attribute("value") == ""
    assert driver.get_cookie(SESSION) is None
    assert absent(driver, "#counts")
    with desk.store() as store:
        assert store.editors.failures(f"account:{EVE}")[0] == 1
        assert store.audit.entries(PERIOD) == []

    # The right one: the issue page, signed in as Eve, nothing changed yet.
    sign_in(driver)
    wait_text(driver, "header p", f"Signed in as {NAME} ({EVE})")
    assert path_of(driver, desk.url) == f"/desk/{PERIOD}/"
    assert driver.get_cookie(SESSION) is not None
    assert absent(driver, "#flash") and absent(driver, "#error")
    assert counts(driver) == before
    assert text(driver, "#counts h2") == f"{total} summaries by theme"
    assert text(driver, "#approval-state") == "Not approved yet."
    assert text(driver, "#audit") == "History\nNo changes yet."
    assert absent(driver, "#excluded") and absent(driver, "#intro")
    with desk.store() as store:
        assert store.editors.failures(f"account:{EVE}")[0] == 0

    # Leave one summary out (its "Leave out" button).
    press(driver, button(driver, f'#items li[data-id="{left_out}"]', "Leave out"))
    wait_text(driver, "#flash", "Left out of the issue.")
    assert path_of(driver, desk.url) == f"/desk/{PERIOD}/?done=excluded"
    shown = counts(driver)
    assert shown == {**before, "gut_microbiome": before["gut_microbiome"] - 1}
    assert text(driver, "#counts h2") == f"{total - 1} summaries by theme"
    excluded = texts(driver, "#excluded li")
    assert len(excluded) == 1 and left_out in excluded[0] and left_out_title in excluded[0]
    assert "Put it back" in excluded[0]
    assert absent(driver, f'#items li[data-id="{left_out}"]')
    history = audit_lines(driver)
    assert len(history) == 1
    assert f"— {ACTOR} excluded: {left_out} {left_out_title}" in history[0]
    with desk.store() as store:
        edits = store.issues.edits(PERIOD)
        assert set(edits) == {left_out} and edits[left_out].excluded
        entries = store.audit.entries(PERIOD)
        assert [(e.actor, e.action) for e in entries] == [(ACTOR, "excluded")]
        assert entries[0].detail == f"{left_out} {left_out_title}"
    assert stored_counts(desk) == shown

    # Move another to another theme (its select, then "Move").
    row = f'#items li[data-id="{moving}"]'
    Select(find(driver, f"{row} select[name=theme]")).select_by_value("other")
    press(driver, button(driver, row, "Move"))
    wait_text(driver, "#flash", "Moved to its new theme.")
    moved_counts = {**shown, "therapies": shown["therapies"] - 1, "other": shown["other"] + 1}
    assert counts(driver) == moved_counts
    assert texts(driver, "#moved li") == [f"{moving} {moving_title} → Other research"]
    assert moving in [e.get_attribute("data-id") for e in driver.find_elements(
        "css selector", '#items h3[data-theme="other"] + ul li.item')]
    assert "moved" in text(driver, row)
    history = audit_lines(driver)
    assert len(history) == 2
    assert f"— {ACTOR} moved: {moving} {moving_title}: therapies → other" in history[0]
    with desk.store() as store:
        edits = store.issues.edits(PERIOD)
        assert edits[moving].theme == "other" and not edits[moving].excluded
        assert edits[left_out].excluded
        assert [(e.actor, e.action) for e in store.audit.entries(PERIOD)] == [
            (ACTOR, "moved"), (ACTOR, "excluded")]
    assert stored_counts(desk) == moved_counts

    # An intro note in Markdown: Preview renders it and saves nothing ...
    note = find(driver, "#intro-text")
    note.clear()
    note.send_keys(INTRO)
    press(driver, button(driver, "#intro-form", "Preview"))
    wait_text(driver, "#intro-preview strong", "big")
    link = find(driver, "#intro-preview a")
    assert link.text == "trials" and link.get_attribute("href") == "https://t.example.org/x"
    assert text(driver, "#intro-preview") == "A big month for trials."
    assert find(driver, "#intro-text").get_attribute("value") == INTRO
    assert absent(driver, "#intro") and absent(driver, "#flash")
    with desk.store() as store:
        assert store.issues.notes(PERIOD).intro == ""
        assert len(store.audit.entries(PERIOD)) == 2

    # ... Save stores it, and the page shows it as the email will.
    press(driver, button(driver, "#intro-form", "Save the note"))
    wait_text(driver, "#flash", "The intro note is saved.")
    assert text(driver, "#intro strong") == "big"
    assert text(driver, "#intro a") == "trials"
    assert absent(driver, "#intro-preview")
    assert find(driver, "#intro-text").get_attribute("value") == INTRO
    assert "A big month for trials" in text(driver, "#text")
    assert counts(driver) == moved_counts
    history = audit_lines(driver)
    assert len(history) == 3 and f"— {ACTOR} wrote the intro note" in history[0]
    with desk.store() as store:
        assert store.issues.notes(PERIOD).intro == INTRO
        assert store.audit.entries(PERIOD)[0].action == "wrote the intro note"

    # "Send a test to me": the real SMTP server gets a [TEST] copy for Eve only.
    assert desk.smtp.handler.received == []
    press(driver, button(driver, "#approval", "Send a test to me"))
    wait_text(driver, "#flash", f"A test copy is on its way to {EVE}.")
    assert absent(driver, "#error")
    received = desk.smtp.handler.received
    assert len(received) == 1 and received[0].recipients == [EVE]
    message = received[0].message
    assert message["To"] == EVE or EVE in str(message["To"])
    assert str(message["Subject"]).startswith("[TEST] ")
    assert "October 2026" in str(message["Subject"])
    plain = " ".join(message.get_body(("plain",)).get_content().split())  # unwrapped
    assert "A big month for trials" in plain
    assert moving_title in plain and left_out_title not in plain
    history = audit_lines(driver)
    assert len(history) == 4
    assert f"— {ACTOR} sent a test: to {EVE}: sent" in history[0]
    with desk.store() as store:
        assert store.audit.entries(PERIOD)[0].action == "sent a test"
        assert store.ledger.counts(PERIOD) == {}  # a test is never in the ledger
        assert not store.issues.is_frozen(PERIOD)
        assert store.issues.approval(PERIOD) is None

    # "Approve this issue": approved by Eve, as it stands.
    press(driver, button(driver, "#approval", "Approve this issue"))
    wait_text(driver, "#flash", "Approved: it will go out as it stands.")
    state = text(driver, "#approval-state")
    assert APPROVED.fullmatch(state), state
    assert "state-approved" in (find(driver, "#approval-state").get_attribute("class") or "")
    assert button(driver, "#approval", "Withdraw approval")
    history = audit_lines(driver)
    assert len(history) == 5 and f"— {ACTOR} approved: content " in history[0]
    assert [h.split(" — ", 1)[1].split(":")[0] for h in history] == [
        f"{ACTOR} approved", f"{ACTOR} sent a test", f"{ACTOR} wrote the intro note",
        f"{ACTOR} moved", f"{ACTOR} excluded"]
    with desk.store() as store:
        approval = store.issues.approval(PERIOD)
        assert approval is not None and approval.by == ACTOR
        current = draft(store, desk.cfg, PERIOD)
        assert approval.content_hash == editorial.content_hash(current.issue)
        assert editorial.standing(store, current).state is editorial.ApprovalState.APPROVED
        entries = store.audit.entries(PERIOD)
        assert [e.action for e in entries] == [
            "approved", "sent a test", "wrote the intro note", "moved", "excluded"]
        assert {e.actor for e in entries} == {ACTOR}
        assert entries[0].detail == \
            f"content {approval.content_hash[:12]}, {total - 1} summaries"
        assert store.issues.notes(PERIOD).intro == INTRO
    assert len(desk.smtp.handler.received) == 1  # approving sent nothing

    height = driver.execute_script("return document.documentElement.scrollHeight")
    assert screenshot(driver, "desk-signed-in.png", WIDE, height).stat().st_size > 50_000


# --- 2. the scheduled send waits for the editor, then goes out ----------------------------


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[[Path], Service]]:
    """`msdigest run` subprocesses; any still running at the end is killed."""
    started: list[Service] = []

    def start(config: Path) -> Service:
        started.append(Service(config, tmp_path, f"service{len(started) + 1}"))
        return started[-1]

    yield start
    for service in started:
        service.kill()


def finished(path: Path) -> list[tuple[str, str | None]]:
    return [r for r in runs(path) if r[1] is not None]


def test_a_scheduled_send_refused_before_approval_goes_out_after_the_desk_approves(
        driver: Any, tmp_path: Path, smtp_server: SmtpServer,
        services: Callable[[Path], Service]) -> None:
    config = service_config(tmp_path, smtp_server, require_approval=True)
    cfg = config_mod.load(config, env={})
    # test_schedule's subscribers: each active one has something in the themes they chose
    # (the example CSV's would rightly skip some: its feed is about two themes only)
    import_subscribers(config, tmp_path)
    period, _ = last_month()
    path = cfg.store_path
    with Store.open(path) as store:
        collect_feed(store, cfg.feeds[0].url, cfg.base_dir, cfg.tz)
        accounts.add(store, EVE, NAME, PASSWORD)
        active = sorted(s.email for s in store.subscribers.active())
        assert issue_of(store, cfg, period).count == 3
    assert active == ACTIVE

    first = services(config)  # installs the jobs (far-future crons) and stops
    first.wait_running()
    first.stop()
    assert runs(path) == []

    # The send time passes while the issue is not approved: refused, nothing sent.
    miss(path, timedelta(minutes=5), ("send",))
    second = services(config)
    second.wait_for(lambda: bool(finished(path)), 30, "a finished send run")
    second.stop()
    assert runs(path) == [(f"send {period}", "refused")], second.output()
    assert f"the {period} issue has not been approved" in second.output()
    assert smtp_server.handler.received == []
    with Store.open(path) as store:
        assert store.audit.marked("due") == [period]
        assert store.issues.approval(period) is None

    # The editor approves it in the desk.
    fresh_browser(driver)
    with serving(cfg) as url:
        driver.get(f"{url}/desk/{period}/")
        wait_text(driver, "main h1", "Editor's desk")
        assert path_of(driver, url) == f"/desk/login?next=/desk/{period}/"
        sign_in(driver)
        wait_text(driver, "header p", f"Signed in as {NAME} ({EVE})")
        assert path_of(driver, url) == f"/desk/{period}/"
        assert text(driver, "#approval-state") == "Not approved yet."
        assert text(driver, "#counts h2") == "3 summaries by theme"
        press(driver, button(driver, "#approval", "Approve this issue"))
        wait_text(driver, "#flash", "Approved: it will go out as it stands.")
        state = text(driver, "#approval-state")
        assert APPROVED.fullmatch(state), state
        assert f"— {ACTOR} approved: content " in audit_lines(driver)[0]
        with Store.open(path) as store:
            approval = store.issues.approval(period)
            assert approval is not None and approval.by == ACTOR
        assert smtp_server.handler.received == []  # approving is not sending

        # The next collect tries the waiting send again: it goes out, once to everyone.
        miss(path, timedelta(minutes=5), ("collect",))
        third = services(config)
        third.wait_for(lambda: len(finished(path)) >= 3 and len(runs(path)) >= 3, 30,
                       "the collect run and the send it retried")
        third.stop()
        assert runs(path) == [(f"send {period}", "refused"), ("collect", "ok"),
                              (f"send {period}", "ok")], third.output()
        with Store.open(path) as store:
            latest = store.runs.recent(1)[0]
            assert latest.job == f"send {period}" and latest.outcome == "ok"
            assert latest.detail.startswith(f"{len(active)} sent, 0 failed"), latest
            assert store.ledger.counts(period) == {DeliveryState.SENT: len(active)}
            assert store.issues.is_frozen(period)
        to_subscribers = [m for m in smtp_server.handler.received if EVE not in m.recipients]
        got = Counter(r for m in to_subscribers for r in m.recipients)
        assert sorted(got) == active and set(got.values()) == {1}, got
        for m in to_subscribers:
            assert not str(m.message["Subject"]).startswith("[TEST]")
            assert "Summary 3" in m.message.get_body(("plain",)).get_content()
        # the editors' report after the send, once
        report = smtp_server.handler.to(EVE)
        assert len(report) == 1, [str(m.message["Subject"]) for m in report]
        assert f"The {period.label} issue went out" in str(report[0].message["Subject"])

        # The desk now shows it sent, and frozen.
        driver.refresh()
        wait_text(driver, "#approval-state", "Sent: the issue went out and can no longer "
                                             "change.")
        assert absent(driver, "#intro-form")
        assert texts(driver, "#approval button") == []


# --- 3. signing out ends the session --------------------------------------------------------


def raw_get(url: str, cookie: str) -> tuple[int, str]:
    """GET with just this cookie, redirects not followed: (status, Location)."""

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(Keep)
    request = urllib.request.Request(url, headers={"Cookie": f"{SESSION}={cookie}"})
    try:
        with opener.open(request, timeout=WAIT) as resp:
            return resp.status, resp.headers.get("Location") or ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location") or ""


def test_signing_out_ends_the_session_for_good(driver: Any, desk: Desk) -> None:
    fresh_browser(driver)
    issue_url = f"{desk.url}/desk/{PERIOD}/"
    driver.get(issue_url)
    wait_text(driver, "main h1", "Editor's desk")
    sign_in(driver)
    wait_text(driver, "header p", f"Signed in as {NAME} ({EVE})")
    cookie = driver.get_cookie(SESSION)
    assert cookie is not None and cookie["httpOnly"] and cookie["path"] == "/desk/"
    token = str(cookie["value"])
    assert raw_get(issue_url, token) == (200, "")  # the cookie opens the desk ...
    with desk.store() as store:
        assert accounts.session(store, token, timedelta(hours=1)) is not None

    press(driver, button(driver, "header", "Sign out"))
    wait_text(driver, "main h1", "Editor's desk")
    assert path_of(driver, desk.url) == "/desk/login"
    assert find(driver, "#email").get_attribute("value") == ""
    assert driver.get_cookie(SESSION) is None

    # ... and no longer: the old cookie is sent to sign in, the store forgot the session.
    assert raw_get(issue_url, token) == (303, f"/desk/login?next=/desk/{PERIOD}/")
    assert raw_get(f"{desk.url}/desk/", token) == (303, "/desk/login?next=/desk/")
    with desk.store() as store:
        assert accounts.session(store, token, timedelta(hours=1)) is None
    driver.get(issue_url)
    wait_text(driver, "main h1", "Editor's desk")
    assert path_of(driver, desk.url) == f"/desk/login?next=/desk/{PERIOD}/"
    assert absent(driver, "#counts")
