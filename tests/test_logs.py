"""Logs for machines: when stderr is not a terminal, one line per event — never wrapped,
UTC ISO-8601 timestamps, as text or JSON ([logging] format) — each job's outcome at INFO
without -v, and no "executed successfully" for a send that was refused. On a terminal,
rich's lines for people. The service runs as a real subprocess, its stderr a file."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

from msdigest.cli import logs

from .test_schedule import Service, last_month, miss, runs, service_config, services, store_path

__all__ = ["services"]  # the fixture, used by name

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (INFO|WARNING|ERROR) (\S+): (.+)$")


def refused_send(tmp_path: Path, services: Callable[[Path], Service], fmt: str) -> Service:
    """A service whose caught-up collect works and whose caught-up send is refused (the
    issue is not approved); its stderr is a file, as under systemd or docker."""
    config = service_config(tmp_path, require_approval=True)
    config.write_text(config.read_text("utf-8") + f'\n[logging]\nformat = "{fmt}"\n', "utf-8")
    first = services(config)
    first.wait_running()
    first.stop()
    miss(store_path(tmp_path), timedelta(minutes=5))
    service = services(config)
    service.wait_for(lambda: len([o for _, o in runs(store_path(tmp_path)) if o]) == 2, 20,
                     "the collect and the refused send")
    service.stop()
    return service


def test_service_logs_one_plain_line_per_event_with_each_jobs_outcome(
        tmp_path: Path, services: Callable[[Path], Service]) -> None:
    service = refused_send(tmp_path, services, "text")
    period, _ = last_month()
    lines = service.stderr.splitlines()
    assert lines, service.stdout
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), [line for line, m in zip(lines, parsed, strict=True) if not m]
    for m in parsed:
        assert m is not None
        stamp = datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
        assert abs(stamp - datetime.now(UTC)) < timedelta(minutes=5)
    messages = {m.group(4): (m.group(2), m.group(3)) for m in parsed if m}
    collect = [t for t in messages if t.startswith("collect: ")]
    assert collect == ["collect: 3 new, 0 updated, 1 feed ok"], messages
    assert messages[collect[0]] == ("INFO", "msdigest.schedule")
    [refusal] = [t for t in messages if t.startswith(f"send {period}: refused: ")]
    assert messages[refusal][0] == "WARNING"
    # the whole reason on its one line, however long (rich wrapped it at 80 columns)
    assert len(refusal) > 120 and "has not been approved" in refusal
    assert "tried again at every collect" in refusal
    assert "executed successfully" not in service.stderr
    assert "Running job" not in service.stderr


def test_service_logs_json_objects_with_the_outcome_as_fields(
        tmp_path: Path, services: Callable[[Path], Service]) -> None:
    service = refused_send(tmp_path, services, "json")
    period, _ = last_month()
    events = [json.loads(line) for line in service.stderr.splitlines()]
    assert events and all(e["time"].endswith("Z") and e["level"] and e["logger"]
                          for e in events)
    by_job = {e["job"]: e for e in events if "job" in e}
    assert by_job["collect"]["outcome"] == "ok" and by_job["collect"]["counts"]["new"] == 3
    assert by_job["collect"]["level"] == "INFO"
    assert by_job[f"send {period}"]["outcome"] == "refused"
    assert "has not been approved" in by_job[f"send {period}"]["message"]
    assert not any("executed successfully" in e["message"] for e in events)


def test_on_a_terminal_logs_are_for_people_unless_json_is_asked_for() -> None:
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as tty, open(os.devnull, "w") as pipe:
        console = Console(file=tty)
        assert isinstance(logs.handler("text", tty, console), RichHandler)
        assert isinstance(logs.handler("json", tty, console).formatter, logs.JsonFormatter)
        assert isinstance(logs.handler("text", pipe, console).formatter, logs.TextFormatter)
    os.close(leader)


def test_a_traceback_stays_on_its_events_one_line() -> None:
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        record = logging.LogRecord("msdigest.x", logging.ERROR, __file__, 1, "failed: %s",
                                   ("it",), exc_info=sys.exc_info())
    text = logs.TextFormatter().format(record)
    assert "\n" not in text and "ValueError: bad\\nvalue" in text
    assert LINE.match(text)
    doc = json.loads(logs.JsonFormatter().format(record))
    assert doc["message"] == "failed: it" and "ValueError" in doc["exception"]
