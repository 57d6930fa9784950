"""Several hosts on one PostgreSQL store, played by processes on this machine: workers
that share one schedule and one send, one of them killed mid-send; a rate limit for
all; a wrong database URL. A real PostgreSQL server (tests/pg.py) and real SMTP."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import Envelope

from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.period import Period
from msdigest.records import DeliveryState
from msdigest.store import Store
from msdigest.timeline import DUE

from . import pg
from .conftest import SmtpHandler, SmtpServer, start_smtp, write_config
from .test_delivery import ENV, cli, subscribers, wait_for

pytestmark = pytest.mark.slow
PERIOD = Period(2026, 10)
# msg/s for the fleet: three senders unpaced go several times faster on 2 busy cores (the
# issue's 200/s needs an idle machine; the bench's rate check measures 200 and 500)
RATE = 60


class TimingHandler(SmtpHandler):
    """Notes when each message arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.times.append(time.monotonic())
        return await super().handle_DATA(server, session, envelope)


class HoldingHandler(SmtpHandler):
    """A relay that scans each message before it answers the final dot."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


def fleet_config(tmp_path: Path, url: str, smtp: SmtpServer, **smtp_extra: Any) -> Config:
    from msdigest import config as config_mod
    path = write_config(tmp_path / "digest.toml", {
        "store": {"url": url, "lease_seconds": 5},
        "digest": {"require_approval": False},
        # the send time never comes by itself: the test marks the issue due
        "schedule": {"collect": "0 6 1 1 *", "send": "0 9 1 1 *"},
        "worker": {"senders": 3, "jobs": 2},
        "smtp": {"host": smtp.host, "port": smtp.port, "security": "none",
                 "retry_base_seconds": 0.05, "concurrency": 3, **smtp_extra}},
        ["msdigest:sample-feed.xml"])
    return config_mod.load(path, env={})


@pytest.fixture
def pg_url() -> Any:
    pg.require()
    url = pg.create_database()
    yield url
    pg.drop_database(url)


def workers(cfg: Config, n: int) -> list[subprocess.Popen[str]]:
    return [subprocess.Popen(cli(cfg, "worker"), env=ENV, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE) for _ in range(n)]


def stop(procs: list[subprocess.Popen[str]]) -> list[str]:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    errors = [p.communicate(timeout=60)[1] for p in procs]
    for err in errors:
        assert "Traceback" not in err, err
    return errors


def test_three_workers_one_killed_mid_send_deliver_everyone_once_or_flagged(
        tmp_path: Path, pg_url: str) -> None:
    server = start_smtp(HoldingHandler())
    procs: list[subprocess.Popen[str]] = []
    try:
        cfg = fleet_config(tmp_path, pg_url, server)
        with Store.open(cfg.store_location) as store:
            collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
            subs = subscribers(store, 2000)
            store.audit.notice_once(PERIOD, DUE)  # its send time has come
        procs = workers(cfg, 3)
        wait_for(lambda: len(server.handler.received) >= 400, timeout=120)
        with Store.open(cfg.store_location) as store:  # a worker with messages in flight
            owners = {r[0] for r in store.db.all(
                "SELECT lease_owner FROM deliveries WHERE state = 'sending'")}
        pids = {int(o.split(":")[1]) for o in owners if o}
        victim = next(p for p in procs if p.pid in pids)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        wait_for(lambda: len({r.recipients[0] for r in server.handler.received}) >= len(subs),
                 timeout=180)
        with Store.open(cfg.store_location) as store:  # the survivors finish the rows
            wait_for(lambda: not store.leases.others(PERIOD, ""), timeout=60)
            counts = store.ledger.counts(PERIOD)
            flagged = {d.email for d in store.ledger.rows(PERIOD, duplicates=True)}
            collects = [r for r in store.runs.recent(50) if r.job == "collect"]
            queued = [r for r in store.runs.recent(50) if "send jobs queued" in r.detail]
        got = Counter(r.recipients[0] for r in server.handler.received)
        assert set(got) == {s.email for s in subs}
        twice = {e for e, n in got.items() if n > 1}
        assert len(twice) <= 3 and twice <= flagged  # one per connection of the dead one
        assert counts == {DeliveryState.SENT: len(subs)}
        assert len(queued) == 1 and len(collects) <= 1  # one set of send jobs, one tick's
    finally:
        stop([p for p in procs if p.returncode is None])
        server.stop()


def test_a_rate_limit_holds_for_all_senders_together(tmp_path: Path, pg_url: str) -> None:
    handler = TimingHandler()
    server = start_smtp(handler)
    try:
        cfg = fleet_config(tmp_path, pg_url, server, max_per_second=RATE)
        with Store.open(cfg.store_location) as store:
            collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
            subscribers(store, RATE * 10)
        procs = [subprocess.Popen(cli(cfg, "send", "--period", str(PERIOD)), env=ENV,
                                  text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(3)]
        for p in procs:
            assert p.communicate(timeout=120)[1].count("Traceback") == 0
        start = handler.times[0]
        seconds = Counter(int(t - start) for t in handler.times)
        full = sorted(seconds)[1:-1]  # the first and last seconds are partial
        assert len(full) >= 5
        for s in full:
            assert RATE * 0.95 <= seconds[s] <= RATE * 1.05, (s, seconds[s], dict(seconds))
    finally:
        server.stop()


def test_a_wrong_database_url_names_host_and_database_never_the_password(
        tmp_path: Path) -> None:
    path = write_config(tmp_path / "digest.toml", {"store": {
        "url": "postgresql://msdigest:hunter2-secret@127.0.0.1:1/digestdb"}},
        ["msdigest:sample-feed.xml"])
    for command in (["status"], ["collect"], ["worker"]):
        run = subprocess.run(cli_for(path, *command), env=ENV, capture_output=True,
                             text=True, timeout=60)
        assert run.returncode == 2, run.stderr
        assert "127.0.0.1:1/digestdb" in run.stderr, run.stderr
        assert "hunter2" not in run.stderr + run.stdout and "Traceback" not in run.stderr


def test_the_worker_refuses_a_sqlite_store_with_advice(
        make_config: Callable[..., Config]) -> None:
    cfg = make_config()
    run = subprocess.run(cli(cfg, "worker"), env=ENV, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2 and "msdigest run" in run.stderr, run.stderr


def cli_for(path: Path, *args: str) -> list[str]:
    import sys
    return [sys.executable, "-m", "msdigest.cli", "--config", str(path), *args]

