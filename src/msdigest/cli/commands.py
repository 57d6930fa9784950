"""The commands of the pipeline: collect, themes, preview, subscribers, send, status, run.

Each one reads its arguments, calls the module that does the work, and prints; the
rules live in those modules. Editorial commands are in cli/editing.py.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from .. import archive, notices, preview
from .. import config as config_mod
from ..collect import collect, limits_of, summarize
from ..config import Config
from ..delivery.send import dry_run, send
from ..errors import Exit, MsdigestError, UsageError
from ..issue import draft
from ..records import StartedBy
from ..signals import stop_on_signals
from ..store import Store
from ..unsubscribe import Signer, ephemeral_secret
from ..web import app, desk
from ..web.http import is_loopback
from .output import (
    BarProgress,
    console,
    note,
    print_report,
    progress_bar,
    say,
    table,
)


def folder_arg(value: str, option: str) -> Path:
    """A folder the command writes into: it may not exist yet, but may not be a file."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {value}: is not a folder; give a folder (it is created "
                         "if missing)")
    return path


def secret_or_throwaway(cfg: Config) -> bytes:
    """The signing key; for previews and tests a throwaway one will do (with a note)."""
    if cfg.secret is None:
        note(f"note: {config_mod.ENV_SECRET} is not set; links are signed with a throwaway "
             "key and will not work")
        return ephemeral_secret()
    return cfg.secret


def required_secret(cfg: Config, why: str) -> bytes:
    if cfg.secret is None:
        raise MsdigestError(f"{config_mod.ENV_SECRET} is not set: {why}")
    return cfg.secret


def cmd_collect(cfg: Config, args: argparse.Namespace) -> int:
    urls = args.feed or [f.url for f in cfg.feeds]
    with Store.open(cfg.store_location) as store, progress_bar() as bar, \
            store.runs.recording("collect", StartedBy.MANUAL) as run:
        task = bar.add_task("collecting", total=len(urls))
        reports = []
        for url in urls:
            reports += collect(store, [url], cfg.base_dir, cfg.tz, limits_of(cfg.collect))
            bar.advance(task)
        done = summarize(reports)
        run.end("partial" if done.failing else "ok", done.detail, done.counts)
        total = store.content.count()
        alerts = notices.feed_alerts(store, cfg)
        told = ", ".join(a for a, _ in notices.ops(store, cfg))
    for r in reports:
        if r.error:
            say(f"{r.feed}: FAILED — {r.error}")
        elif r.not_modified:
            say(f"{r.feed}: not modified since the last collect")
        else:
            say(f"{r.feed}: {r.new} new, {r.updated} updated, {r.unchanged} unchanged, "
                f"{len(r.skipped)} skipped")
        for s in r.skipped:
            say(f"  skipped {s.entry}: {s.reason}")
        for w in r.warnings:
            say(f"  warning: {w}")
    say(f"store {cfg.store_location}: {total} summaries")
    for subject in alerts:
        say(f"emailed {told}: {subject}")
    return Exit.PARTIAL if any(r.error for r in reports) else Exit.OK


def cmd_preview(cfg: Config, args: argparse.Namespace) -> int:
    if args.serve:
        try:
            desk.serve_desk(cfg, args.period, secret_or_throwaway(cfg), args.host, args.port,
                            announce=say)
        except OSError as exc:
            raise MsdigestError(f"cannot serve on {args.host}:{args.port}: "
                                f"{exc.strerror or exc}") from None
        return Exit.OK
    if not args.out:
        raise UsageError("preview needs --out DIR (files) or --serve (a page to check)")
    out = folder_arg(args.out, "--out")
    with Store.open(cfg.store_location, readonly=True) as store:
        d = draft(store, cfg, args.period)
    edition = d.edition
    files = preview.write(edition, out, Signer.of(cfg, secret_or_throwaway(cfg)),
                          preview.review(d.chosen, cfg))
    issue = edition.issue
    table(issue.subject, ("theme", "summaries"),
          ((s.title, str(len(s.items))) for s in issue.sections))
    say(f"wrote {files.html} ({files.html_bytes / 1024:.0f} KB), {files.text}, {files.json}")
    for w in files.warnings:
        say(f"warning: {w}")
    return Exit.OK


def cmd_send(cfg: Config, args: argparse.Namespace) -> int:
    secret = secret_or_throwaway(cfg) if args.dry_run else required_secret(
        cfg, "it signs every unsubscribe link. Set it to a long random value and keep it "
        "the same between sends.")
    outbox = folder_arg(args.outbox, "--outbox") if args.dry_run else None
    stop = threading.Event()
    archived = ""

    def stopping(signal_name: str) -> None:
        note(f"\n{signal_name}: finishing the messages in flight (again to abort)")

    with Store.open(cfg.store_location) as store, progress_bar() as bar, \
            stop_on_signals(stop, stopping, second_aborts=True):
        progress = BarProgress(bar, "writing" if args.dry_run else "sending")
        if outbox is not None:  # records nothing, not even a run
            report = dry_run(store, cfg, args.period, secret, outbox, progress)
        else:
            with store.runs.recording(f"send {args.period}", StartedBy.MANUAL) as run:
                report = send(store, cfg, args.period, secret, progress, stop)
                # the new issue's "View in browser" page, once everyone has it
                archived = archive.after_send(store, cfg) if report.complete else ""
                run.end(report.outcome, "; ".join(filter(None, (report.line, archived))),
                        report.counts)
    print_report(report)
    if archived:
        say(archived)
    if args.dry_run:
        say(f"dry run: wrote {len(report.written)} .eml files to {args.outbox}; "
            "nothing was sent or recorded")
    return report.exit_code


def cmd_archive(cfg: Config, args: argparse.Namespace) -> int:
    out = folder_arg(args.out, "--out")
    with Store.open(cfg.store_location, readonly=True) as store:
        entries = archive.write(store, cfg, out)
    for e in entries:
        say(f"{out / e.file}  {e.subject}")
    say(f"{out / 'index.html'}  {len(entries)} issues; publish the folder at "
        f"{cfg.digest.archive_url}/ for the emails' \"View in browser\" links")
    return Exit.OK


def cmd_web(cfg: Config, args: argparse.Namespace) -> int:
    secret = required_secret(cfg, "it must be the key the emails were signed with")
    try:
        httpd = app.server(cfg, secret, args.host, args.port)
    except OSError as exc:
        raise MsdigestError(f"cannot serve on {args.host}:{args.port}: "
                            f"{exc.strerror or exc}") from None
    def started(srv: object) -> None:  # signals are handled from here on
        if not is_loopback(args.host):
            note(f"note: {args.host} is not a loopback address. Serve the pages to the "
                 "internet through a reverse proxy (TLS, timeouts, body and connection "
                 "limits): see \"Putting the link pages online\" in the README")
        say(f"serving unsubscribe and preference pages on http://{args.host}:"
            f"{httpd.server_port}/ (put it behind {cfg.unsubscribe.base_url}), the editor's "
            f"desk under /desk/ and /healthz")

    httpd.serve(started)
    return Exit.OK


def cmd_config(cfg: Config, args: argparse.Namespace) -> int:
    say(f"config: {cfg.source} — valid")
    say(f"store: {cfg.store_location}")
    say(f"feeds: {', '.join(f.url for f in cfg.feeds)}")
    say(f"smtp: {cfg.smtp.host}:{cfg.smtp.port} ({cfg.smtp.security})")
    say(f"themes: {', '.join(cfg.theme_ids)}")
    say(f"schedule: collect {cfg.schedule.collect!r}, send {cfg.schedule.send!r} "
        f"({cfg.schedule.timezone})")
    for name, value in ((config_mod.ENV_SECRET, cfg.secret),
                        (config_mod.ENV_PASSWORD, cfg.smtp.password)):
        say(f"{name}: {'set' if value else 'not set'}")
    console.file.flush()
    return Exit.OK
