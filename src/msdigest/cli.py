"""The `msdigest` command: one subcommand per job an editor or operator does."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler
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

from . import __version__, archive, editorial, preview, schedule
from . import config as config_mod
from .collect import FeedReport, collect_feed
from .compose import Draft, PeriodError, compose, draft, parse_period
from .config import Config, ConfigError
from .deliver import DeliveryError, Report, dry_run, send, send_test
from .editorial import EditError, NotApproved
from .store import Store
from .subscribers import CsvError, import_file
from .themes import explain
from .unsubscribe import ephemeral_secret

OK, ERROR, USAGE, PARTIAL, REFUSED, INTERRUPTED = 0, 1, 2, 3, 4, 130

EPILOG = """\
exit codes:
  0    done, nothing to report
  1    failed: nothing was done (the message says why)
  2    bad command line or config file (the message names the key and file)
  3    done in part: some feeds, rows or messages had problems (listed above);
       the rest went through, and running the command again is safe
  4    refused: the issue is not approved, or changed since it was approved
  130  interrupted (Ctrl-C); running the command again resumes

config: --config PATH, else $MSDIGEST_CONFIG, else ./digest.toml, else the embedded
defaults (see digest.example.toml). Secrets come only from the environment:
MSDIGEST_SMTP_PASSWORD (SMTP login) and MSDIGEST_SECRET (signs unsubscribe links).

typical month:
  msdigest collect                          # also runs daily under `msdigest run`
  msdigest preview --period 2026-07 --out preview/     # or --serve
  msdigest issue exclude --period 2026-07 3f9c2a       # editorial changes, if any
  msdigest send-test --period 2026-07 --to editor@example.org
  msdigest approve --period 2026-07 --by "Editor Name"
  msdigest send --period 2026-07
"""

console = Console(stderr=False, highlight=False)
errors = Console(stderr=True, highlight=False)


def say(text: str) -> None:
    """A plain line on stdout: no markup, no re-wrapping (paths and URLs stay whole)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def fail(message: str, code: int = ERROR) -> int:
    errors.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False,
                 soft_wrap=True)
    return code


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
    """deliver.Progress on a rich bar: the total is known once the ledger is opened."""

    def __init__(self, bar: Progress, description: str) -> None:
        self.bar = bar
        self.task = bar.add_task(description, total=None)

    def start(self, total: int, done: int) -> None:
        self.bar.update(self.task, total=total, completed=done)

    def advance(self, n: int = 1) -> None:
        self.bar.advance(self.task, n)


# --- commands ---------------------------------------------------------------------------


def cmd_collect(cfg: Config, args: argparse.Namespace) -> int:
    urls = args.feed or [f.url for f in cfg.feeds]
    reports: list[FeedReport] = []
    with Store.open(cfg.store_path) as store, progress_bar() as bar:
        task = bar.add_task("collecting", total=len(urls))
        for url in urls:
            reports.append(collect_feed(store, url, cfg.base_dir, cfg.tz))
            bar.advance(task)
        total = store.count_summaries()
    for r in reports:
        if r.error:
            say(f"{r.feed}: FAILED — {r.error}")
        elif r.not_modified:
            say(f"{r.feed}: not modified since the last collect")
        else:
            line = (f"{r.feed}: {r.new} new, {r.updated} updated, {r.unchanged} unchanged, "
                    f"{len(r.skipped)} skipped")
            say(line)
            for s in r.skipped:
                say(f"  skipped {s.entry}: {s.reason}")
            for w in r.warnings:
                say(f"  warning: {w}")
    say(f"store {cfg.store_path}: {total} summaries")
    return PARTIAL if any(r.error for r in reports) else OK


def cmd_themes(cfg: Config, args: argparse.Namespace) -> int:
    if args.action == "list":
        table = Table("id", "title", "terms")
        for t in cfg.themes:
            terms = ", ".join([*t.terms, *(f"{x} (exact)" for x in t.exact)])
            table.add_row(t.id, t.title, terms or "(catch-all: summaries matching no theme)")
        console.print(table)
        return OK
    with Store.open(cfg.store_path) as store:
        summary = store.summary(args.id)
        if summary is None:
            matches = [s for s in store.summaries() if s.id.startswith(args.id)]
            if len(matches) != 1:
                return fail(f"no summary with id {args.id!r} in {cfg.store_path} "
                            "(ids are listed in issue.json)")
            summary = matches[0]
    say(explain(summary, cfg.themes))
    return OK


def _secret_or_throwaway() -> bytes:
    """The signing key; for previews and tests a throwaway one will do (with a note)."""
    secret = config_mod.secret()
    if secret is None:
        errors.print(f"note: {config_mod.ENV_SECRET} is not set; links are signed with a "
                     "throwaway key and will not work", markup=False)
        return ephemeral_secret()
    return secret


def cmd_preview(cfg: Config, args: argparse.Namespace) -> int:
    parse_period(args.period)
    if args.serve:
        try:
            preview.serve(cfg, args.period, _secret_or_throwaway(), args.host, args.port,
                          announce=say)
        except OSError as exc:
            return fail(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}")
        return OK
    if not args.out:
        return fail("preview needs --out DIR (files) or --serve (a page to check)", USAGE)
    with Store.open(cfg.store_path) as store:
        issue = compose(store, cfg, args.period)
    files = preview.write(cfg, issue, Path(args.out), _secret_or_throwaway())
    table = Table("theme", "summaries", title=issue.subject)
    for s in issue.sections:
        table.add_row(s.title, str(len(s.items)))
    console.print(table)
    say(f"wrote {files.html} ({files.html_bytes / 1024:.0f} KB), {files.text}, {files.json}")
    for w in files.warnings:
        say(f"warning: {w}")
    return OK


def cmd_subscribers(cfg: Config, args: argparse.Namespace) -> int:
    with Store.open(cfg.store_path) as store:
        if args.action == "list":
            table = Table("status", "count")
            for status, n in sorted(store.count_subscribers().items()):
                table.add_row(status, str(n))
            console.print(table)
            return OK
        report = import_file(store, Path(args.file), cfg.theme_ids)
    say(f"{args.file}: {report.new} new, {report.updated} updated, "
                  f"{report.unchanged} unchanged, {len(report.errors)} rejected")
    for e in report.errors:
        say(f"  {args.file}: {e}")
    for email in report.kept_unsubscribed:
        say(f"  kept unsubscribed: {email} opted out through their own link")
    return PARTIAL if report.errors else OK


def print_report(report: Report) -> None:
    table = Table("", "subscribers", title=f"issue {report.period}")
    for label, n in (("sent now", report.sent), ("done before", report.already),
                     ("nothing in their themes", report.skipped),
                     ("failed (permanent)", report.failed),
                     ("deferred (will retry)", report.deferred),
                     ("not attempted yet", report.remaining),
                     ("possibly duplicated", report.duplicates),
                     ("marked bounced", report.bounced)):
        if n or label == "sent now":
            table.add_row(label, f"{n:,}")
    if report.seconds >= 1 and report.sent:
        table.add_row("rate", f"{report.rate:,.0f} messages/s over {report.seconds:,.1f} s")
    console.print(table)
    for email, reason in report.failures:
        say(f"  {email}: {reason}")
    if report.stopped:
        errors.print(f"stopped: {report.stopped}", markup=False)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM ask a send to stop: messages in flight finish and are recorded."""
    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        errors.print(f"\n{signal.Signals(signum).name}: finishing the messages in flight "
                     "(again to abort)", markup=False)
        stop.set()
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def cmd_send(cfg: Config, args: argparse.Namespace) -> int:
    parse_period(args.period)
    secret = _secret_or_throwaway() if args.dry_run else config_mod.secret()
    if secret is None:
        return fail(f"{config_mod.ENV_SECRET} is not set: it signs every unsubscribe link. "
                    "Set it to a long random value and keep it the same between sends.")
    stop = threading.Event()
    with Store.open(cfg.store_path) as store, progress_bar() as bar, stop_on_signals(stop):
        progress = BarProgress(bar, "writing" if args.dry_run else "sending")
        if args.dry_run:
            report = dry_run(store, cfg, args.period, secret, Path(args.outbox), progress)
        else:
            report = send(store, cfg, args.period, secret, progress, stop)
    print_report(report)
    if args.dry_run:
        say(f"dry run: wrote {len(report.written)} .eml files to {args.outbox}; "
                      "nothing was sent or recorded")
    if report.interrupted:
        return INTERRUPTED
    return OK if report.complete and not report.failed else PARTIAL


def cmd_issue(cfg: Config, args: argparse.Namespace) -> int:
    period = args.period
    with Store.open(cfg.store_path) as store:
        if args.action == "show":
            show_issue(store, draft(store, cfg, period))
            return OK
        if args.action in ("exclude", "restore"):
            for ref in args.ids:
                placed = editorial.exclude(store, cfg, period, ref, args.action == "exclude")
                say(f"{args.action}d {placed.summary.id}  {placed.summary.title}")
        elif args.action == "move":
            placed = editorial.move(store, cfg, period, args.id, args.theme)
            say(f"moved {placed.summary.id} to {args.theme}  {placed.summary.title}")
        elif args.action in ("pin", "unpin"):
            placed = editorial.pin(store, cfg, period, args.id, args.action == "pin")
            say(f"{args.action}ned {placed.summary.id}  {placed.summary.title}")
        elif args.action == "intro":
            text = Path(args.file).read_text("utf-8") if args.file else (args.text or "")
            editorial.set_intro(store, period, "" if args.clear else text)
            say("intro note cleared" if args.clear or not text.strip() else "intro note saved")
        elif args.action == "subject":
            editorial.set_subject(store, cfg, period, "" if args.clear else args.text or "")
            say(f"subject: {compose(store, cfg, period).subject}")
        status, approval = editorial.state(store, compose(store, cfg, period))
        if status == "changed" and approval is not None:
            say(f"note: this changes the issue {approval.by} approved; approve it again "
                "before sending")
    return OK


def show_issue(store: Store, d: Draft) -> None:
    issue = d.issue
    say(f"issue {issue.period}: {issue.subject}")
    if issue.intro:
        say(f"intro note: {issue.intro}")
    marks = {p.summary.id: p for p in d.chosen}
    for section in issue.sections:
        say(f"\n{section.title} ({len(section.items)})")
        for item in section.items:
            p = marks[item.id]
            flags = [f for f, on in (("pinned", p.pinned), ("moved", p.moved),
                                      ("weak match", p.weak)) if on]
            say(f"  {item.id}  {item.published:%Y-%m-%d}  {item.title}"
                + (f"  [{', '.join(flags)}]" if flags else ""))
    if d.excluded:
        say("\nexcluded (msdigest issue restore --period ... ID):")
        for p in d.excluded:
            say(f"  {p.summary.id}  {p.summary.title}")
    status, approval = editorial.state(store, issue)
    if status == "sent":
        say("\nsent: the issue can no longer change")
    elif approval is None:
        say("\nnot approved yet")
    else:
        say(f"\n{'approved by' if status == 'approved' else 'changed since'} {approval.by}"
            f"{'' if status == 'approved' else ' approved it'} at {approval.at}")


def cmd_approve(cfg: Config, args: argparse.Namespace) -> int:
    with Store.open(cfg.store_path) as store:
        issue, digest = editorial.approve(store, cfg, args.period, args.by)
    say(f"approved the {args.period} issue ({issue.count} summaries, content "
        f"{digest[:12]}) by {args.by}: {issue.subject}")
    return OK


def cmd_send_test(cfg: Config, args: argparse.Namespace) -> int:
    secret = _secret_or_throwaway()
    with Store.open(cfg.store_path) as store:
        results = send_test(store, cfg, args.period, secret, args.to)
    for address, outcome in results:
        say(f"{address}: {outcome}")
    say("test messages are marked [TEST] and not recorded in the delivery ledger")
    return OK if all(o == "sent" for _, o in results) else PARTIAL


def cmd_archive(cfg: Config, args: argparse.Namespace) -> int:
    out = Path(args.out)
    with Store.open(cfg.store_path) as store:
        entries = archive.write(store, cfg, out)
    for e in entries:
        say(f"{out / e.file}  {e.subject}")
    say(f"{out / 'index.html'}  {len(entries)} issues; publish the folder at "
        f"{cfg.digest.archive_url}/ for the emails' \"View in browser\" links")
    return OK


def cmd_status(cfg: Config, args: argparse.Namespace) -> int:
    with Store.open(cfg.store_path) as store:
        periods = [args.period] if args.period else store.issues()
        if not periods:
            say("no issue has been sent yet")
        for period in periods:
            counts = store.delivery_counts(period)
            table = Table("state", "subscribers", title=f"issue {period}")
            for state, n in sorted(counts.items()):
                table.add_row(state, str(n))
            console.print(table)
            for d in store.deliveries(period, ("failed", "deferred", "sending")):
                say(f"  {d.state}: {d.email}: {d.reason or 'interrupted'}")
            for d in store.deliveries(period, duplicates=True):
                say(f"  possibly duplicated: {d.email} (Message-ID {d.message_id})")
        runs = store.runs(10)
        if runs and not args.period:
            table = Table("job", "started", "outcome", "detail", title="recent scheduled runs")
            for r in runs:
                table.add_row(r["job"], r["started_at"], r["outcome"] or "running",
                              r["detail"])
            console.print(table)
    return OK


def cmd_run(cfg: Config, args: argparse.Namespace) -> int:
    path = config_mod.resolve_path(args.config)
    schedule.serve(cfg, str(path.resolve()) if path else None,
                   announce=lambda m: say(m))
    return OK


def cmd_web(cfg: Config, args: argparse.Namespace) -> int:
    from .web import server

    secret = config_mod.secret()
    if secret is None:
        return fail(f"{config_mod.ENV_SECRET} is not set; it must be the key the emails "
                    "were signed with")
    try:
        httpd = server(cfg, secret, args.host, args.port)
    except OSError as exc:
        return fail(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}")
    say(f"serving unsubscribe and preference pages on http://{args.host}:"
                  f"{httpd.server_port}/ (put it behind {cfg.unsubscribe.base_url})")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return OK


def cmd_demo(cfg: Config | None, args: argparse.Namespace) -> int:
    from . import demo

    say("msdigest demo: bundled sample feed → SQLite → preview → SMTP on 127.0.0.1")
    result = demo.run(args.config, Path(args.out) if args.out else None)
    table = Table("theme", "summaries", title=f"issue {result.period}")
    for title, n in result.themes:
        table.add_row(title, str(n))
    console.print(table)
    imp = result.imported
    say(f"collected {result.collected} summaries; subscribers: {imp.new} imported, "
                  f"{len(imp.errors)} example rows rejected on purpose:")
    for e in imp.errors:
        say(f"  subscribers.example.csv {e}")
    print_report(result.report)
    say(f"\nthe SMTP server on 127.0.0.1 received {result.received} messages")
    say("where to look:")
    for label, path in (("email as sent (open in a browser)", result.preview.html),
                        ("plain-text part", result.preview.text),
                        ("issue as JSON", result.preview.json),
                        ("received messages (.eml)", result.inbox),
                        ("store (SQLite)", result.folder / "demo.sqlite")):
        say(f"  {label:36} {path}")
    program = sys.argv[0] if Path(sys.argv[0]).name == "msdigest" else "msdigest"
    explore = f"{program} --config {result.folder / 'digest.toml'}"
    say("explore it:")
    say(f"  {explore} status --period {result.period}")
    say(f"  {explore} issue show --period {result.period}")
    say(f"  {explore} preview --period {result.period} --serve")
    return OK if result.received == result.report.sent else PARTIAL


def cmd_config(cfg: Config, args: argparse.Namespace) -> int:
    say(f"config: {cfg.source} — valid")
    say(f"store: {cfg.store_path}")
    say(f"feeds: {', '.join(f.url for f in cfg.feeds)}")
    say(f"smtp: {cfg.smtp.host}:{cfg.smtp.port} ({cfg.smtp.security})")
    say(f"themes: {', '.join(cfg.theme_ids)}")
    say(f"schedule: collect {cfg.schedule.collect!r}, send {cfg.schedule.send!r} "
                  f"({cfg.schedule.timezone})")
    for name in (config_mod.ENV_SECRET, config_mod.ENV_PASSWORD):
        say(f"{name}: {'set' if os.environ.get(name) else 'not set'}")
    return OK


# --- parser -----------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="msdigest", formatter_class=fmt, epilog=EPILOG,
        description="Turn feeds of dated MS research summaries into a monthly email digest: "
                    "collect → group by theme → preview → send, on a schedule.")
    p.add_argument("--version", action="version", version=f"msdigest {__version__}")
    p.add_argument("--config", metavar="PATH", help="config file (TOML); see below")
    p.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help: str, func: Callable[..., int]) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help, description=help, formatter_class=fmt,
                             epilog=EPILOG)
        cmd.set_defaults(func=func)
        return cmd

    c = add("collect", "read the feeds and store new or changed summaries", cmd_collect)

    t = add("themes", "list the themes, or explain why a summary got its theme", cmd_themes)
    tsub = t.add_subparsers(dest="action", required=True)
    tsub.add_parser("list", help="the themes and their matching terms")
    ex = tsub.add_parser("explain", help="the terms that decided a summary's theme")
    ex.add_argument("id", help="summary id (as in issue.json; a unique prefix is enough)")

    pv = add("preview", "write an issue as HTML, text and JSON, or serve a page to check it",
             cmd_preview)
    pv.add_argument("--period", required=True, metavar="YYYY-MM", help="the issue's month")
    pv.add_argument("--out", metavar="DIR", help="folder for issue.html, issue.txt, issue.json")
    pv.add_argument("--serve", action="store_true",
                    help="serve the editor's page: phone and desktop views, text part, counts "
                         "and warnings (reload after `msdigest issue ...` changes)")
    pv.add_argument("--host", default="127.0.0.1", help="for --serve (default 127.0.0.1)")
    pv.add_argument("--port", type=int, default=8125, help="for --serve (default 8125)")

    s = add("subscribers", "import subscribers from CSV, or count them", cmd_subscribers)
    ssub = s.add_subparsers(dest="action", required=True)
    imp = ssub.add_parser("import", help="add or update subscribers from a CSV file "
                          "(columns email,name,themes,status)")
    imp.add_argument("file", help="CSV file, UTF-8")
    ssub.add_parser("list", help="count subscribers by status")

    iss = add("issue", "an editor's changes to one issue: exclude, restore, move, pin, "
              "intro note, subject", cmd_issue)
    isub = iss.add_subparsers(dest="action", required=True)

    def issue_cmd(name: str, help: str) -> argparse.ArgumentParser:
        cmd = isub.add_parser(name, help=help, description=help)
        cmd.add_argument("--period", required=True, metavar="YYYY-MM")
        return cmd

    issue_cmd("show", "the issue's summaries with their ids, marks and approval")
    for name, help in (("exclude", "leave summaries out of the issue"),
                       ("restore", "put excluded summaries back")):
        issue_cmd(name, help).add_argument("ids", nargs="+", metavar="ID",
                                           help="summary id (a unique prefix is enough)")
    mv = issue_cmd("move", "put a summary under another theme")
    mv.add_argument("id", metavar="ID")
    mv.add_argument("theme", metavar="THEME")
    for name, help in (("pin", "show a summary first in its section"),
                       ("unpin", "undo pin")):
        issue_cmd(name, help).add_argument("id", metavar="ID")
    note = issue_cmd("intro", "a note (Markdown) shown at the top of the issue")
    src = note.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="the note itself")
    src.add_argument("--file", help="read the note from this Markdown file")
    src.add_argument("--clear", action="store_true", help="remove the note")
    subj = issue_cmd("subject", "this issue's subject instead of [digest] subject")
    sgroup = subj.add_mutually_exclusive_group(required=True)
    sgroup.add_argument("--text", help="the subject; {count}, {month}... allowed")
    sgroup.add_argument("--clear", action="store_true", help="back to [digest] subject")

    stest = add("send-test", "send the issue to some addresses only, marked [TEST], not "
                "recorded", cmd_send_test)
    stest.add_argument("--period", required=True, metavar="YYYY-MM")
    stest.add_argument("--to", required=True, action="append", metavar="ADDR",
                       help="recipient (repeatable)")
    c.add_argument("--feed", action="append", metavar="URL_OR_PATH",
                   help="collect this feed instead of the configured ones (repeatable)")

    ap = add("approve", "record that NAME approved the issue as it stands now", cmd_approve)
    ap.add_argument("--period", required=True, metavar="YYYY-MM")
    ap.add_argument("--by", required=True, metavar="NAME", help="who approves")

    sd = add("send", "send an issue to every active subscriber who has not had it", cmd_send)
    sd.add_argument("--period", required=True, metavar="YYYY-MM", help="the issue's month")
    sd.add_argument("--dry-run", action="store_true",
                    help="write .eml files instead of sending; records nothing")
    sd.add_argument("--outbox", metavar="DIR", default="outbox",
                    help="folder for --dry-run (default: ./outbox)")

    arc = add("archive", "write a static web copy of every sent issue and an index page",
              cmd_archive)
    arc.add_argument("--out", required=True, metavar="DIR", help="folder for the pages")

    st = add("status", "delivery counts and failures per issue, and recent scheduled runs",
             cmd_status)
    st.add_argument("--period", metavar="YYYY-MM", help="one issue (default: all)")

    add("run", "run the scheduler service: collect and the monthly send, as [schedule] says",
        cmd_run)

    w = add("web", "serve the unsubscribe and theme-preference pages the emails link to",
            cmd_web)
    w.add_argument("--host", default="127.0.0.1")
    w.add_argument("--port", type=int, default=8080)

    d = add("demo", "run the whole pipeline on the bundled sample feed with a local SMTP "
            "server", cmd_demo)
    d.add_argument("--out", metavar="DIR", help="folder for everything (default: a new "
                   "temporary folder)")

    add("config", "check the config file and show what it resolves to", cmd_config)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s",
        handlers=[RichHandler(console=errors, show_path=False, markup=False)])
    logging.getLogger("msdigest").setLevel(logging.INFO if args.verbose else logging.WARNING)
    for noisy in ("apscheduler", "mail.log", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.INFO if args.command == "run"
                                          else logging.WARNING)
    try:
        if args.command == "demo":
            return cmd_demo(None, args)
        cfg = config_mod.load(args.config)
        return int(args.func(cfg, args))
    except ConfigError as exc:
        return fail(str(exc), USAGE)
    except PeriodError as exc:
        return fail(str(exc), USAGE)
    except NotApproved as exc:
        return fail(str(exc), REFUSED)
    except (CsvError, DeliveryError, FileNotFoundError, EditError) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        errors.print("interrupted", markup=False)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
