"""The `msdigest` command: one subcommand per job an editor or operator does.

    parser.py    the command line's shape
    commands.py  the pipeline's commands;  editing.py  the editor's;  operations.py  ops'
    output.py    what gets printed;  logs.py  what gets logged, for people or machines
"""

from __future__ import annotations

import os
import sqlite3
import sys

from .. import config as config_mod
from ..errors import Exit, MsdigestError
from ..store.errors import describe
from . import logs
from .output import errors, fail, note
from .parser import parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    store: object = "the store"
    try:
        if args.command == "demo":
            logs.setup(args.verbose, args.command, "text", sys.stderr, errors)
            return int(args.func(args))
        cfg = config_mod.load(args.config)
        logs.setup(args.verbose, args.command, cfg.logging.format, sys.stderr, errors)
        store = cfg.store_location
        if cfg.source == config_mod.EMBEDDED:
            note(f"note: no config file (--config, ${config_mod.ENV_CONFIG} or ./digest.toml), so "
                 f"the embedded demo defaults are in use: the bundled sample feed, SMTP on "
                 f"{cfg.smtp.host}:{cfg.smtp.port} and the store {cfg.store_location}")
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
