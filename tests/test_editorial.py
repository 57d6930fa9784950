"""The editor's desk: changes stored with the issue, test sends, approval before sending."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from msdigest import editorial
from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.delivery.send import send, send_test
from msdigest.errors import EditError, IssueFrozen, NotApproved
from msdigest.issue import draft
from msdigest.period import Period
from msdigest.sanitize import intro_html, intro_text
from msdigest.store import Store
from msdigest.subscribers import import_file

from .conftest import REPO, SECRET, SmtpServer
from .conftest import issue_of as compose

PERIOD = Period(2026, 10)


@pytest.fixture
def desk(make_config: Callable[..., Config], smtp_server: SmtpServer
         ) -> tuple[Config, Store]:
    cfg = make_config(smtp=smtp_server, digest={"require_approval": True})
    store = Store.open(cfg.store_location)
    collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
    import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
    return cfg, store


def ids(issue) -> list[str]:  # type: ignore[no-untyped-def]
    return [i.id for s in issue.sections for i in s.items]


def section_of(issue, item_id: str) -> str:  # type: ignore[no-untyped-def]
    return next(s.id for s in issue.sections for i in s.items if i.id == item_id)


def test_exclude_restore_move_pin(desk: tuple[Config, Store]) -> None:
    cfg, store = desk
    before = compose(store, cfg, PERIOD)
    therapies = [i.id for i in before.sections[3].items]
    exercise = [i.id for i in before.sections[1].items]
    editorial.exclude(store, cfg, PERIOD, therapies[0][:6])  # a prefix is enough
    assert therapies[0] not in ids(compose(store, cfg, PERIOD))
    left_out = draft(store, cfg, PERIOD).excluded
    assert [p.summary.id for p in left_out] == [therapies[0]]
    editorial.exclude(store, cfg, PERIOD, therapies[0], out=False)
    assert ids(compose(store, cfg, PERIOD)) == ids(before)
    editorial.move(store, cfg, PERIOD, exercise[0], "other")
    assert section_of(compose(store, cfg, PERIOD), exercise[0]) == "other"
    editorial.pin(store, cfg, PERIOD, exercise[1])
    pinned = compose(store, cfg, PERIOD).sections[1]
    assert pinned.items[0].id == exercise[1] and pinned.items[0].pinned
    # The changes are stored with the issue: another collect does not undo them.
    collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
    assert section_of(compose(store, cfg, PERIOD), exercise[0]) == "other"


def test_bad_edits_say_what_to_do(desk: tuple[Config, Store]) -> None:
    cfg, store = desk
    with pytest.raises(EditError, match="no summary 'zzz' in the 2026-10 issue"):
        editorial.exclude(store, cfg, PERIOD, "zzz")
    first = ids(compose(store, cfg, PERIOD))[0]
    with pytest.raises(EditError, match="no theme 'sleep'; themes are gut_microbiome"):
        editorial.move(store, cfg, PERIOD, first, "sleep")
    with pytest.raises(EditError, match="must be absolute https://"):
        editorial.set_intro(store, PERIOD, "See [this](http://insecure.example.org).")


def test_intro_note_and_subject_override(desk: tuple[Config, Store]) -> None:
    cfg, store = desk
    editorial.set_intro(store, PERIOD, "A **big** month for [trials](https://t.example.org/x)."
                        "\n\n<script>alert(1)</script>")
    editorial.set_subject(store, cfg, PERIOD, "Your {month} digest: {count} summaries")
    issue = compose(store, cfg, PERIOD)
    assert issue.subject == "Your October 2026 digest: 8 summaries"
    html = intro_html(issue.intro)
    assert "<strong>big</strong>" in html and 'href="https://t.example.org/x"' in html
    assert "<script" not in html
    assert intro_text(issue.intro).startswith("A big month for trials.")


def test_send_refuses_until_approved_and_again_after_a_change(
        desk: tuple[Config, Store], smtp_server: SmtpServer) -> None:
    cfg, store = desk
    with pytest.raises(NotApproved, match="the 2026-10 issue has not been approved"):
        send(store, cfg, PERIOD, SECRET)
    editorial.approve(store, cfg, PERIOD, "Eve")
    editorial.exclude(store, cfg, PERIOD, ids(compose(store, cfg, PERIOD))[0])
    with pytest.raises(NotApproved, match="changed after Eve approved it"):
        send(store, cfg, PERIOD, SECRET)
    assert smtp_server.handler.received == [] and store.ledger.counts(PERIOD) == {}
    _, digest = editorial.approve(store, cfg, PERIOD, "Eve")
    approval = store.issues.approval(PERIOD)
    assert approval is not None and (approval.content_hash, approval.by) == (digest, "Eve")
    report = send(store, cfg, PERIOD, SECRET)
    # The excluded summary was October's only gut microbiome one: Dev, who follows only
    # that theme, is recorded as having nothing this month.
    assert (report.sent, report.skipped) == (5, 1)
    # Sent: the issue is frozen and can no longer be edited.
    with pytest.raises(IssueFrozen, match="already been sent"):
        editorial.pin(store, cfg, PERIOD, ids(compose(store, cfg, PERIOD))[0])


def test_send_test_goes_only_to_the_given_addresses_and_is_not_recorded(
        desk: tuple[Config, Store], smtp_server: SmtpServer) -> None:
    cfg, store = desk
    results = send_test(store, cfg, PERIOD, SECRET, ["editor@example.org",
                                                    "ben.okafor@example.org"])
    assert results == [("editor@example.org", "sent"), ("ben.okafor@example.org", "sent")]
    got = {r.recipients[0]: r.message for r in smtp_server.handler.received}
    assert set(got) == {"editor@example.org", "ben.okafor@example.org"}
    assert got["editor@example.org"]["Subject"].startswith("[TEST] MS Research Digest")
    # A subscriber sees their own themes; anyone else sees the whole issue.
    assert "Gut microbiome" not in got["ben.okafor@example.org"].get_body(
        ("html",)).get_content()  # type: ignore[union-attr]
    assert store.ledger.counts(PERIOD) == {} and not store.issues.is_frozen(PERIOD)
    again = send_test(store, cfg, PERIOD, SECRET, ["editor@example.org"])
    assert again == [("editor@example.org", "sent")]  # as often as the editor likes
    ids_seen = {r.message["Message-ID"] for r in smtp_server.handler.to("editor@example.org")}
    assert len(ids_seen) == 2  # test copies do not thread into one


def test_issue_commands_and_exit_code_for_an_unapproved_send(
        desk: tuple[Config, Store]) -> None:
    cfg, store = desk
    first = ids(compose(store, cfg, PERIOD))[0]
    env = {**os.environ, "MSDIGEST_SECRET": SECRET.decode()}

    def run(*args: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", cfg.source,
                               *map(str, args)], capture_output=True, text=True, env=env,
                              timeout=60)

    assert run("issue", "exclude", "--period", PERIOD, first).returncode == 0
    shown = run("issue", "show", "--period", PERIOD)
    assert "excluded (msdigest issue restore" in shown.stdout and first in shown.stdout
    assert "not approved yet" in shown.stdout
    refused = run("send", "--period", PERIOD)
    assert refused.returncode == 4
    assert "has not been approved" in refused.stderr
    approved = run("approve", "--period", PERIOD, "--by", "Eve")
    assert approved.returncode == 0 and "approved the 2026-10 issue (7 summaries" in \
        approved.stdout
    assert "approved by Eve" in run("issue", "show", "--period", PERIOD).stdout
    changed = run("issue", "restore", "--period", PERIOD, first)
    assert "approve it again before sending" in changed.stdout

