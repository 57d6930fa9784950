"""Archive: a static web copy of every sent issue, plus an index page.

The email's "View in browser" link points at <archive_url>/<YYYY-MM>.html, so
publishing the folder this writes under [digest] archive_url makes those links work.
Only sent issues are archived, exactly as they went out (their edition is frozen).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .errors import MsdigestError, TemplateError, UsageError
from .issue import draft
from .personal import PLACEHOLDER
from .render import render
from .store import Store
from .templates import pages

log = logging.getLogger(__name__)
PAGE = re.compile(r"(index|\d{4}-(0[1-9]|1[0-2]))\.html")  # the only files it writes


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
    """Whole or not at all: a page being served is never seen half written."""
    part = path.with_name(f".{path.name}.part")
    try:
        part.write_text(text, "utf-8")
        os.replace(part, path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


def after_send(store: Store, cfg: Config) -> str:
    """Rebuild [digest] archive_dir once a send is complete, so the new issue's "View in
    browser" link works. What it did, in words, for the send's run and the log ("" when
    archive_dir is off); a failure is said, not raised: the send itself went well."""
    out = cfg.archive_dir
    if out is None:
        return ""
    try:
        entries = write(store, cfg, out)
    except MsdigestError as exc:
        log.error("archive: not rebuilt in %s: %s", out, exc)
        return f"archive not rebuilt in {out}: {exc}"
    issues = f"{len(entries)} issue{'s' if len(entries) != 1 else ''}"
    log.info("archive: %s in %s", issues, out)
    return f"archive: {issues} in {out}"
