"""Archive: a static web copy of every sent issue, plus an index page.

The email's "View in browser" link points at <archive_url>/<YYYY-MM>.html, so
publishing the folder this writes under [digest] archive_url makes those links work.
Only sent issues are archived, exactly as they went out (their edition is frozen).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .errors import TemplateError, UsageError
from .issue import draft
from .personal import PLACEHOLDER
from .render import render
from .store import Store
from .templates import pages


@dataclass(frozen=True)
class Entry:
    period: str
    month: str
    subject: str
    count: int
    file: str


def write(store: Store, cfg: Config, out: Path) -> list[Entry]:
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is not a folder; give --out a folder for the archive")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the archive folder {out}: {exc.strerror}") from None
    entries = []
    for period in store.issues.frozen_periods():
        edition = draft(store, cfg, period).edition
        page = render(edition, web=True).html
        leftover = [t for t in PLACEHOLDER.values() if t in page]
        if leftover:  # a template that shows personal fields on the web would leak them
            raise TemplateError(f"the archive copy of {period} still has {leftover[0]}; "
                                "personal fields belong inside {% if not web %}")
        name = f"{period}.html"
        _write(out / name, page)
        issue = edition.issue
        entries.append(Entry(str(period), issue.month, issue.subject, issue.count, name))
    entries.sort(key=lambda e: e.period, reverse=True)
    index = pages(cfg).get_template("archive.html.j2").render(site=cfg.site, entries=entries)
    _write(out / "index.html", index)
    return entries


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, "utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
