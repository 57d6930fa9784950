"""The signed-in desk over real HTTP (`msdigest web` on waitress): who may in, what a forged,
stale or guessed request gets, and that every change is a POST with the session's token."""

from __future__ import annotations

import http.client
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest

from msdigest import accounts
from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.period import Period
from msdigest.store import Store
from msdigest.subscribers import import_file
from msdigest.web import app

from .conftest import REPO, SECRET

PERIOD = Period(2026, 10)
EVE, PASSWORD = "eve@example.org", "correct horse battery staple"


@dataclass
class Browser:
    """Just enough of a browser: cookies kept, redirects not followed."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        head = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if self.cookies:
            head["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = urlencode(form).encode() if form is not None else None
        if body is not None:
            head["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=head)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        for value in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            cookie_value = rest.split(";", 1)[0]
            if "Max-Age=0" in value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie_value
        headers_out = {k.lower(): v for k, v in resp.getheaders()}
        headers_out["set-cookie"] = " | ".join(resp.headers.get_all("Set-Cookie") or [])
        conn.close()
        return resp.status, headers_out, text

    def sign_in(self, email: str = EVE, password: str = PASSWORD) -> tuple[int, dict[str, str],
                                                                        str]:
        _, _, page = self.request("GET", "/desk/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        return self.request("POST", "/desk/login", {"csrf_token": token.group(1),
                                                    "email": email, "password": password})

    def csrf(self, path: str = f"/desk/{PERIOD}/") -> str:
        _, _, page = self.request("GET", path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found, page[:500]
        return found.group(1)


@dataclass
class Desk:
    cfg: Config
    port: int

    def browser(self) -> Browser:
        return Browser(self.port)

    def store(self) -> Store:
        return Store.open(self.cfg.store_path)


@pytest.fixture
def desk(make_config: Callable[..., Config]) -> Iterator[Desk]:
    cfg = make_config(digest={"require_approval": True},
                      web={"trusted_proxy": "127.0.0.1", "idle_minutes": 60})
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
        accounts.add(store, EVE, "Eve", PASSWORD)
        accounts.add(store, "sam@example.org", "Sam", PASSWORD + " too")
    server = app.server(cfg, SECRET, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Desk(cfg, server.server_port)
    server.shutdown()
    thread.join(10)


def first_id(desk: Desk) -> str:
    from .conftest import issue_of
    with desk.store() as store:
        return issue_of(store, desk.cfg, PERIOD).items[0].id


def test_without_a_session_every_page_sends_you_to_sign_in_and_no_post_goes_through(
        desk: Desk) -> None:
    b = desk.browser()
    for path in ("/desk/", f"/desk/{PERIOD}/", f"/desk/{PERIOD}/issue.html"):
        status, headers, _ = b.request("GET", path)
        assert status == 303 and headers["location"].startswith("/desk/login?next=/desk/")
    status, _, _ = b.request("POST", f"/desk/{PERIOD}/edit",
                             {"action": "exclude", "summary": first_id(desk)})
    assert status == 403
    with desk.store() as store:
        assert store.issues.edits(PERIOD) == {}
    assert b.request("GET", "/desk")[1]["location"] == "/desk/"


def test_signing_in_sets_a_session_cookie_that_scripts_and_other_sites_cannot_use(
        desk: Desk) -> None:
    b = desk.browser()
    status, headers, _ = b.sign_in()
    assert status == 303 and headers["location"] == "/desk/"
    cookie = next(c for c in headers["set-cookie"].split(" | ") if c.startswith("msdigest_desk="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/desk/" in cookie
    assert "Secure" not in cookie  # plain http here: a Secure cookie would never come back
    status, _, page = b.request("GET", "/desk/")
    assert status == 200 and "Signed in as Eve" in page and 'data-period="2026-10"' in page
    # Behind the trusted proxy, saying https: the cookie is Secure.
    proxied = desk.browser()
    _, _, login = proxied.request("GET", "/desk/login", headers={"X-Forwarded-Proto": "https"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', login)
    assert token
    _, headers, _ = proxied.request("POST", "/desk/login", {
        "csrf_token": token.group(1), "email": EVE, "password": PASSWORD},
        headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in headers["set-cookie"]


def test_a_wrong_password_reads_like_an_unknown_account(desk: Desk) -> None:
    wrong = desk.browser().sign_in(password="not the password")
    unknown = desk.browser().sign_in(email="nobody@example.org")
    assert wrong[0] == unknown[0] == 401
    message = "That email and password do not match an editor&#39;s account."
    assert message in wrong[2] and message in unknown[2]
    assert "msdigest_desk=" not in wrong[1]["set-cookie"]


def test_a_sign_in_form_not_served_by_the_desk_is_refused(desk: Desk) -> None:
    b = desk.browser()
    status, _, _ = b.request("POST", "/desk/login", {"csrf_token": "made-up", "email": EVE,
                                                     "password": PASSWORD})
    assert status == 403 and "msdigest_desk" not in b.cookies


def test_password_guessing_is_slowed_down_per_account_and_per_address(desk: Desk) -> None:
    b = desk.browser()
    for _ in range(accounts.FREE_FAILURES):
        assert b.sign_in(password="guess")[0] == 401
    status, headers, page = b.sign_in()  # even the right password waits its turn
    assert status == 429 and int(headers["retry-after"]) >= 1
    assert "Too many failed sign-ins" in page and "msdigest_desk" not in b.cookies
    # Another account from the same address waits too (per address), and the account
    # from another address (per account): both counters hold.
    assert desk.browser().sign_in("sam@example.org", PASSWORD + " too")[0] == 429
    with desk.store() as store:
        failures, _ = store.editors.failures(f"account:{EVE}")
        assert failures == accounts.FREE_FAILURES  # a refused try is not even checked


def test_a_change_needs_the_sessions_token_and_a_get_changes_nothing(desk: Desk) -> None:
    b = desk.browser()
    b.sign_in()
    summary = first_id(desk)
    for token in ("", "wrong", b.csrf() + "x"):
        status, _, _ = b.request("POST", f"/desk/{PERIOD}/edit", {
            "csrf_token": token, "action": "exclude", "summary": summary})
        assert status == 403
    status, _, _ = b.request("POST", f"/desk/{PERIOD}/edit", {
        "csrf_token": b.csrf(), "action": "exclude", "summary": summary},
        headers={"Origin": "https://evil.example"})
    assert status == 403  # the right token, sent from another site
    status, _, _ = b.request("GET", f"/desk/{PERIOD}/edit?action=exclude&summary={summary}"
                             f"&csrf_token={b.csrf()}")
    assert status == 404
    with desk.store() as store:
        assert store.issues.edits(PERIOD) == {}
    status, headers, _ = b.request("POST", f"/desk/{PERIOD}/edit", {
        "csrf_token": b.csrf(), "action": "exclude", "summary": summary})
    assert status == 303 and headers["location"] == f"/desk/{PERIOD}/?done=excluded"
    with desk.store() as store:
        assert store.issues.edits(PERIOD)[summary].excluded
        entry = store.audit.entries(PERIOD)[0]
        assert (entry.actor, entry.action) == ("Eve (eve@example.org)", "excluded")


def test_a_tampered_or_signed_out_or_idle_session_opens_nothing(desk: Desk) -> None:
    b = desk.browser()
    b.sign_in()
    good = b.cookies["msdigest_desk"]
    tampered = Browser(desk.port, {"msdigest_desk": good[:-2] + "xx"})
    assert tampered.request("GET", "/desk/")[0] == 303
    # Sam signs in, signs out; his old cookie is worth nothing afterwards.
    sam = desk.browser()
    sam.sign_in("sam@example.org", PASSWORD + " too")
    old = dict(sam.cookies)
    assert sam.request("POST", "/desk/logout", {"csrf_token": sam.csrf("/desk/")})[0] == 303
    assert Browser(desk.port, old).request("GET", "/desk/")[0] == 303
    # Eve's session, idle for longer than [web] idle_minutes, has ended.
    with desk.store() as store:
        store.db.execute("UPDATE sessions SET seen_at = '2000-01-01T00:00:00+00:00'")
    assert b.request("GET", "/desk/")[0] == 303


def test_an_approval_of_a_page_that_changed_since_is_refused_and_none_is_lost(
        desk: Desk) -> None:
    eve, sam = desk.browser(), desk.browser()
    eve.sign_in()
    sam.sign_in("sam@example.org", PASSWORD + " too")
    _, _, page = eve.request("GET", f"/desk/{PERIOD}/")
    seen = re.search(r'name="seen" value="([0-9a-f]+)"', page)
    assert seen
    # Sam leaves a summary out while Eve is reading: both changes are kept ...
    assert sam.request("POST", f"/desk/{PERIOD}/edit", {
        "csrf_token": sam.csrf(), "action": "exclude", "summary": first_id(desk)})[0] == 303
    # ... and Eve's approval of what she saw is refused: she is told to look again.
    status, _, page = eve.request("POST", f"/desk/{PERIOD}/approve", {
        "csrf_token": eve.csrf(), "seen": seen.group(1)})
    assert status == 409 and "changed since you loaded it" in page
    with desk.store() as store:
        assert store.issues.approval(PERIOD) is None
    assert eve.request("POST", f"/desk/{PERIOD}/approve", {
        "csrf_token": eve.csrf(), "seen": re.search(
            r'name="seen" value="([0-9a-f]+)"', eve.request("GET", f"/desk/{PERIOD}/")[2]
        ).group(1)})[0] == 303  # type: ignore[union-attr]
    with desk.store() as store:
        approval = store.issues.approval(PERIOD)
        assert approval is not None and approval.by == "Eve (eve@example.org)"


def test_raw_html_and_javascript_links_never_reach_the_intro(desk: Desk) -> None:
    b = desk.browser()
    b.sign_in()
    status, _, page = b.request("POST", f"/desk/{PERIOD}/intro", {
        "csrf_token": b.csrf(), "do": "preview",
        "text": "Hi <script>alert(1)</script> <img src=x onerror=alert(2)> **bold**"})
    assert status == 200 and "<strong>bold</strong>" in page
    assert "<script>alert" not in page and "<img" not in page
    status, _, page = b.request("POST", f"/desk/{PERIOD}/intro", {
        "csrf_token": b.csrf(), "do": "save", "text": "[plain](http://insecure.example.org)"})
    assert status == 400 and "must be absolute https://" in page
    with desk.store() as store:
        assert store.issues.notes(PERIOD).intro == ""
    # A javascript: link is not a link in CommonMark: it stays visible text, never an href.
    assert b.request("POST", f"/desk/{PERIOD}/intro", {
        "csrf_token": b.csrf(), "do": "save", "text": "[click](javascript:alert(1))"})[0] == 303
    _, _, page = b.request("GET", f"/desk/{PERIOD}/")
    assert "javascript:alert(1)" in page and 'href="javascript' not in page


def test_a_store_held_by_a_send_makes_the_page_wait_briefly_and_say_so(desk: Desk) -> None:
    b = desk.browser()
    b.sign_in()
    holder = sqlite3.connect(desk.cfg.store_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # what a send's write looks like to the desk
    try:
        status, headers, page = b.request("GET", f"/desk/{PERIOD}/")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert status == 503 and "busy" in page and headers["retry-after"] == "5"
    assert "Traceback" not in page
    assert b.request("GET", f"/desk/{PERIOD}/")[0] == 200  # and fine once it is done


def test_healthz_answers_when_the_store_does(desk: Desk) -> None:
    b = desk.browser()
    status, headers, body = b.request("GET", "/healthz")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert '"status": "ok"' in body
    desk.cfg.store_path.write_bytes(b"not a database at all" * 100)
    status, _, body = b.request("GET", "/healthz")
    assert status == 503 and '"status": "unavailable"' in body


def test_editors_are_managed_from_the_command_line_with_the_password_on_stdin(
        desk: Desk) -> None:
    def cli(*args: str, given: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "msdigest.cli", "--config",
                               desk.cfg.source, "editors", *args], input=given,
                              capture_output=True, text=True, timeout=60)
    added = cli("add", "Kim@Example.org", "--name", "Kim", "--password-stdin",
                given="a long passphrase here\n")
    assert added.returncode == 0 and "added kim@example.org (Kim)" in added.stdout
    assert cli("add", "lee@example.org", "--password-stdin", given="short\n").returncode == 2
    listed = cli("list")
    assert "kim@example.org" in listed.stdout and "eve@example.org" in listed.stdout
    assert desk.browser().sign_in("kim@example.org", "a long passphrase here")[0] == 303
    with desk.store() as store:
        stored = store.editors.get("kim@example.org")
        assert stored is not None and stored.password_hash.startswith("scrypt$")
        assert "a long passphrase" not in stored.password_hash
    assert cli("remove", "kim@example.org").returncode == 0
    assert desk.browser().sign_in("kim@example.org", "a long passphrase here")[0] == 401
