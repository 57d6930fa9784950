"""The deploy kit in contrib/, checked: the systemd units pass `systemd-analyze verify` and
a hardening bar (`systemd-analyze security --offline`), their command lines are ones
msdigest takes; the Dockerfile installs the wheel `make wheel` builds, and its health
check works on that install; backup while msdigest writes, and restore from it."""

from __future__ import annotations

import configparser
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from msdigest.cli.parser import parser
from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.delivery.send import send
from msdigest.period import Period
from msdigest.store import Store
from msdigest.store.locks import exclusive, lock_file
from msdigest.subscribers import import_file

from .conftest import REPO, SECRET, SmtpServer, missing

CONTRIB = REPO / "contrib"
UNITS = ("msdigest-run.service", "msdigest-web.service")
INSTALLED = "/opt/msdigest/bin/msdigest"  # where the units expect the venv (README)
PYTHON = REPO / ".venv" / "bin" / "python"
HARDENED = 2.0  # systemd-analyze's exposure score, 0 (locked down) to 10 (wide open)
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("MSDIGEST_")},
       "MSDIGEST_SECRET": SECRET.decode()}


def unit(name: str) -> configparser.ConfigParser:
    found = configparser.ConfigParser(strict=False, interpolation=None)
    found.optionxform = str  # type: ignore[assignment,method-assign]
    found.read_string((CONTRIB / "systemd" / name).read_text("utf-8"))
    return found


def systemd_analyze(tmp_path: Path) -> str:
    """The tool, once it has shown it can verify a minimal unit on this machine."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        missing("systemd-analyze is not installed (`make test` installs Debian's systemd)")
    probe = tmp_path / "probe.service"
    probe.write_text("[Service]\nExecStart=/bin/true\n")
    done = subprocess.run([tool, "verify", str(probe)], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0 or done.stderr.strip():
        missing(f"systemd-analyze cannot verify even a minimal unit here (exit "
                f"{done.returncode}: {done.stderr.strip()}), so it cannot check ours")
    return tool


@pytest.mark.parametrize("name", UNITS)
def test_the_units_verify_clean_and_are_hardened(tmp_path: Path, name: str) -> None:
    tool = systemd_analyze(tmp_path)
    # verify checks that ExecStart's program exists: point it at the msdigest installed
    # here instead of /opt/msdigest, and change nothing else
    text = (CONTRIB / "systemd" / name).read_text("utf-8")
    assert INSTALLED in text
    here = tmp_path / name
    here.write_text(text.replace(INSTALLED, str(REPO / ".venv" / "bin" / "msdigest")))
    verified = subprocess.run([tool, "verify", str(here)], capture_output=True, text=True,
                              timeout=60)
    assert (verified.returncode, verified.stderr.strip()) == (0, ""), verified.stderr
    security = subprocess.run([tool, "security", "--offline=true", str(here)],
                              capture_output=True, text=True, timeout=60)
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert score is not None, security.stdout + security.stderr
    assert security.returncode == 0 and float(score.group(1)) <= HARDENED, security.stdout

    service = unit(name)["Service"]
    assert service["User"] == "msdigest" and service["StateDirectory"] == "msdigest"
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    assert service["EnvironmentFile"] == "/etc/msdigest/msdigest.env"
    # the command line is one msdigest takes, with the config the README puts in /etc
    program, *argv = shlex.split(service["ExecStart"])
    args = parser().parse_args(argv)
    assert program == INSTALLED and args.config == "/etc/msdigest/digest.toml"
    assert args.command == ("run" if "run" in name else "web")
    if args.command == "web":
        assert args.host == "127.0.0.1"  # the reverse proxy is what faces the internet


def test_the_user_both_units_run_as_is_made_by_sysusers() -> None:
    line = next(ln for ln in (CONTRIB / "systemd" / "msdigest.sysusers").read_text().splitlines()
                if ln and not ln.startswith("#"))
    assert line.split()[:2] == ["u", "msdigest"]
    assert {unit(name)["Service"]["User"] for name in UNITS} == {"msdigest"}


# --- the container image's recipe --------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (CONTRIB / "Dockerfile").read_text("utf-8"))
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in text.splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


@pytest.mark.slow
def test_the_dockerfile_installs_the_wheel_make_wheel_builds_and_its_health_check_works(
        tmp_path: Path, make_config: Callable[..., Config]) -> None:
    steps = dockerfile()
    base = next(a for i, a in steps if i == "FROM")
    python = re.fullmatch(r"python:(\d+)\.(\d+)-slim-\S+", base)
    assert python is not None, base
    needs = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert (int(python.group(1)), int(python.group(2))) >= tuple(
        int(n) for n in needs.removeprefix(">=").split("."))
    copy = next(a for i, a in steps if i == "COPY").split()
    assert copy[0] == "dist/msdigest-*.whl"

    # what `make wheel` runs, into a folder of this test's own
    make = (REPO / "Makefile").read_text()
    recipe = re.search(r"^wheel:.*\n\t(.+)$", make, re.M)
    assert recipe is not None and "-w dist ." in recipe.group(1)
    command = recipe.group(1).replace("$(BIN)/python", str(PYTHON)).replace(
        "-w dist .", f"-w {tmp_path / 'dist'} {REPO}")
    subprocess.run(shlex.split(command), check=True, capture_output=True, timeout=300,
                   cwd=tmp_path)
    [wheel] = list((tmp_path / "dist").iterdir())
    assert fnmatch.fnmatch(f"dist/{wheel.name}", copy[0]), wheel.name

    # the image's `pip install` of it (its dependencies are this venv's, already here)
    site = tmp_path / "site"
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, timeout=300)
    entry = json.loads(next(a for i, a in steps if i == "ENTRYPOINT"))
    cmd = json.loads(next(a for i, a in steps if i == "CMD"))
    assert entry == ["msdigest"] and parser().parse_args(cmd).command == "run"
    env = {**ENV, "PYTHONPATH": str(site), "PATH": f"{site / 'bin'}:{os.environ['PATH']}"}
    env_lines = " ".join(a for i, a in steps if i == "ENV")
    config_path = re.search(r"MSDIGEST_CONFIG=(\S+)", env_lines)
    assert config_path is not None and config_path.group(1) == "/etc/msdigest/digest.toml"

    health = next(a for i, a in steps if i == "HEALTHCHECK")
    check = health[health.index("CMD") + 4:]
    cfg = make_config(feeds=["msdigest:sample-feed.xml"])
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
    env["MSDIGEST_CONFIG"] = cfg.source
    healthy = subprocess.run(["/bin/sh", "-c", check], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert healthy.returncode == 0, healthy.stderr
    degraded = make_config(feeds=[str(tmp_path / "missing.rss")])
    with Store.open(degraded.store_path) as store:
        collect_feed(store, degraded.feeds[0].url, degraded.base_dir, degraded.tz)
    assert subprocess.run(["/bin/sh", "-c", check], env=env, cwd=tmp_path,
                          timeout=60).returncode == 0  # degraded is monitoring's business
    env["MSDIGEST_CONFIG"] = str(tmp_path / "no-such.toml")
    assert subprocess.run(["/bin/sh", "-c", check], env=env, cwd=tmp_path,
                          timeout=60).returncode != 0
    # and the program the image runs is the wheel's, not this checkout's
    where = subprocess.run([str(site / "bin" / "msdigest"), "--version"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert where.returncode == 0 and where.stdout.startswith("msdigest ")


# --- backup and restore ------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys, time
    from msdigest.store import Store
    with Store.open(sys.argv[1]) as store:
        print("writing", flush=True)
        while True:
            run = store.runs.start("writer")
            store.runs.finish(run, "ok", "x" * 200)
            time.sleep(0.001)
""")


def cli(cfg: Config, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "msdigest.cli", "--config", cfg.source,
                           *args], capture_output=True, text=True, timeout=120, env=ENV)


def test_a_backup_taken_while_msdigest_writes_restores_a_store_that_sends_nobody_twice(
        make_config: Callable[..., Config], smtp_server: SmtpServer, tmp_path: Path) -> None:
    cfg = make_config(smtp=smtp_server)
    october = Period(2026, 10)
    with Store.open(cfg.store_location) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
        send(store, cfg, october, SECRET)
        ledger = store.ledger.counts(october)
    delivered = len(smtp_server.handler.received)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(cfg.store_path)],
                              stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
        copy = tmp_path / "backups" / "msdigest-2026-11-02.sqlite"
        done = cli(cfg, "backup", "--to", str(copy))
        assert done.returncode == 0, done.stderr
        assert f"put it back with `msdigest restore --from {copy}`" in done.stdout
    finally:
        writer.kill()
        writer.wait(timeout=10)
    assert copy.stat().st_mode & 0o777 == 0o600  # every address is in it
    assert not Path(f"{copy}-wal").exists()  # one self-contained file
    assert cli(cfg, "backup", "--to", str(copy)).returncode == 2  # never written over

    # the store is lost (a bad disk, a wrong command): restore it with the services stopped
    with exclusive(lock_file(cfg.store_path, "scheduler"), "run", "stop it"):
        busy = cli(cfg, "restore", "--from", str(copy))
    assert busy.returncode == 4 and "stop msdigest run and msdigest web" in busy.stderr
    cfg.store_path.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    restored = cli(cfg, "restore", "--from", str(copy))
    assert restored.returncode == 0, restored.stderr
    kept = list(tmp_path.glob("store.sqlite.replaced-*Z"))  # its -wal and -shm beside it
    assert len(kept) == 1 and f"kept as {kept[0]}" in restored.stdout

    status = cli(cfg, "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    doc = json.loads(status.stdout)
    issue = next(i for i in doc["issues"] if i["period"] == str(october))
    assert issue["states"] == {str(k): v for k, v in ledger.items()}
    again = cli(cfg, "send", "--period", str(october))
    assert again.returncode == 0, again.stderr
    assert len(smtp_server.handler.received) == delivered  # nobody got it twice
    assert cfg.store_path.stat().st_mode & 0o777 == 0o600


def test_the_commands_the_deploying_section_gives_are_ones_msdigest_takes() -> None:
    readme = (REPO / "README.md").read_text("utf-8")
    section = readme[readme.index("## Deploying"):]
    section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    lines = [ln.replace("$(date +%F)", "2026-11-02")  # what the shell would make of it
             for block in blocks for ln in block.replace("\\\n", " ").splitlines()]
    commands = [shlex.split(ln.split(" #")[0])[shlex.split(ln).index(INSTALLED) + 1:]
                for ln in lines if INSTALLED in shlex.split(ln)]
    assert {c[c.index("--config") + 2] for c in commands} >= {"backup", "restore", "status"}
    for argv in commands:
        parser().parse_args(argv)  # exits (SystemExit) on anything msdigest would refuse
        assert argv[:2] == ["--config", "/etc/msdigest/digest.toml"]
    units = {unit(name)["Service"]["ExecStart"].split()[0] for name in UNITS}
    assert units == {INSTALLED} and f"python3 -m venv {Path(INSTALLED).parents[1]}" in section
