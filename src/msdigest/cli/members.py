"""`msdigest subscribers`: import, list, show, export and remove — what is held about
each subscriber, and how they joined, changed and left."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from .. import subscribers as members
from ..addresses import normalize
from ..config import Config
from ..errors import Exit, UsageError
from ..model import SubscriberStatus
from ..store import Store
from .output import say, table


def since(text: str) -> datetime:
    """--unsubscribed-since YYYY-MM-DD."""
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a date is YYYY-MM-DD, got {text!r}") from None


def cmd_subscribers(cfg: Config, args: argparse.Namespace) -> int:
    reading = args.action in ("list", "show", "export")
    with Store.open(cfg.store_location, readonly=reading) as store:
        if args.action == "list":
            return listing(store, args)
        if args.action == "show":
            return show(store, args.email)
        if args.action == "export":
            return export(store, args)
        if args.action == "remove":
            members.remove(store, args.email)
            say(f"removed {normalize(args.email)}: everything held about them is erased; a "
                "one-way hash keeps an import from adding them back")
            return Exit.OK
        report = members.import_file(store, Path(args.file), cfg.theme_ids)
    say(f"{args.file}: {report.new} new, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.errors)} rejected"
        + (f", {len(report.suppressed)} suppressed" if report.suppressed else ""))
    for e in report.errors:
        say(f"  {args.file}: {e}")
    for email in report.kept_unsubscribed:
        say(f"  kept unsubscribed: {email} opted out through their own link, bounced, or "
            "reported the digest as spam")
    for email in report.suppressed:
        say(f"  suppressed: {email} was erased at their request and is not added back")
    return Exit.PARTIAL if report.errors else Exit.OK


def listing(store: Store, args: argparse.Namespace) -> int:
    table(None, ("status", "count"), (
        (str(status), str(n)) for status, n in sorted(store.subscribers.counts().items())))
    table("how they joined", ("status", "joined via", "count"), (
        (status, via, str(n)) for (status, via), n in store.subscribers.counts_by_source().items()))
    if args.unsubscribed_since:
        left = store.subscribers.left(args.unsubscribed_since)
        table(f"left since {args.unsubscribed_since:%Y-%m-%d}", ("when", "who", "through"), (
            (f"{e.at:%Y-%m-%d %H:%M}", e.detail, e.source) for e in left))
    return Exit.OK


def show(store: Store, email: str) -> int:
    address = normalize(email)
    record = store.subscribers.record(address)
    if record is None:
        pending = store.signups.get(address)
        if pending is None:
            suppressed = store.signups.suppressed(address)
            raise UsageError(f"{address} is not on the list" + (
                f" (erased at their request on {suppressed:%Y-%m-%d})" if suppressed else ""))
        say(f"{address}: signed up on {pending.requested_at:%Y-%m-%d %H:%M} UTC, not "
            "confirmed yet")
        return Exit.OK
    found = members.held(store, record)
    width = max(len(k) for k in found)
    for key, value in found.items():
        if key != "history":
            say(f"{key:<{width}}  {value}")
    say("history:")
    for event in store.subscribers.events(address):
        say(f"  {event.at:%Y-%m-%d %H:%M:%S} UTC  {event.event:<9} {event.detail} "
            f"(by {event.source})")
    return Exit.OK


def export(store: Store, args: argparse.Namespace) -> int:
    statuses = tuple(SubscriberStatus(s) for s in args.status) if args.status else None
    rows = members.export(store, statuses)
    if args.format == "json":
        json.dump(list(rows), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        out = csv.DictWriter(sys.stdout, fieldnames=members.EXPORT_FIELDS)
        out.writeheader()
        for row in rows:
            # a leading = + - @ would be a formula in a spreadsheet
            out.writerow({k: ("'" + v if v and v[0] in "=+-@" else v) for k, v in row.items()})
    return Exit.OK
