"""Preview: an issue as editors check it — the email as a sample subscriber gets it,
its text part, and JSON — as files (`preview --out`) or for the desk."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .compose import Placed
from .config import Config
from .errors import UsageError
from .model import Edition, Issue
from .personal import Personal, greeting, personalize
from .render import GMAIL_CLIP_BYTES, render
from .unsubscribe import Signer

SAMPLE_EMAIL = "subscriber@example.org"
SAMPLE_NAME = "Alex"


@dataclass(frozen=True)
class PreviewFiles:
    html: Path
    text: Path
    json: Path
    html_bytes: int
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Contents:
    """What the three preview files hold."""

    html: str
    text: str
    json: str

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))


def issue_json(issue: Issue) -> dict[str, Any]:
    return {
        "period": str(issue.period),
        "subject": issue.subject,
        "themes": [
            {"id": s.id, "title": s.title, "items": [
                {"id": i.id, "title": i.title, "link": i.link,
                 "published": i.published.isoformat(), "teaser": i.teaser}
                for i in s.items]}
            for s in issue.sections
        ],
    }


def contents(edition: Edition, signer: Signer) -> Contents:
    """The all-themes email as a sample subscriber would receive it."""
    rendered = render(edition)
    lk = signer.links(SAMPLE_EMAIL)
    page, text = personalize(rendered.html, rendered.text, Personal(
        greeting(SAMPLE_NAME), SAMPLE_EMAIL, lk.unsubscribe, lk.preferences))
    return Contents(page, text,
                    json.dumps(issue_json(edition.issue), indent=2, ensure_ascii=False) + "\n")


def warnings(issue: Issue, html_bytes: int) -> list[str]:
    found = [f"theme {s.title!r} has no summaries this month" for s in issue.sections
             if not s.items]
    if html_bytes >= GMAIL_CLIP_BYTES * 0.9:
        found.append(f"the HTML is {html_bytes / 1024:.0f} KB; Gmail clips messages over "
                     f"{GMAIL_CLIP_BYTES // 1024} KB")
    return found


def review(chosen: Iterable[Placed], cfg: Config) -> list[str]:
    """The theme decisions an editor should check: weak matches and close calls, each with
    the runner-up and the command that explains it."""
    titles = {t.id: t.title for t in cfg.themes}
    found = []
    for p in chosen:
        why = "weak theme match" if p.weak else "close call" if p.review else ""
        if why:
            found.append(f"{why}: {p.summary.id} {p.summary.title!r} is under "
                         f"{titles[p.theme]!r} by a margin of {p.margin:.2f}; the runner-up "
                         f"is {titles.get(p.runner_up, p.runner_up)!r} (`msdigest themes "
                         f"explain {p.summary.id}`)")
    return found


def write(edition: Edition, out: Path, signer: Signer, checks: Iterable[str] = ()
          ) -> PreviewFiles:
    """issue.html, issue.txt and issue.json in `out` (private: the links are signed);
    `checks` are the theme decisions to review, added to the warnings."""
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        made = contents(edition, signer)
        paths = out / "issue.html", out / "issue.txt", out / "issue.json"
        for path, body in zip(paths, (made.html, made.text, made.json), strict=True):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body)
    except OSError as exc:
        raise UsageError(f"cannot write the preview into {out}: {exc.strerror}") from None
    return PreviewFiles(*paths, made.html_bytes,
                        (*warnings(edition.issue, made.html_bytes), *checks))
