"""An issue frozen for real: once its first message goes out, a resumed send delivers the
same content — whatever a later collect, a config change or an edited template says."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from aiosmtpd.smtp import Envelope

from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.delivery.send import send
from msdigest.issue import draft
from msdigest.model import Subscriber, SubscriberStatus
from msdigest.period import Period
from msdigest.records import DeliveryState
from msdigest.store import Store

from .conftest import REPO, SECRET, SmtpServer, rss

pytestmark = pytest.mark.both_stores  # the whole file again on PostgreSQL

PERIOD = Period(2026, 10)
MARKER = "THIS TEMPLATE CHANGED AFTER THE FIRST MESSAGE"


def everyone(store: Store, n: int) -> None:
    for i in range(n):
        store.subscribers.put(Subscriber(f"r{i:03d}@example.org", f"R {i}", (),
                                         SubscriberStatus.ACTIVE), "test")


def test_a_resumed_send_delivers_the_content_frozen_at_the_first_message(
        make_config: Callable[..., Config], smtp_server: SmtpServer, tmp_path: Path) -> None:
    cfg = make_config(smtp=smtp_server, smtp_extra={"concurrency": 1})
    store = Store.open(cfg.store_location)
    collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
    everyone(store, 12)
    target = draft(store, cfg, PERIOD).issue.items[0]
    summary = store.content.get(target.id)
    assert summary is not None

    # The first part of the send: stopped once three messages are in.
    stop = threading.Event()

    def stop_after_three(envelope: Envelope) -> None:
        if len(smtp_server.handler.received) >= 3:
            stop.set()
    smtp_server.handler.data_reply = stop_after_three  # type: ignore[assignment]
    first = send(store, cfg, PERIOD, SECRET, stop=stop)
    assert first.interrupted and 0 < first.sent < 12

    # Then the world moves on: the feed corrects the title, the editor shortens teasers
    # and changes the template.
    feed = tmp_path / "corrected.xml"
    feed.write_text(rss([{"title": "A corrected title", "link": summary.link,
                          "guid": summary.guid, "date": "Thu, 01 Oct 2026 09:00:00 GMT",
                          "html": summary.html}]), "utf-8")
    assert collect_feed(store, str(feed), cfg.base_dir, cfg.tz).updated == 1
    own = tmp_path / "own-templates"
    own.mkdir()
    bundled = (REPO / "templates" / "email.html.j2").read_text("utf-8")
    (own / "email.html.j2").write_text(bundled.replace("<body", f"<body data-x=\"{MARKER}\"", 1)
                                       .replace("Read more</a>", f"{MARKER}</a>"), "utf-8")
    later = make_config(smtp=smtp_server, smtp_extra={"concurrency": 1},
                        digest={"require_approval": False, "teaser_chars": 40,
                                "templates": str(own)},
                        site={"name": "Renamed Digest", "postal_address": "Elsewhere 9"})
    assert draft(store, later, Period(2026, 11)).edition.look != \
        draft(store, later, PERIOD).edition.look  # the new look is in force for new issues

    smtp_server.handler.data_reply = None
    rest = send(store, later, PERIOD, SECRET)
    assert rest.sent + first.sent == 12 and rest.complete
    assert store.ledger.counts(PERIOD) == {DeliveryState.SENT: 12}
    bodies = [r.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
              for r in smtp_server.handler.received]
    assert len(bodies) == 12
    for received in smtp_server.handler.received:  # the sender too, as frozen
        assert received.message["From"] == cfg.site.sender
        assert "Renamed Digest" not in received.message["List-Id"]
    for html in bodies:
        assert "Renamed Digest" not in html and "Elsewhere 9" not in html
        assert target.title in html and "A corrected title" not in html
        assert target.teaser in html  # cut at 220 characters, as frozen
        assert MARKER not in html
    # The frozen issue is what every later view shows too.
    assert draft(store, later, PERIOD).issue.items[0].title == target.title
    store.close()
