"""The editor's commands: issue show and changes, send-test, approve; and the demo."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import editorial
from ..config import Config
from ..delivery.send import send_test
from ..editorial import ApprovalState, standing
from ..errors import Exit, UsageError
from ..issue import Draft, draft
from ..period import Period
from ..store import Store
from .commands import folder_arg, secret_or_throwaway
from .output import print_report, program, say, table


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
    with Store.open(cfg.store_path, readonly=args.action == "show") as store:
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
        where = standing(store, draft(store, cfg, period))
        if where.state is ApprovalState.CHANGED and where.approval is not None:
            say(f"note: this changes the issue {where.approval.by} approved; approve it again "
                "before sending")
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
                                      ("weak match", marks and marks.weak)) if on]
            say(f"  {item.id}  {item.published:%Y-%m-%d}  {item.title}"
                + (f"  [{', '.join(flags)}]" if flags else ""))
    if d.excluded:
        say("\nexcluded (msdigest issue restore --period ... ID):")
        for p in d.excluded:
            say(f"  {p.summary.id}  {p.summary.title}")
    where = standing(store, d)
    if where.state is ApprovalState.SENT:
        say("\nsent: the issue can no longer change")
    elif where.approval is None:
        say("\nnot approved yet")
    else:
        a = where.approval
        verb = "approved by" if where.state is ApprovalState.APPROVED else "changed since"
        say(f"\n{verb} {a.by}{'' if where.state is ApprovalState.APPROVED else ' approved it'}"
            f" at {a.at:%Y-%m-%d %H:%M} UTC")


def cmd_approve(cfg: Config, args: argparse.Namespace) -> int:
    with Store.open(cfg.store_path) as store:
        issue, digest = editorial.approve(store, cfg, args.period, args.by)
    say(f"approved the {args.period} issue ({issue.count} summaries, content "
        f"{digest[:12]}) by {args.by}: {issue.subject}")
    return Exit.OK


def cmd_send_test(cfg: Config, args: argparse.Namespace) -> int:
    secret = secret_or_throwaway(cfg)
    with Store.open(cfg.store_path) as store:
        results = send_test(store, cfg, args.period, secret, args.to)
    for address, outcome in results:
        say(f"{address}: {outcome}")
    say("test messages are marked [TEST] and not recorded in the delivery ledger")
    return Exit.OK if all(o == "sent" for _, o in results) else Exit.PARTIAL


def cmd_demo(args: argparse.Namespace) -> int:
    from .. import demo  # aiosmtpd and the demo server load only for the demo

    say("msdigest demo: bundled sample feed → SQLite → preview → SMTP on 127.0.0.1")
    result = demo.run(args.config, folder_arg(args.out, "--out") if args.out else None)
    table(f"issue {result.period}", ("theme", "summaries"),
          ((title, str(n)) for title, n in result.themes))
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
    explore = f"{program()} --config {result.folder / 'digest.toml'}"
    say("explore it:")
    say(f"  {explore} status --period {result.period}")
    say(f"  {explore} issue show --period {result.period}")
    say(f"  {explore} preview --period {result.period} --serve")
    return Exit.OK if result.received == result.report.sent else Exit.PARTIAL
