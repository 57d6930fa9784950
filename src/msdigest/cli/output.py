"""What the command line prints: plain lines, errors, tables, progress bars, reports."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ..delivery.report import Report
from ..errors import Exit

console = Console(stderr=False, highlight=False)
errors = Console(stderr=True, highlight=False)


def say(text: str) -> None:
    """A plain line on stdout: no markup, no re-wrapping (paths and URLs stay whole)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def note(text: str) -> None:
    """A plain line on stderr."""
    errors.print(text, markup=False, highlight=False, soft_wrap=True)


def fail(message: str, code: int = Exit.ERROR) -> int:
    errors.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False,
                 soft_wrap=True)
    return int(code)


def table(title: str | None, columns: Iterable[str], rows: Iterable[Iterable[str]]) -> None:
    t = Table(*columns, title=title)
    for row in rows:
        t.add_row(*row)
    console.print(t)


class RateColumn(ProgressColumn):
    """Items per second, for watching a send."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f}/s" if task.speed else "", style="progress.data.speed")


def progress_bar() -> Progress:
    """A bar on stderr when it is a terminal; silent in logs and CI."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    RateColumn(), TimeRemainingColumn(), console=errors,
                    disable=not errors.is_terminal)


class BarProgress:
    """A send's progress on a rich bar: the total is known once the ledger is opened."""

    def __init__(self, bar: Progress, description: str) -> None:
        self.bar = bar
        self.task = bar.add_task(description, total=None)

    def start(self, total: int, done: int) -> None:
        self.bar.update(self.task, total=total, completed=done)

    def advance(self, n: int = 1) -> None:
        self.bar.advance(self.task, n)


def print_report(report: Report) -> None:
    rows = []
    for label, n in (("sent now", report.sent), ("done before", report.already),
                     ("nothing in their themes", report.skipped),
                     ("failed (permanent)", report.failed),
                     ("deferred (will retry)", report.deferred),
                     ("not attempted yet", report.remaining),
                     ("possibly duplicated", report.duplicates),
                     ("marked bounced", report.bounced)):
        if n or label == "sent now":
            rows.append((label, f"{n:,}"))
    if report.seconds >= 1 and report.sent:
        rows.append(("rate", f"{report.rate:,.0f} messages/s over {report.seconds:,.1f} s"))
    table(f"issue {report.period}", ("", "subscribers"), rows)
    for email, reason in report.failures:
        say(f"  {email}: {reason}")
    if report.stopped:
        note(f"stopped: {report.stopped}")


def program() -> str:
    """How the user called us, for commands to copy."""
    return sys.argv[0] if Path(sys.argv[0]).name == "msdigest" else "msdigest"
