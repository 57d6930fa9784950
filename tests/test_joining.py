"""Joining by oneself (`msdigest web` /subscribe and /confirm), consent kept, and what the
command line holds and erases — with a real SMTP server, real HTTP and real SQLite."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

import pytest

from msdigest import signup
from msdigest.config import Config
from msdigest.model import SubscriberStatus
from msdigest.store import Store
from msdigest.subscribers import import_file
from msdigest.web import app

from .conftest import REPO, SECRET, SmtpServer
from .test_desk_web import Browser

CONSENT = "I would like the monthly digest by email. I can unsubscribe at any time with " \
          "the link in every email."


@dataclass
class Site:
    cfg: Config
    port: int
    smtp: SmtpServer

    def browser(self) -> Browser:
        return Browser(self.port)

    def store(self) -> Store:
        return Store.open(self.cfg.store_path)

    def confirmations(self, to: str) -> list[str]:
        """The confirmation links mailed to this address, as paths on this server."""
        links = []
        for received in self.smtp.handler.to(to):
            text = received.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            found = re.search(r"https://\S+/confirm\?t=\S+", text)
            assert found, text
            parts = urlsplit(found.group(0))
            links.append(f"{parts.path.removeprefix('/digest')}?{parts.query}")
        return links


@pytest.fixture
def site(make_config: Callable[..., Config], smtp_server: SmtpServer) -> Iterator[Site]:
    cfg = make_config(smtp=smtp_server, subscribe={"confirm_hours": 72, "per_ip_per_hour": 5})
    with Store.open(cfg.store_location) as store:
        import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
    server = app.server(cfg, SECRET, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(cfg, server.server_port, smtp_server)
    server.shutdown()
    thread.join(10)


def join(site: Site, email: str, *themes: str, name: str = "", **extra: str
         ) -> tuple[int, str]:
    fields = [("email", email), ("name", name), *(("theme", t) for t in themes),
              *extra.items()]
    status, _, page = _post(site.browser(), "/subscribe", urlencode(fields))
    return status, page


def _post(b: Browser, path: str, body: str) -> tuple[int, dict[str, str], str]:
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=30)
    conn.request("POST", path, body=body.encode(), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": "https://summaries.example.org"})  # a form on the publisher's own site
    resp = conn.getresponse()
    return resp.status, dict(resp.getheaders()), resp.read().decode()


def test_a_sign_up_is_only_a_request_until_the_confirmation_button(site: Site) -> None:
    status, page = join(site, "Zoe@Example.org", "exercise", "biomarkers", "sleep",
                        name="Zoë")
    assert status == 200 and "Check your inbox" in page
    with site.store() as store:
        assert store.subscribers.get("zoe@example.org") is None  # not yet
    [link] = site.confirmations("zoe@example.org")
    mail = site.smtp.handler.to("zoe@example.org")[0].message
    assert mail.get_content_type() == "multipart/alternative"
    assert "Exercise and rehabilitation, Biomarkers and monitoring" in \
        mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    status, _, page = site.browser().request("GET", link)  # what a mail scanner does
    assert status == 200 and "Yes, subscribe me" in page
    with site.store() as store:
        assert store.subscribers.get("zoe@example.org") is None
    token = urlsplit(link).query.removeprefix("t=")
    status, _, page = _post(site.browser(), "/confirm", f"t={token}")
    assert status == 200 and "You are subscribed" in page
    with site.store() as store:
        zoe = store.subscribers.record("zoe@example.org")
        assert zoe is not None and zoe.subscriber.status is SubscriberStatus.ACTIVE
        assert zoe.subscriber.themes == ("exercise", "biomarkers")  # "sleep" never stored
        assert zoe.subscriber.name == "Zoë" and zoe.joined_via == "form"
        assert zoe.confirmed_at is not None
        assert store.signups.consent_text(zoe.consent_version) == CONSENT
        assert [e.event for e in store.subscribers.events("zoe@example.org")] == [
            "joined", "confirmed"]
    assert _post(site.browser(), "/confirm", f"t={token}")[0] == 400  # used once


def test_the_form_answers_the_same_for_a_known_address_and_reveals_nobody(site: Site) -> None:
    known = join(site, "ana.silva@example.org")
    unknown = join(site, "new.reader@example.org")
    assert known[0] == unknown[0] == 200
    assert known[1] == unknown[1]


def test_an_invalid_address_is_said_next_to_the_field_and_nothing_is_sent(site: Site) -> None:
    status, page = join(site, "not-an-address")
    assert status == 400 and 'aria-invalid="true"' in page and "email-problem" in page
    assert "not an email address we can send to" in page
    assert site.smtp.handler.received == []


def test_a_script_that_fills_the_hidden_field_gets_the_same_page_and_no_mail(
        site: Site) -> None:
    status, page = join(site, "bot@example.org", website="https://spam.example")
    assert status == 200 and "Check your inbox" in page
    assert site.smtp.handler.received == []


def test_one_confirmation_per_address_per_window_and_a_limit_per_network(site: Site) -> None:
    for _ in range(3):
        assert join(site, "flood@example.org")[0] == 200
    assert len(site.smtp.handler.to("flood@example.org")) == 1
    for i in range(5):  # per_ip_per_hour = 5, the three above included
        join(site, f"reader{i}@example.org")
    status, page = join(site, "one.more@example.org")
    assert status == 429 and "too many sign-ups from your network" in page.lower()
    assert not site.smtp.handler.to("one.more@example.org")


def test_expired_and_tampered_links_are_refused_with_a_clear_page(site: Site) -> None:
    join(site, "late@example.org")
    [link] = site.confirmations("late@example.org")
    token = urlsplit(link).query.removeprefix("t=")
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    status, _, page = _post(site.browser(), "/confirm", f"t={tampered}")
    assert status == 400 and "This link does not work" in page and "not valid" in page
    with site.store() as store:  # four days later
        later = datetime.now(UTC) + timedelta(hours=73)
        with pytest.raises(Exception, match="expired"):
            signup.confirm(store, site.cfg, SECRET, token, later)
        assert store.subscribers.get("late@example.org") is None
        assert store.signups.get("late@example.org") is None  # dropped


def test_a_body_over_the_limit_is_413(site: Site) -> None:
    status, _, _ = _post(site.browser(), "/subscribe", "email=" + "a" * 70_000)
    assert status == 413


def cli(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", site.cfg.source,
                           "subscribers", *args], capture_output=True, text=True, timeout=60)


def test_show_export_remove_round_trip_and_a_removed_address_stays_out(site: Site) -> None:
    join(site, "kim@example.org", "therapies", name="Kim")
    token = urlsplit(site.confirmations("kim@example.org")[0]).query.removeprefix("t=")
    _post(site.browser(), "/confirm", f"t={token}")
    shown = cli(site, "show", "kim@example.org")
    assert shown.returncode == 0
    for expected in ("joined_via       form", "themes           therapies", CONSENT,
                     "confirmed consent"):
        assert expected in shown.stdout, shown.stdout
    exported = json.loads(cli(site, "export", "--format", "json").stdout)
    kim = next(r for r in exported if r["email"] == "kim@example.org")
    assert kim["consent_text"] == CONSENT and kim["joined_via"] == "form"
    assert {r["email"] for r in exported} >= {"ana.silva@example.org", "grace.lee@example.com"}
    only = json.loads(cli(site, "export", "--format", "json", "--status", "unsubscribed").stdout)
    assert [r["email"] for r in only] == ["grace.lee@example.com"]
    assert cli(site, "remove", "ana.silva@example.org").returncode == 0
    with site.store() as store:
        assert store.subscribers.get("ana.silva@example.org") is None
        assert store.subscribers.events("ana.silva@example.org") == []
        rows = store.db.all("SELECT * FROM suppressed")
        assert len(rows) == 1 and "ana" not in rows[0]["hash"]  # a hash, not the address
    again = subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", site.cfg.source,
                            "subscribers", "import", str(REPO / "subscribers.example.csv")],
                           capture_output=True, text=True, timeout=60)
    assert "suppressed: ana.silva@example.org was erased at their request" in again.stdout
    with site.store() as store:
        assert store.subscribers.get("ana.silva@example.org") is None
    listed = cli(site, "list", "--unsubscribed-since", "2000-01-01")
    assert "form" in listed.stdout and listed.returncode == 0
