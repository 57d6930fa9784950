"""The operator's commands: status (and --json for monitoring), the bounce mailbox,
backup and restore of the store, the scheduler service."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from .. import config as config_mod
from .. import health, schedule, worker
from ..bounces.check import check_recorded
from ..config import Config
from ..errors import ConfigError, Exit, UsageError
from ..records import DeliveryState, StartedBy
from ..store import Store
from ..store.backup import backup, restore
from ..store.locks import exclusive, lock_file
from .output import console, say, table


def _at(dt: datetime | None) -> str:
    return f"{dt:%Y-%m-%d %H:%M:%S} UTC" if dt else "-"


def cmd_status(cfg: Config, args: argparse.Namespace) -> int:
    """The ledger by issue, the feeds, every recent run and what is next; exit 3 when
    degraded (a feed failing, a send unfinished past its time)."""
    with Store.open(cfg.store_location, readonly=True) as store:
        found = health.check(store, cfg, datetime.now(UTC))
        if args.json:
            console.file.write(json.dumps(found.to_json(), indent=2, ensure_ascii=False) + "\n")
            console.file.flush()
            return found.exit_code
        periods = [args.period] if args.period else store.issues.frozen_periods()
        if not periods:
            say("no issue has been sent yet")
        for period in periods:
            counts = store.ledger.counts(period)
            table(f"issue {period}", ("state", "subscribers"),
                  ((str(state), str(n)) for state, n in sorted(counts.items())))
            issue = health.issue_status(store, cfg, period)
            say(f"  approval: {issue.approval}"
                + (f" by {issue.approved_by} at {_at(issue.approved_at)}"
                   if issue.approved_by else "")
                + (f"; first sent {_at(issue.frozen_at)}, last sent {_at(issue.sent_at)}"
                   if issue.frozen_at else ""))
            for d in store.ledger.rows(period, (DeliveryState.FAILED, DeliveryState.DEFERRED,
                                                DeliveryState.SENDING)):
                say(f"  {d.state}: {d.email}: {d.reason or 'interrupted'}")
            for d in store.ledger.rows(period, duplicates=True):
                say(f"  possibly duplicated: {d.email} (Message-ID {d.message_id})")
    if args.period:
        return found.exit_code
    say("feeds:")
    for f in found.feeds:
        say(f"  {f.name}: {f.describe()}" + (f" ({f.url})" if f.name != f.url else ""))
    if found.runs:
        say("recent runs (by hand or scheduled):")
        for r in found.runs[:10]:
            say(f"  {_at(r.started_at)}  {r.job} ({r.started_by}): {r.outcome or 'running'}"
                + (f" — {r.detail}" if r.detail else ""))
    if found.schedule is not None:
        say("scheduled (msdigest run): " + ", ".join(
            f"{job} next {_at(when) if when else 'paused'}"
            for job, (_, when) in found.schedule.items()))
    for problem in found.problems:
        say(f"degraded: {problem}")
    return found.exit_code


def cmd_bounces(cfg: Config, args: argparse.Namespace) -> int:
    """Read the bounce mailbox once, as the scheduled job does."""
    if not cfg.bounces.enabled:
        raise ConfigError(f"{cfg.source}: [bounces] source: not set, so there is no bounce "
                          "mailbox to read (\"imap\" or \"maildir\"; see digest.example.toml)")
    with Store.open(cfg.store_location) as store:
        done, name = check_recorded(store, cfg, StartedBy.MANUAL)
    for line in done.lines:
        say(f"  {line}")
    say(f"{name}: {done.line}")
    return Exit.OK


def cmd_backup(cfg: Config, args: argparse.Namespace) -> int:
    """An online copy of the store (safe while the services run), checked, private."""
    target = Path(args.to)
    if target.exists():
        raise UsageError(f"{target}: already exists; give a new file (a backup is never "
                         "written over anything)")
    with Store.open(cfg.store_location, readonly=True) as store:
        backup(store.db.connection, target)
    say(f"{target}: a checked copy of {cfg.store_path} ({target.stat().st_size / 1024:,.0f} "
        f"KB); put it back with `msdigest restore --from {target}`")
    return Exit.OK


def cmd_restore(cfg: Config, args: argparse.Namespace) -> int:
    """The store replaced by a backup; the services must be stopped (the scheduler's lock
    is taken to be sure of that one)."""
    if not Path(args.source).is_file():
        raise UsageError(f"{args.source}: no such file (give a backup `msdigest backup` "
                         "wrote)")
    with exclusive(lock_file(cfg.store_path, "scheduler"), f"`msdigest run` on "
                   f"{cfg.store_path}", "stop msdigest run and msdigest web before a restore"):
        kept = restore(Path(args.source), cfg.store_path)
    say(f"{cfg.store_path}: restored from {args.source}"
        + (f"; the store it replaced is kept as {kept}" if kept else ""))
    return Exit.OK


def cmd_run(cfg: Config, args: argparse.Namespace) -> int:
    path = config_mod.resolve_path(args.config)
    if cfg.store_location.postgres:  # several hosts share one schedule: the worker keeps it
        return cmd_worker(cfg, args)
    schedule.serve(cfg, str(path.resolve()) if path else None, announce=say)
    return Exit.OK


def cmd_worker(cfg: Config, args: argparse.Namespace) -> int:
    path = config_mod.resolve_path(args.config)
    worker.serve(cfg, str(path.resolve()) if path else None, announce=say)
    return Exit.OK
