"""The editor's commands: issue show and changes, send-test, approve; and the demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import accounts, editorial
from ..config import Config
from ..delivery.send import send_test
from ..editorial import standing
from ..errors import Exit, UsageError
from ..issue import Draft, draft
from ..period import Period
from ..store import Store
from .commands import secret_or_throwaway
from .output import say, table


def _read_note(args: argparse.Namespace) -> str:
    if args.clear:
        return ""
    if args.file:
        try:
            return str(Path(args.file).read_text("utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the note from {args.file}: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
    return str(args.text or "")


def cmd_issue(cfg: Config, args: argparse.Namespace) -> int:
    period: Period = args.period
    with Store.open(cfg.store_location, readonly=args.action == "show") as store:
        if args.action == "show":
            show_issue(store, draft(store, cfg, period))
            return Exit.OK
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
            text = _read_note(args)
            editorial.set_intro(store, period, text)
            say("intro note saved" if text.strip() else "intro note cleared")
        elif args.action == "subject":
            editorial.set_subject(store, cfg, period, "" if args.clear else args.text or "")
            say(f"subject: {draft(store, cfg, period).issue.subject}")
        note = standing(store, draft(store, cfg, period)).reapprove
        if note:
            say(note)
    return Exit.OK


def show_issue(store: Store, d: Draft) -> None:
    issue = d.issue
    say(f"issue {issue.period}: {issue.subject}")
    if issue.intro:
        say(f"intro note: {issue.intro}")
    for section in issue.sections:
        say(f"\n{section.title} ({len(section.items)})")
        for item in section.items:
            marks = d.marks(item.id)
            flags = [f for f, on in (("pinned", item.pinned), ("moved", marks and marks.moved),
                                      ("weak match", marks and marks.weak),
                                      ("close call", marks and marks.review)) if on]
            if marks and (marks.weak or marks.review):
                flags.append(f"runner-up {marks.runner_up}, margin {marks.margin:.2f}")
            say(f"  {item.id}  {item.published:%Y-%m-%d}  {item.title}"
                + (f"  [{', '.join(flags)}]" if flags else ""))
    if d.excluded:
        say("\nexcluded (msdigest issue restore --period ... ID):")
        for p in d.excluded:
            say(f"  {p.summary.id}  {p.summary.title}")
    said = standing(store, d).describe()
    say(f"\n{said[0].lower()}{said[1:]}")


def cmd_approve(cfg: Config, args: argparse.Namespace) -> int:
    with Store.open(cfg.store_location) as store:
        if args.withdraw:
            editorial.withdraw(store, args.period, args.by)
            say(f"withdrew the approval of the {args.period} issue ({args.by}); it will not "
                "go out until it is approved again")
            return Exit.OK
        issue, digest = editorial.approve(store, cfg, args.period, args.by)
    say(f"approved the {args.period} issue ({issue.count} summaries, content "
        f"{digest[:12]}) by {args.by}: {issue.subject}")
    return Exit.OK


def cmd_send_test(cfg: Config, args: argparse.Namespace) -> int:
    secret = secret_or_throwaway(cfg)
    with Store.open(cfg.store_location) as store:
        results = send_test(store, cfg, args.period, secret, args.to)
    for address, outcome in results:
        say(f"{address}: {outcome}")
    say("test messages are marked [TEST] and not recorded in the delivery ledger")
    return Exit.OK if all(o == "sent" for _, o in results) else Exit.PARTIAL


def cmd_editors(cfg: Config, args: argparse.Namespace) -> int:
    """Who may sign in to the desk (`msdigest web`, /desk/)."""
    with Store.open(cfg.store_location, readonly=args.action == "list") as store:
        if args.action == "list":
            found = store.editors.all()
            table(None, ("email", "name", "since"), (
                (e.email, e.name, f"{e.created_at:%Y-%m-%d}") for e in found))
            if not found:
                say("no editors yet: `msdigest editors add EMAIL --password-stdin`")
            return Exit.OK
        if args.action == "remove":
            accounts.remove(store, args.email)
            say(f"removed {args.email}: their sessions are ended too")
            return Exit.OK
        if not args.password_stdin:
            raise UsageError("editors add needs --password-stdin: the password is read from "
                             "standard input (never from the command line, where `ps` and "
                             "the shell history would show it)")
        password = sys.stdin.readline().rstrip("\r\n")
        editor = accounts.add(store, args.email, args.name or "", password)
    say(f"added {editor.email} ({editor.name}): they sign in at "
        f"{cfg.unsubscribe.base_url}/desk/")
    return Exit.OK
