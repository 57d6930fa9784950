"""Archive: a static web copy of every sent issue, plus an index page.

The email's "View in browser" link points at <archive_url>/<YYYY-MM>.html, so
publishing the folder this writes under [digest] archive_url makes those links work.
Only sent issues are archived, exactly as they went out (their content is frozen).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .compose import compose
from .config import Config
from .render import PLACEHOLDER, environment, render
from .store import Store


@dataclass(frozen=True)
class Entry:
    period: str
    month: str
    subject: str
    count: int
    file: str


def write(store: Store, cfg: Config, out: Path) -> list[Entry]:
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for period in store.issues():
        issue = compose(store, cfg, period)
        page = render(cfg, issue, web=True).html
        leftover = [t for t in PLACEHOLDER.values() if t in page]
        if leftover:  # a template that shows personal fields on the web would leak them
            raise ValueError(f"the archive copy of {period} still has {leftover[0]}; "
                             "personal fields belong inside {% if not web %}")
        name = f"{period}.html"
        (out / name).write_text(page, "utf-8")
        entries.append(Entry(period, issue.month, issue.subject, issue.count, name))
    entries.sort(key=lambda e: e.period, reverse=True)
    index = environment(cfg).get_template("archive.html.j2").render(site=cfg.site,
                                                                    entries=entries)
    (out / "index.html").write_text(index, "utf-8")
    return entries
