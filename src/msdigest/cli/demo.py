"""`msdigest demo`: the whole pipeline on the bundled sample feed, and where to look."""

from __future__ import annotations

import argparse

from ..errors import Exit
from .commands import folder_arg
from .output import print_report, program, say, table


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
