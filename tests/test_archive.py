"""`msdigest archive`: a static web copy of every sent issue, where "View in browser" points."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.delivery.send import send
from msdigest.period import Period
from msdigest.personal import PLACEHOLDER
from msdigest.store import Store
from msdigest.subscribers import import_file

from .conftest import REPO, SECRET, SmtpServer


def test_archive_has_every_sent_issue_and_an_index(
        make_config: Callable[..., Config], smtp_server: SmtpServer, tmp_path: Path) -> None:
    cfg = make_config(smtp=smtp_server)
    with Store.open(cfg.store_path) as store:
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
