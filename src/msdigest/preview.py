"""Preview: write an issue as editors check it — the email as sent, its text part, and JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Config
from .model import Issue
from .render import GMAIL_CLIP_BYTES, Personal, Rendered, greeting, personalize, render
from .unsubscribe import links

SAMPLE_EMAIL = "subscriber@example.org"
SAMPLE_NAME = "Alex"


@dataclass(frozen=True)
class PreviewFiles:
    html: Path
    text: Path
    json: Path
    html_bytes: int
    warnings: tuple[str, ...]


def issue_json(issue: Issue) -> dict[str, Any]:
    return {
        "period": issue.period,
        "subject": issue.subject,
        "themes": [
            {"id": s.id, "title": s.title, "items": [
                {"id": i.id, "title": i.title, "link": i.link,
                 "published": i.published.isoformat(), "teaser": i.teaser}
                for i in s.items]}
            for s in issue.sections
        ],
    }


def sample(cfg: Config, rendered: Rendered, secret: bytes) -> tuple[str, str]:
    """The all-themes email as a sample subscriber would receive it."""
    lk = links(cfg, secret, SAMPLE_EMAIL)
    return personalize(rendered, Personal(greeting(SAMPLE_NAME), SAMPLE_EMAIL,
                                          lk.unsubscribe, lk.preferences))


def warnings(issue: Issue, html_bytes: int) -> list[str]:
    found = [f"theme {s.title!r} has no summaries this month" for s in issue.sections
             if not s.items]
    if html_bytes >= GMAIL_CLIP_BYTES * 0.9:
        found.append(f"the HTML is {html_bytes / 1024:.0f} KB; Gmail clips messages over "
                     f"{GMAIL_CLIP_BYTES // 1024} KB")
    return found


def write(cfg: Config, issue: Issue, out: Path, secret: bytes) -> PreviewFiles:
    out.mkdir(parents=True, exist_ok=True)
    page, text = sample(cfg, render(cfg, issue, preview=True), secret)
    paths = out / "issue.html", out / "issue.txt", out / "issue.json"
    paths[0].write_text(page, "utf-8")
    paths[1].write_text(text, "utf-8")
    paths[2].write_text(json.dumps(issue_json(issue), indent=2, ensure_ascii=False) + "\n",
                        "utf-8")
    size = len(page.encode("utf-8"))
    return PreviewFiles(*paths, size, tuple(warnings(issue, size)))
