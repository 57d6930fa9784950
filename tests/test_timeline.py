"""A schedule that waits for the editor (timeline.tick), with a real SMTP server and store:
the draft mailed to editors before the send, a reminder, an unapproved send retried until
it is approved, a give-up, the report after the send, and late summaries held over."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from msdigest import accounts, editorial, timeline
from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.editorial import ApprovalState, standing
from msdigest.issue import draft
from msdigest.period import Period
from msdigest.store import Store
from msdigest.subscribers import import_file

from .conftest import REPO, SECRET, SmtpServer, rss

PERIOD = Period(2026, 10)
BEFORE_REVIEW = datetime(2026, 10, 27, 10, tzinfo=UTC)  # the send: 1 November, 09:00
IN_REVIEW = datetime(2026, 10, 29, 10, tzinfo=UTC)
DAY_BEFORE = datetime(2026, 10, 31, 10, tzinfo=UTC)
EDITORS = ["eve@example.org", "sam@example.org"]


@dataclass
class World:
    cfg: Config
    store: Store
    smtp: SmtpServer

    def mail_to_editors(self) -> list[str]:
        return [r.message["Subject"] for r in self.smtp.handler.received
                if r.recipients[0] in EDITORS]

    def issue_mail(self) -> list[str]:
        return [r.recipients[0] for r in self.smtp.handler.received
                if r.recipients[0] not in EDITORS]


@pytest.fixture
def world(make_config: Callable[..., Config], smtp_server: SmtpServer) -> Iterator[World]:
    cfg = make_config(smtp=smtp_server, digest={"require_approval": True},
                      schedule={"send": "0 9 1 * *", "timezone": "UTC", "review_days": 3,
                                "give_up_days": 7})
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
        for email in EDITORS:
            accounts.add(store, email, email.split("@")[0].title(), "a long enough password")
        yield World(cfg, store, smtp_server)


def tick(w: World, now: datetime) -> list[timeline.Outcome]:
    return timeline.tick(w.store, w.cfg, now, SECRET)


def test_editors_get_the_draft_before_the_send_and_one_reminder_the_day_before(
        world: World) -> None:
    tick(world, BEFORE_REVIEW)
    assert world.mail_to_editors() == []
    tick(world, IN_REVIEW)
    tick(world, IN_REVIEW + timedelta(hours=1))  # once, not at every collect
    review = world.mail_to_editors()
    assert review == ["[MS Research Digest] The October 2026 issue is ready for review"] * 2
    body = world.smtp.handler.received[0].message.get_content()
    assert "holds 8 summaries" in body and "/desk/2026-10/" in body
    tick(world, DAY_BEFORE)
    tick(world, DAY_BEFORE + timedelta(hours=3))
    reminders = [s for s in world.mail_to_editors() if "Reminder" in s]
    assert reminders == ["[MS Research Digest] Reminder: the October 2026 issue is not "
                         "approved yet"] * 2
    assert world.issue_mail() == []  # nothing goes to subscribers before the send time


def test_an_issue_approved_after_its_send_time_goes_out_at_the_next_collect(
        world: World) -> None:
    refused = timeline.send_now(world.store, world.cfg, PERIOD, SECRET)  # 1 Nov, 09:00
    assert refused.outcome == "refused" and "tried again at every collect" in refused.detail
    now = datetime.now(UTC)
    assert tick(world, now) == []  # still waiting: nothing sent, nothing dropped
    assert world.issue_mail() == []
    editorial.approve(world.store, world.cfg, PERIOD, "Eve")
    sent = tick(world, now + timedelta(days=1))
    assert [(o.job, o.outcome) for o in sent] == [("send 2026-10", "ok")]
    assert sorted(world.issue_mail()) == sorted([
        "ana.silva@example.org", "ben.okafor@example.org", "chloe.martin@example.net",
        "dev.patel@example.com", "eva.novak@example.org", "farid.haddad@example.org"])
    report = [s for s in world.mail_to_editors() if "went out" in s]
    assert report == ["[MS Research Digest] The October 2026 issue went out"] * 2
    assert tick(world, now + timedelta(days=2)) == []  # sent: nothing more to do
    assert len(world.issue_mail()) == 6


def test_after_give_up_days_editors_are_told_and_the_send_stops_trying(world: World) -> None:
    timeline.send_now(world.store, world.cfg, PERIOD, SECRET)
    world.store.db.execute("UPDATE notices SET sent_at='2026-11-01T09:00:00+00:00' "
                           "WHERE kind='due'")
    tick(world, datetime(2026, 11, 9, 6, tzinfo=UTC))
    tick(world, datetime(2026, 11, 10, 6, tzinfo=UTC))
    told = [s for s in world.mail_to_editors() if "did not go out" in s]
    assert told == ["[MS Research Digest] The October 2026 issue did not go out"] * 2
    editorial.approve(world.store, world.cfg, PERIOD, "Eve")
    assert tick(world, datetime(2026, 11, 11, 6, tzinfo=UTC)) == []  # given up: by hand now
    assert world.issue_mail() == []


def approved_on_1_november(world: World, cfg: Config) -> None:
    """What was collected by then, approved then (times set back: the test runs today)."""
    world.store.db.execute("UPDATE summaries SET first_seen = '2026-10-31T06:00:00+00:00'")
    editorial.approve(world.store, cfg, PERIOD, "Eve")
    world.store.db.execute("UPDATE approvals SET approved_at = '2026-11-01T00:00:00+00:00'")


def late_summary(world: World, tmp_path: Path) -> str:
    feed = tmp_path / "late.xml"
    feed.write_text(rss([{"title": "Exercise and fatigue, a late arrival",
                          "link": "https://t.example.org/late", "guid": "late-1",
                          "date": "Fri, 30 Oct 2026 09:00:00 GMT",
                          "html": "<p>Aerobic exercise helped.</p>"}]), "utf-8")
    report = collect_feed(world.store, str(feed), world.cfg.base_dir, world.cfg.tz)
    assert report.new == 1
    found = next(s for s in world.store.content.all() if s.guid == "late-1")
    return found.id


def test_a_summary_collected_after_approval_waits_for_the_next_issue(
        world: World, tmp_path: Path) -> None:
    approved_on_1_november(world, world.cfg)
    late = late_summary(world, tmp_path)
    d = draft(world.store, world.cfg, PERIOD)
    assert late not in [i.id for i in d.issue.items] and [p.summary.id for p in d.held] == [late]
    assert standing(world.store, d).state is ApprovalState.APPROVED  # still approved
    timeline.send_now(world.store, world.cfg, PERIOD, SECRET)
    assert late not in [i.id for i in draft(world.store, world.cfg, PERIOD).issue.items]
    november = draft(world.store, world.cfg, Period(2026, 11)).issue
    assert late in [i.id for i in november.items]  # dated October, sent in November


def test_with_late_summaries_reapprove_a_new_summary_undoes_the_approval(
        make_config: Callable[..., Config], world: World, tmp_path: Path) -> None:
    cfg = make_config(smtp=world.smtp, digest={"require_approval": True,
                                               "late_summaries": "reapprove"})
    approved_on_1_november(world, cfg)
    late = late_summary(world, tmp_path)
    d = draft(world.store, cfg, PERIOD)
    assert late in [i.id for i in d.issue.items] and d.held == ()
    assert standing(world.store, d).state is ApprovalState.CHANGED
