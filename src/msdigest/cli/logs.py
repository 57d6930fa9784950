"""Logs: for a person at a terminal, rich's readable lines; anywhere else (journald, a
file, a pipe) one line per event, never wrapped, with a UTC ISO-8601 timestamp — as text
or as one JSON object a line (`[logging] format`).

What is logged: warnings and errors always; under the services (`run`, `web`) also what
they did at INFO — each job's outcome ("collect: 3 new, 0 updated, 1 feed failing",
"send 2026-10: 4,981 sent, 2 failed, 17 deferred"). APScheduler's own "Running job" and
"executed successfully" lines are left out: the job's outcome says how it went (a refused
send "executes successfully" as far as APScheduler knows).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import IO, Any

from rich.console import Console
from rich.logging import RichHandler

SERVICES = ("run", "web")
# what a job may add to its outcome line (logging's `extra`), kept as fields in JSON
FIELDS = ("job", "outcome", "counts")


def utc(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def one_line(text: str) -> str:
    return text.replace("\r", "").replace("\n", "\\n")


class TextFormatter(logging.Formatter):
    """`2026-12-02T06:00:03.512Z INFO msdigest.schedule: collect: 3 new, ...`"""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{utc(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return one_line(text)


class JsonFormatter(logging.Formatter):
    """`{"time": "2026-12-02T06:00:03.512Z", "level": "INFO", "logger": ..., "message": ...}`"""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {"time": utc(record), "level": record.levelname,
                               "logger": record.name, "message": record.getMessage()}
        doc.update({k: getattr(record, k) for k in FIELDS if hasattr(record, k)})
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def handler(fmt: str, stream: IO[str], console: Console) -> logging.Handler:
    """Rich on a terminal (unless JSON was asked for); a plain stream handler otherwise."""
    if fmt != "json" and stream.isatty():
        return RichHandler(console=console, show_path=False, markup=False)
    plain = logging.StreamHandler(stream)
    plain.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    return plain


def setup(verbose: bool, command: str, fmt: str, stream: IO[str], console: Console) -> None:
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(fmt, stream, console))
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    service = command in SERVICES
    logging.getLogger("msdigest").setLevel(logging.INFO if verbose or service
                                           else logging.WARNING)
    for noisy in ("apscheduler", "mail.log", "asyncio", "waitress"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)
    # "Running job ..." and "... executed successfully" (which it says of a refused send
    # too); its missed-run warning is said by msdigest.schedule in words of its own, and
    # a job's exception is still logged, with its traceback
    logging.getLogger("apscheduler.executors").setLevel(logging.ERROR)
