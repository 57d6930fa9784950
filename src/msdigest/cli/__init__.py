"""The `msdigest` command: one subcommand per job an editor or operator does.

    parser.py    the command line's shape
    commands.py  the pipeline's commands;  editing.py  the editor's
    output.py    what gets printed
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
from pathlib import Path

from rich.logging import RichHandler

from .. import config as config_mod
from ..errors import Exit, MsdigestError
from ..store.errors import describe
from .output import errors, fail
from .parser import parser


def setup_logging(verbose: bool, command: str) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(message)s",
        handlers=[RichHandler(console=errors, show_path=False, markup=False)])
    logging.getLogger("msdigest").setLevel(logging.INFO if verbose else logging.WARNING)
    for noisy in ("apscheduler", "mail.log", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.INFO if command == "run" else logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(args.verbose, args.command)
    store = Path("the store")
    try:
        if args.command == "demo":
            return int(args.func(args))
        cfg = config_mod.load(args.config)
        store = cfg.store_path
        return int(args.func(cfg, args))
    except MsdigestError as exc:
        return fail(str(exc), exc.exit_code)
    except sqlite3.Error as exc:  # a full disk, a damaged or read-only store
        return fail(describe(exc, store), Exit.ERROR)
    except KeyboardInterrupt:
        errors.print("interrupted", markup=False)
        return Exit.INTERRUPTED
    except BrokenPipeError:  # `msdigest subscribers export | head`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as Python's docs say
        return Exit.OK
