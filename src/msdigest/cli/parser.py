"""The command line's shape: every command, option and help text, and nothing else."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .. import __version__
from ..errors import PeriodError
from ..model import SubscriberStatus
from ..period import Period
from . import commands, demo, editing, members, operations, themes

EPILOG = """\
exit codes:
  0    done, nothing to report
  1    failed: nothing was done (the message says why)
  2    bad command line or config file (the message names the key and file)
  3    done in part: some feeds, rows or messages had problems (listed above);
       the rest went through, and running the command again is safe
  4    refused: the issue is not approved, changed since it was approved, or
       already sent (it can no longer change); or another send of it, or another
       `msdigest run` on the same store, is already running
  130  interrupted (Ctrl-C); running the command again resumes

config: --config PATH, else $MSDIGEST_CONFIG, else ./digest.toml, else the embedded
defaults (see digest.example.toml). Secrets come only from the environment:
MSDIGEST_SMTP_PASSWORD (SMTP login) and MSDIGEST_SECRET (signs unsubscribe links).

typical month:
  msdigest collect                          # also runs daily under `msdigest run`
  msdigest preview --period 2026-10 --out preview/     # or --serve
  msdigest issue exclude --period 2026-10 6035f2dc     # editorial changes, if any
  msdigest send-test --period 2026-10 --to editor@example.org
  msdigest approve --period 2026-10 --by "Editor Name"
  msdigest send --period 2026-10
"""


def period(text: str) -> Period:
    """--period, parsed once: a bad one is a usage error that argparse reports."""
    try:
        return Period.parse(text)
    except PeriodError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, got {value}")
    return value


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

    def with_period(cmd: argparse.ArgumentParser, required: bool = True,
                    help: str = "the issue's month") -> argparse.ArgumentParser:
        cmd.add_argument("--period", required=required, metavar="YYYY-MM", type=period,
                         help=help)
        return cmd

    c = add("collect", "read the feeds and store new or changed summaries", commands.cmd_collect)
    c.add_argument("--feed", action="append", metavar="URL_OR_PATH",
                   help="collect this feed instead of the configured ones (repeatable)")

    t = add("themes", "list the themes, explain why a summary got its theme, measure the "
            "rules on labeled summaries, switch learning from editors on or off",
            themes.cmd_themes)
    tsub = t.add_subparsers(dest="action", required=True)
    tsub.add_parser("list", help="the themes and their matching terms")
    ex = tsub.add_parser("explain", help="why a summary got its theme: the rules' scores, "
                         "the learned model's words, which decided, the margin")
    ex.add_argument("id", help="summary id (as in issue.json; a unique prefix is enough)")
    ev = tsub.add_parser("evaluate", help="how often the themes agree with an editor's on "
                         "a labeled file: strict and lenient agreement, a confusion matrix, "
                         "each miss and why")
    ev.add_argument("file", help="JSONL or CSV with title, summary, theme and optionally "
                    "alt_theme, date, id")
    ev.add_argument("--min-accuracy", metavar="X", help="exit 3 when strict agreement is "
                    "below X (0.9 or 90%%), for CI")
    how = ev.add_mutually_exclusive_group()
    how.add_argument("--rules-only", action="store_true",
                     help="leave out the model learned from the store's examples")
    how.add_argument("--learn-from", metavar="FILE", help="instead of the store's examples, "
                     "replay this labeled file as an editor's moves and approvals, month by "
                     "month, and evaluate the model it gives")
    ln = tsub.add_parser("learn", help="whether msdigest learns from editors' moves and "
                         "approvals (kept in the store); --on or --off changes it")
    switch = ln.add_mutually_exclusive_group()
    switch.add_argument("--on", action="store_true", help="learn from the examples")
    switch.add_argument("--off", action="store_true", help="rules only; examples are kept")

    pv = with_period(add("preview", "write an issue as HTML, text and JSON, or serve a page "
                         "to check it", commands.cmd_preview))
    pv.add_argument("--out", metavar="DIR", help="folder for issue.html, issue.txt, issue.json")
    pv.add_argument("--serve", action="store_true",
                    help="serve the editor's page: phone and desktop views, text part, counts "
                         "and warnings (reload after `msdigest issue ...` changes)")
    pv.add_argument("--host", default="127.0.0.1", help="for --serve (default 127.0.0.1)")
    pv.add_argument("--port", type=port, default=8125, help="for --serve (default 8125)")

    s = add("subscribers", "import, list, show, export and remove subscribers",
            members.cmd_subscribers)
    ssub = s.add_subparsers(dest="action", required=True)
    imp = ssub.add_parser("import", help="add or update subscribers from a CSV file "
                          "(columns email,name,themes,status)")
    imp.add_argument("file", help="CSV file, UTF-8")
    lst = ssub.add_parser("list", help="counts by status and by how they joined")
    lst.add_argument("--unsubscribed-since", type=members.since, metavar="YYYY-MM-DD",
                     help="also who unsubscribed, bounced or complained since then")
    shw = ssub.add_parser("show", help="everything held about one subscriber: how and when "
                          "they joined, the consent they gave, every change")
    shw.add_argument("email")
    exp = ssub.add_parser("export", help="everything held, one row per subscriber, on stdout")
    exp.add_argument("--format", choices=("csv", "json"), default="csv")
    exp.add_argument("--status", action="append", choices=[str(x) for x in SubscriberStatus],
                     help="only these (repeatable; default: all)")
    rem = ssub.add_parser("remove", help="erase a subscriber; a one-way hash keeps a later "
                          "import from adding them back")
    rem.add_argument("email")

    iss = add("issue", "an editor's changes to one issue: exclude, restore, move, pin, "
              "intro note, subject", editing.cmd_issue)
    isub = iss.add_subparsers(dest="action", required=True)

    def issue_cmd(name: str, help: str) -> argparse.ArgumentParser:
        return with_period(isub.add_parser(name, help=help, description=help))

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

    stest = with_period(add("send-test", "send the issue to some addresses only, marked "
                            "[TEST], not recorded", editing.cmd_send_test))
    stest.add_argument("--to", required=True, action="append", metavar="ADDR",
                       help="recipient (repeatable)")

    ap = with_period(add("approve", "record that NAME approved the issue as it stands now",
                         editing.cmd_approve))
    ap.add_argument("--by", required=True, metavar="NAME", help="who approves")
    ap.add_argument("--withdraw", action="store_true",
                    help="take the approval back: the issue will not go out until approved "
                         "again")

    ed = add("editors", "the editors who may sign in to the desk (`msdigest web`, /desk/)",
             editing.cmd_editors)
    esub = ed.add_subparsers(dest="action", required=True)
    eadd = esub.add_parser("add", help="give an editor an account")
    eadd.add_argument("email")
    eadd.add_argument("--name", help="how the desk and the audit log name them")
    eadd.add_argument("--password-stdin", action="store_true",
                      help="read the password from standard input (required)")
    esub.add_parser("list", help="the editors' accounts")
    erm = esub.add_parser("remove", help="remove an account and end its sessions")
    erm.add_argument("email")

    sd = with_period(add("send", "send an issue to every active subscriber who has not had it",
                         commands.cmd_send))
    sd.add_argument("--dry-run", action="store_true",
                    help="write .eml files instead of sending; records nothing")
    sd.add_argument("--outbox", metavar="DIR", default="outbox",
                    help="folder for --dry-run (default: ./outbox)")

    arc = add("archive", "write a static web copy of every sent issue and an index page",
              commands.cmd_archive)
    arc.add_argument("--out", required=True, metavar="DIR", help="folder for the pages")

    st = with_period(add("status", "delivery counts and failures per issue, the feeds' health, "
                         "recent runs and the next scheduled ones; exit 3 when degraded (a "
                         "feed failing, a send unfinished past its time)",
                         operations.cmd_status), required=False,
                     help="one issue (default: all)")
    st.add_argument("--json", action="store_true",
                    help="one JSON document for scripts and monitoring: feeds, runs, issues, "
                         "the schedule, problems")

    b = add("bounces", "bounces and complaints that came back after the relay took the mail "
            "([bounces]: an IMAP folder or a Maildir)", operations.cmd_bounces)
    bsub = b.add_subparsers(dest="action", required=True)
    bsub.add_parser("check", help="read the bounce mailbox now (`msdigest run` does it as "
                    "[schedule] bounces says): hard bounces and complaints stop mail to the "
                    "address, soft bounces count toward [smtp] bounce_after; each handled "
                    "report is moved to [bounces] processed_folder")

    bk = add("backup", "copy the store while msdigest runs (SQLite's online backup), checked "
             "and private", operations.cmd_backup)
    bk.add_argument("--to", required=True, metavar="FILE", help="a new file for the copy")
    rs = add("restore", "put a backup in place of the store (stop `msdigest run` and "
             "`msdigest web` first); the store it replaces is kept beside it",
             operations.cmd_restore)
    rs.add_argument("--from", required=True, metavar="FILE", dest="source",
                    help="a file `msdigest backup` wrote")

    add("run", "run the scheduler service: collect and the monthly send, as [schedule] says "
        "(on a PostgreSQL store: a worker, as `msdigest worker`)", operations.cmd_run)
    add("worker", "run a worker for a PostgreSQL store: one on each host; together they "
        "collect, send and keep the schedule once", operations.cmd_worker)

    w = add("web", "serve the unsubscribe and theme-preference pages the emails link to",
            commands.cmd_web)
    w.add_argument("--host", default="127.0.0.1")
    w.add_argument("--port", type=port, default=8080)

    d = add("demo", "run the whole pipeline on the bundled sample feed with a local SMTP "
            "server", demo.cmd_demo)
    d.add_argument("--out", metavar="DIR", help="folder for everything (default: a new "
                   "temporary folder)")

    add("config", "check the config file and show what it resolves to", commands.cmd_config)
    everywhere(p)
    return p


def everywhere(p: argparse.ArgumentParser) -> None:
    """--config and -v after any command too (`msdigest collect --config x.toml`): each
    subcommand takes them, defaulting to what was given before the command."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for cmd in action.choices.values():
                cmd.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                                 help="config file (TOML), as before the command")
                cmd.add_argument("-v", "--verbose", action="store_true",
                                 default=argparse.SUPPRESS, help="log more detail")
                everywhere(cmd)
