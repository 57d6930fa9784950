"""The store under hostile conditions (report rows S1, S2, S3, C4): damaged files, a write
limit that makes SQLite fail mid-send, a read-only store and the files' modes, through
real `msdigest` processes on real SQLite files and a real SMTP server."""

from __future__ import annotations

import ctypes
import hashlib
import os
import resource
import signal
import stat
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from msdigest import config as config_mod
from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.delivery.send import send
from msdigest.period import Period
from msdigest.store import Store
from msdigest.subscribers import import_file

from .conftest import REPO, SECRET, SmtpServer, write_config

PERIOD = Period(2026, 10)
TIMEOUT = 120  # seconds for one command: it finishes, it does not hang


@dataclass
class Site:
    """A folder with a digest.toml, its store, and the SMTP server it sends to."""

    folder: Path
    cfg: Config
    smtp: SmtpServer | None

    @property
    def store(self) -> Path:
        return self.cfg.store_path

    def cli(self, *args: str, preexec: Callable[[], None] | None = None
            ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MSDIGEST_")}
        env["MSDIGEST_SECRET"] = SECRET.decode()
        return subprocess.run(
            [sys.executable, "-m", "msdigest.cli", "--config", str(self.cfg.source), *args],
            capture_output=True, text=True, cwd=self.folder, env=env, timeout=TIMEOUT,
            preexec_fn=preexec)


def make_site(folder: Path, smtp: SmtpServer | None, subscribers: Path | None = None,
              content: bool = True) -> Site:
    folder.mkdir(parents=True, exist_ok=True)
    tables: dict[str, dict[str, object]] = {
        "store": {"path": str(folder / "store.sqlite")},
        "digest": {"require_approval": False},
        # a port nobody listens on when there is no server: nothing can go out by accident
        "smtp": {"host": "127.0.0.1", "port": smtp.port if smtp else 9, "security": "none",
                 "retry_base_seconds": 0.01, "username": ""},
    }
    path = write_config(folder / "digest.toml", tables, ["msdigest:sample-feed.xml"])
    cfg = config_mod.load(path, env={})
    if content:
        with Store.open(cfg.store_location) as store:
            collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
            import_file(store, subscribers or REPO / "subscribers.example.csv", cfg.theme_ids)
    return Site(folder, cfg, smtp)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def assert_one_clear_line(done: subprocess.CompletedProcess[str], store: Path,
                          *words: str) -> str:
    """Exit 1, no traceback anywhere, and one line on stderr that names the store."""
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == 1, (done.returncode, done.stderr)
    err = lines(done.stderr)
    assert len(err) == 1, done.stderr
    assert err[0].startswith("error: ") and str(store) in err[0], err[0]
    for word in words:
        assert word in err[0], err[0]
    return err[0]


def digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- S1: a damaged store ------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with summaries and subscribers, closed (no -wal or -shm beside it)."""
    site = make_site(tmp_path_factory.mktemp("pristine"), None)
    assert not site.store.with_name("store.sqlite-wal").exists()
    return site.store


def truncated(data: bytes) -> bytes:
    return data[: len(data) * 2 // 5]


def random_bytes(data: bytes) -> bytes:
    return os.urandom(len(data))


def random_after_the_header(data: bytes) -> bytes:
    return data[:100] + os.urandom(len(data) - 100)  # "SQLite format 3", page size... kept


DAMAGE = {"truncated": truncated, "random bytes": random_bytes,
          "random after a valid header": random_after_the_header}
COMMANDS = [["status"], ["subscribers", "list"], ["collect"],
            ["send", "--period", str(PERIOD)]]


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_damaged_store_is_one_line_naming_the_file_and_nothing_is_sent(
        tmp_path: Path, smtp_server: SmtpServer, pristine: Path, damage: str,
        command: list[str]) -> None:
    site = make_site(tmp_path / "site", smtp_server, content=False)
    site.store.write_bytes(DAMAGE[damage](pristine.read_bytes()))
    before = digest_of(site.store)
    done = site.cli(*command)
    assert_one_clear_line(done, site.store, "damaged")
    assert not smtp_server.handler.received
    assert digest_of(site.store) == before  # left as it was, for a recovery attempt


# --- S2: the disk fills up during a send -------------------------------------------------
#
# No file system can be mounted here, so the "disk" is RLIMIT_FSIZE: the send process may
# not write any file past `limit` bytes (SIGXFSZ ignored, so write() fails with EFBIG, which
# SQLite reports as SQLITE_IOERR_WRITE, "disk I/O error"). The store is in WAL mode: what
# grows during a send is store.sqlite-wal, from 0, so the limit is where the WAL stops.

SUBSCRIBERS = 300


@pytest.fixture
def crowd(tmp_path: Path, smtp_server: SmtpServer) -> Site:
    csv = tmp_path / "crowd.csv"
    csv.write_text("email,name,themes,status\n" + "".join(
        f"user{i:05d}@example.org,User {i},,active\n" for i in range(SUBSCRIBERS)), "utf-8")
    return make_site(tmp_path / "site", smtp_server, csv)


def write_limit(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


def assert_everyone_got_it_once(site: Site) -> None:
    """Every subscriber has the issue exactly once, except rows flagged as possibly
    duplicated, which may have it twice (never more, never unflagged)."""
    assert site.smtp is not None
    got = Counter(r.recipients[0] for r in site.smtp.handler.received)
    everyone = {f"user{i:05d}@example.org" for i in range(SUBSCRIBERS)}
    assert set(got) == everyone, everyone - set(got)
    with Store.open(site.store) as store:
        flagged = {d.email for d in store.ledger.rows(PERIOD, duplicates=True)}
        counts = store.ledger.counts(PERIOD)
    twice = {email for email, n in got.items() if n > 1}
    assert twice <= flagged, twice - flagged
    assert max(got.values()) <= 2
    assert counts == {"sent": SUBSCRIBERS}, counts


def test_disk_full_as_a_send_starts_is_one_clear_line_and_the_rerun_sends_each_once(
        crowd: Site) -> None:
    # 30 KB of WAL: not enough to freeze the issue and open its 300 ledger rows
    first = crowd.cli("send", "--period", str(PERIOD), preexec=write_limit(30_000))
    assert_one_clear_line(first, crowd.store, "run the command again")
    assert crowd.smtp is not None and not crowd.smtp.handler.received
    again = crowd.cli("send", "--period", str(PERIOD))
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    assert_everyone_got_it_once(crowd)


def test_disk_full_mid_send_loses_nothing_and_the_rerun_sends_each_once(
        crowd: Site) -> None:
    size = crowd.store.stat().st_size
    first = crowd.cli("send", "--period", str(PERIOD), preexec=write_limit(size + 100_000))
    assert crowd.smtp is not None
    sent_before = len(crowd.smtp.handler.received)
    assert 0 < sent_before < SUBSCRIBERS, sent_before  # it failed mid-send
    assert first.returncode != 0, first.stdout
    assert "again to resume" in first.stdout + first.stderr
    again = crowd.cli("send", "--period", str(PERIOD))
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    assert_everyone_got_it_once(crowd)
    # the data is safe; and what the operator saw names the store, without a traceback
    said = first.stderr + first.stdout
    assert "Traceback" not in said and str(crowd.store) in said, said[-3000:]


# --- S3: a read-only store -----------------------------------------------------------------


# Root ignores file modes, through its capabilities CAP_DAC_OVERRIDE and friends. The
# commands cannot run as `nobody` here: the interpreter lives under /root (0700), which
# nobody may not enter, so exec fails. Instead, as root, each command keeps uid 0 but
# drops those capabilities from its bounding set before exec: the kernel then checks the
# modes for it as for anyone, and root's own 0444 file and 0555 folder are read-only.
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3
LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before any fork


def as_root_without_override() -> None:
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"prctl(PR_CAPBSET_DROP, {cap})")


@pytest.fixture
def readonly_site(tmp_path: Path, smtp_server: SmtpServer
                  ) -> Iterator[tuple[Site, Callable[[], None] | None, Path]]:
    """A store with one sent issue (2026-09) that the commands may read but not write,
    in a folder they may not write either (so no -wal or -shm can be made there)."""
    site = make_site(tmp_path / "site", smtp_server)
    with Store.open(site.store) as store:
        assert send(store, site.cfg, Period(2026, 9), SECRET).sent == 6
    out = tmp_path / "preview"  # where `preview` may write
    out.mkdir()
    for f in (site.store, site.cfg.source):
        os.chmod(f, 0o444)
    os.chmod(site.folder, 0o555)
    assert not site.store.with_name("store.sqlite-wal").exists()
    try:
        yield site, as_root_without_override if os.geteuid() == 0 else None, out
    finally:
        os.chmod(site.folder, 0o755)
        os.chmod(site.store, 0o600)


def test_read_only_store_serves_the_reading_commands(
        readonly_site: tuple[Site, Callable[[], None] | None, Path]) -> None:
    site, as_reader, out = readonly_site
    before, files = digest_of(site.store), sorted(site.folder.iterdir())

    status = site.cli("status", preexec=as_reader)
    assert (status.returncode, status.stderr) == (0, "")
    assert "issue 2026-09" in status.stdout and "sent" in status.stdout

    subscribers = site.cli("subscribers", "list", preexec=as_reader)
    assert (subscribers.returncode, subscribers.stderr) == (0, "")
    assert "active" in subscribers.stdout and "6" in subscribers.stdout

    preview = site.cli("preview", "--period", str(PERIOD), "--out", str(out),
                       preexec=as_reader)
    assert preview.returncode == 0, preview.stderr
    assert "Traceback" not in preview.stderr
    assert any(p.suffix == ".html" and p.stat().st_size > 1000 for p in out.iterdir())

    show = site.cli("issue", "show", "--period", str(PERIOD), preexec=as_reader)
    assert (show.returncode, show.stderr) == (0, "")
    assert "October 2026" in show.stdout

    assert digest_of(site.store) == before
    assert sorted(site.folder.iterdir()) == files  # no -wal, no -shm, nothing new


def test_read_only_store_refuses_a_writing_command_in_one_line(
        readonly_site: tuple[Site, Callable[[], None] | None, Path]) -> None:
    site, as_reader, _ = readonly_site
    before = digest_of(site.store)
    done = site.cli("collect", preexec=as_reader)
    assert_one_clear_line(done, site.store, "read-only")
    assert digest_of(site.store) == before


# --- C4: the files' modes ------------------------------------------------------------------


def umask_022() -> None:
    os.umask(0o022)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_and_dry_run_outbox_are_private_under_umask_022(
        tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", None, content=False)
    assert not site.store.exists()
    collect = site.cli("collect", preexec=umask_022)
    assert collect.returncode == 0, collect.stderr
    assert mode(site.store) == 0o600, oct(mode(site.store))
    imported = site.cli("subscribers", "import", str(REPO / "subscribers.example.csv"),
                        preexec=umask_022)
    assert imported.returncode == 3, imported.stderr  # the sample has rows it rejects
    assert mode(site.store) == 0o600

    outbox = tmp_path / "outbox"
    dry = site.cli("send", "--period", str(PERIOD), "--dry-run", "--outbox", str(outbox),
                   preexec=umask_022)
    assert dry.returncode == 0, dry.stderr
    assert mode(outbox) == 0o700, oct(mode(outbox))
    emls = sorted(outbox.glob("*.eml"))
    assert len(emls) == 6  # the six active subscribers of the sample
    assert {oct(mode(p)) for p in emls} == {oct(0o600)}
    for leftover in site.folder.iterdir():  # anything else beside the store, too
        if leftover.name.startswith("store.sqlite"):
            assert mode(leftover) & 0o077 == 0, (leftover, oct(mode(leftover)))
