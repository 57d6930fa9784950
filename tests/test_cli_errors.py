"""Every command given bad arguments: exit 2, a message that says what is wrong, and never
a traceback. The list covers every command the parser knows (a new one must be added)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from msdigest.cli.parser import parser

from .conftest import write_config

# (command line, what the message must say); FILE is a plain file, CFG a valid config
BAD: list[tuple[list[str], str]] = [
    (["collect", "--feed"], "expected one argument"),
    (["collect", "--no-such-option"], "unrecognized arguments"),
    (["themes"], "required: action"),
    (["themes", "explain"], "required: id"),
    (["themes", "sort"], "invalid choice"),
    (["themes", "evaluate"], "required: file"),
    (["themes", "evaluate", "FILE"], "FILE: line 1: the header lacks"),
    (["themes", "evaluate", "no-such.jsonl"], "no-such.jsonl: cannot read it"),
    (["themes", "evaluate", "FILE", "--rules-only", "--learn-from", "FILE"],
     "not allowed with argument"),
    (["themes", "evaluate", "FILE", "--min-accuracy", "150"], "must be between 0 and 1"),
    (["themes", "learn", "--on", "--off"], "not allowed with argument"),
    (["preview", "--period", "2026-13", "--out", "x"], "period must be YYYY-MM"),
    (["preview", "--period", "2026-10"], "preview needs --out DIR"),
    (["preview", "--period", "2026-10", "--out", "FILE"], "--out FILE: is not a folder"),
    (["preview", "--period", "2026-10", "--serve", "--port", "99999"], "a port is 0-65535"),
    (["subscribers"], "required: action"),
    (["subscribers", "import"], "required: file"),
    (["subscribers", "import", "no-such.csv"], "no-such.csv: cannot read"),
    (["issue", "show"], "required: --period"),
    (["issue", "move", "--period", "2026-10", "abc"], "required: THEME"),
    (["issue", "intro", "--period", "2026-10", "--file", "no-such.md"],
     "cannot read the note from no-such.md"),
    (["issue", "subject", "--period", "July"], "period must be YYYY-MM"),
    (["send-test", "--period", "2026-10"], "required: --to"),
    (["send-test", "--period", "2026-10", "--to", "not-an-address"],
     "invalid email address 'not-an-address'"),
    (["approve", "--period", "2026-10", "--by", " "], "approve needs --by NAME"),
    (["send", "--period", "26-10"], "period must be YYYY-MM"),
    (["send", "--period", "2026-10", "--dry-run", "--outbox", "FILE"], "is not a folder"),
    (["archive"], "required: --out"),
    (["archive", "--out", "FILE"], "is not a folder"),
    (["status", "--period", "2026-00"], "period must be YYYY-MM"),
    (["run", "now"], "unrecognized arguments"),
    (["worker", "now"], "unrecognized arguments"),
    (["bounces"], "required: action"),
    (["backup"], "required: --to"),
    (["backup", "--to", "FILE"], "FILE: already exists"),
    (["restore"], "required: --from"),
    (["restore", "--from", "no-such.sqlite"], "no-such.sqlite"),
    (["bounces", "check"], "[bounces] source: not set"),
    (["web", "--port", "http"], "not a port number"),
    (["demo", "--out", "FILE"], "--out FILE: is not a folder"),
    (["config", "--check"], "unrecognized arguments"),
    (["--config", "no-such.toml", "config"], "cannot read config file"),
    (["editors"], "required: action"),
    (["editors", "add", "eve@example.org"], "editors add needs --password-stdin"),
    (["editors", "add", "not-an-address", "--password-stdin"], "invalid email address"),
    (["editors", "remove", "nobody@example.org"], "no editor's account for nobody@example.org"),
    (["send", "--period", "2026-10", "--dry-run"], "[digest] templates: no folder"),
]


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "FILE").write_text("a file, not a folder\n")
    write_config(tmp_path / "digest.toml", {"store": {"path": "store.sqlite"}})
    write_config(tmp_path / "templates.toml", {"store": {"path": "store.sqlite"},
                                               "digest": {"templates": "nope"}})
    yield tmp_path


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSDIGEST_")}
    return subprocess.run([sys.executable, "-m", "msdigest.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=60, input="")


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_arguments_exit_2_with_a_message_and_no_traceback(
        workdir: Path, args: list[str], message: str) -> None:
    if message.startswith("[digest] templates"):
        args = ["--config", "templates.toml", *args]
    done = run(args, workdir)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert message in " ".join(done.stderr.split()), done.stderr


def test_every_command_has_a_bad_argument_case() -> None:
    sub = next(a for a in parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    tried = {next(w for w in args if not w.startswith("-") and not w.endswith(".toml"))
             for args, _ in BAD}
    assert set(sub.choices) <= tried, set(sub.choices) - tried


@pytest.mark.parametrize("store", ["/proc/no/such/store.sqlite", "a-folder", "FILE"],
                         ids=["unwritable path", "a folder", "not a database"])
@pytest.mark.parametrize("command", [["status"], ["collect"]], ids=["status", "collect"])
def test_a_store_path_that_cannot_be_a_store_is_one_clear_line(
        workdir: Path, store: str, command: list[str]) -> None:
    (workdir / "a-folder").mkdir()
    write_config(workdir / "bad-store.toml", {"store": {"path": store}})
    done = run(["--config", "bad-store.toml", *command], workdir)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == 1, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and (store in lines[0] or "store" in lines[0]), done.stderr
