"""`msdigest run`: the APScheduler service, run as a real subprocess against a real SMTP server.

The jobs live in the store's SQLite file, so a run missed while the service was down is
caught up once on the next start (within grace_hours), never twice, and a run missed by
more than grace_hours is skipped with a warning.
"""

from __future__ import annotations

import http.server
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from msdigest import config as config_mod
from msdigest import schedule
from msdigest.records import StartedBy
from msdigest.store import Store
from msdigest.subscribers import import_file

from .conftest import REPO, SECRET, SmtpServer, last_month, rfc822, rss, write_config

MSDIGEST = REPO / ".venv" / "bin" / "msdigest"
RUNNING = "msdigest service running"
STOPPING = "stopping: letting running jobs finish"
ACTIVE = ["ana@example.org", "ben@example.org"]


def far_month() -> int:
    """A month six months away, so the test crons can never fire while the tests run."""
    return (datetime.now(UTC).month + 5) % 12 + 1


def crons(collect_hour: int = 3, send_hour: int = 4) -> dict[str, str]:
    m = far_month()
    return {"collect": f"0 {collect_hour} 1 {m} *", "send": f"0 {send_hour} 1 {m} *"}


def service_config(tmp_path: Path, smtp: SmtpServer | None = None, grace_hours: float = 12,
                   require_approval: bool = False, **schedule_keys: str) -> Path:
    """A config whose one feed is a file with three summaries dated last month."""
    _, mid = last_month()
    items = [{"title": f"Summary {n}", "link": f"https://t.example.org/s/{n}",
              "guid": f"urn:t:{n}", "date": rfc822(mid + timedelta(hours=n)),
              "html": f"<p>Teaser {n} about exercise and the gut microbiome.</p>"}
             for n in range(1, 4)]
    feed = tmp_path / "feed.rss"
    feed.write_text(rss(items), "utf-8")
    tables: dict[str, dict[str, object]] = {
        "store": {"path": str(tmp_path / "store.sqlite")},
        "digest": {"require_approval": require_approval},
        "schedule": {**crons(), "timezone": "UTC", "grace_hours": grace_hours,
                     **schedule_keys},
    }
    if smtp is not None:
        tables["smtp"] = {"host": smtp.host, "port": smtp.port, "security": "none",
                          "retry_base_seconds": 0.01, "timeout": 5}
    return write_config(tmp_path / "digest.toml", tables, [str(feed)])


def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite"


@contextmanager
def job_store(path: Path) -> Iterator[BackgroundScheduler]:
    """The service's persistent jobs, through APScheduler's public API (never running)."""
    sched = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{path.resolve()}",
                                                 tablename="apscheduler_jobs")},
        timezone=UTC)
    sched.start(paused=True)
    try:
        yield sched
    finally:
        # APScheduler 3 processes due jobs once more while shutting down, even when paused:
        # it would "run" (and so drop) the missed runs this test just made. Without its job
        # store the scheduler has nothing to process.
        sched.remove_jobstore("default")
        sched.shutdown(wait=False)


def next_run_times(path: Path) -> dict[str, datetime]:
    with job_store(path) as sched:
        return {job.id: job.next_run_time for job in sched.get_jobs()}


def miss(path: Path, ago: timedelta, jobs: tuple[str, ...] = ("collect", "send")) -> None:
    """Pretend the service was down when these jobs were due (`ago` before now)."""
    when = datetime.now(UTC) - ago
    with job_store(path) as sched:
        for i, job_id in enumerate(jobs):
            # collect was due first, as with the real crons (collect 06:00, send 09:00)
            sched.modify_job(job_id, next_run_time=when + timedelta(minutes=i))


class Service:
    """`msdigest --config PATH run` as a subprocess, its output in files."""

    def __init__(self, config: Path, tmp_path: Path, name: str) -> None:
        env = {**os.environ, config_mod.ENV_SECRET: SECRET.decode(), "PYTHONUNBUFFERED": "1",
               "COLUMNS": "200"}
        env.pop(config_mod.ENV_CONFIG, None)
        self.out_path = tmp_path / f"{name}.out"
        self.err_path = tmp_path / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([str(MSDIGEST), "--config", str(config), "run"],
                                         stdout=out, stderr=err, env=env, cwd=tmp_path)

    @property
    def stdout(self) -> str:
        return self.out_path.read_text("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text("utf-8", "replace")

    def output(self) -> str:
        """stdout and stderr with rich's line wrapping undone."""
        return " ".join((self.stdout + "\n" + self.stderr).split())

    def wait_for(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                pytest.fail(f"service exited ({self.proc.returncode}) before {what}:\n"
                            f"{self.stdout}\n{self.stderr}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {timeout} s:\n{self.stdout}\n{self.stderr}")
            time.sleep(0.05)

    def wait_running(self, timeout: float = 15) -> None:
        self.wait_for(lambda: RUNNING in self.stdout, timeout, "'service running' line")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 10) -> None:
        """Signal it and check it stops cleanly: exit 0 and its stopping line."""
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"service still running {timeout} s after {sig.name}:\n{self.stdout}")
        assert code == 0, f"exit {code} after {sig.name}:\n{self.stdout}\n{self.stderr}"
        assert STOPPING in self.stdout

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[[Path], Service]]:
    """Start services; whatever is still running at the end is killed."""
    started: list[Service] = []

    def start(config: Path) -> Service:
        service = Service(config, tmp_path, f"service{len(started) + 1}")
        started.append(service)
        return service

    yield start
    for service in started:
        service.kill()


def runs(path: Path, started_by: StartedBy = StartedBy.SCHEDULE
         ) -> list[tuple[str, str | None]]:
    """(job, outcome) of every scheduled run so far (or every one by hand), oldest first."""
    with Store.open(path) as store:
        return [(r.job, r.outcome) for r in reversed(store.runs.recent(100))
                if r.started_by is started_by]


def import_subscribers(config: Path, tmp_path: Path) -> None:
    csv = tmp_path / "subscribers.csv"
    csv.write_text("email,name,themes,status\n"
                   "ana@example.org,Ana,,active\n"
                   "ben@example.org,Ben,exercise;gut_microbiome,active\n"
                   "cy@example.org,Cy,,unsubscribed\n", "utf-8")
    cfg = config_mod.load(config, env={})
    with Store.open(cfg.store_location) as store:
        report = import_file(store, csv, cfg.theme_ids)
    assert (report.new, report.errors) == (3, [])


# --- start and stop -------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_service_announces_next_runs_and_stops_cleanly(
        tmp_path: Path, services: Callable[[Path], Service], sig: signal.Signals) -> None:
    config = service_config(tmp_path)
    service = services(config)
    service.wait_running()
    year = datetime.now(UTC).year + (far_month() < datetime.now(UTC).month)
    for job, hour in (("collect", 3), ("send", 4)):
        assert re.search(rf"^{job}: next run {year}-{far_month():02d}-01 0{hour}:00 UTC$",
                         service.stdout, re.M), service.stdout
    service.stop(sig)
    assert runs(store_path(tmp_path)) == []
    # the jobs persist in the store with the same next run times
    assert {j: t.astimezone(UTC) for j, t in next_run_times(store_path(tmp_path)).items()} == {
        "collect": datetime(year, far_month(), 1, 3, tzinfo=UTC),
        "send": datetime(year, far_month(), 1, 4, tzinfo=UTC),
    }


# --- missed runs --------------------------------------------------------------------------


def test_missed_runs_are_caught_up_once_and_never_twice(
        tmp_path: Path, smtp_server: SmtpServer, services: Callable[[Path], Service]) -> None:
    config = service_config(tmp_path, smtp_server, grace_hours=12)
    import_subscribers(config, tmp_path)
    path = store_path(tmp_path)

    first = services(config)  # installs the jobs in the store
    first.wait_running()
    first.stop()
    assert runs(path) == []
    future = next_run_times(path)

    miss(path, timedelta(hours=1))
    assert all(t < datetime.now(UTC) for t in next_run_times(path).values())

    second = services(config)
    second.wait_running()
    period, _ = last_month()

    def both_finished() -> bool:
        done = runs(path)
        return len(done) >= 2 and all(outcome is not None for _, outcome in done)

    second.wait_for(both_finished, 15, "finished collect and send runs")
    time.sleep(0.5)  # a second (wrong) run would have started by now
    second.stop()
    assert sorted(runs(path)) == [("collect", "ok"), (f"send {period}", "ok")], second.output()
    # collect ran before send, so the issue holds everything the feed had
    assert [job for job, _ in runs(path)] == ["collect", f"send {period}"]
    received = sorted(r for m in smtp_server.handler.received for r in m.recipients)
    assert received == ACTIVE
    assert len(smtp_server.handler.received) == len(ACTIVE)
    for m in smtp_server.handler.received:
        assert "Summary 3" in m.message.get_body(("plain",)).get_content()
    # the next runs are the future cron times again
    assert next_run_times(path) == future

    third = services(config)
    third.wait_running()
    time.sleep(2)
    third.stop()
    assert len(runs(path)) == 2
    assert len(smtp_server.handler.received) == len(ACTIVE)
    assert next_run_times(path) == future


def test_run_missed_beyond_grace_time_is_skipped_with_a_warning(
        tmp_path: Path, services: Callable[[Path], Service]) -> None:
    config = service_config(tmp_path, grace_hours=1)
    path = store_path(tmp_path)
    first = services(config)
    first.wait_running()
    first.stop()

    miss(path, timedelta(days=2))
    service = services(config)
    service.wait_running()
    warned = re.compile(r"job (collect|send) missed its run at .*? \(beyond the grace time\)")
    service.wait_for(lambda: len(set(warned.findall(service.output()))) == 2, 10,
                     "missed-run warnings for both jobs")
    service.stop()
    assert runs(path) == []
    now = datetime.now(UTC)
    assert all(t > now for t in next_run_times(path).values())


class HeldFeed:
    """A real HTTP feed server that holds each request until released (a slow feed)."""

    def __init__(self, body: str) -> None:
        self.requested = threading.Event()
        self.release = threading.Event()
        held = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                held.requested.set()
                held.release.wait(15)
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/feed.rss"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_run_falling_due_while_stopping_is_kept_for_the_next_start(
        tmp_path: Path, services: Callable[[Path], Service]) -> None:
    """SIGTERM while collect is running; send falls due before collect finishes. The
    service must not run send then, nor drop it: it stays due for the next start."""
    _, mid = last_month()
    feed = HeldFeed(rss([{"title": "Held", "link": "https://t.example.org/held",
                          "guid": "urn:t:held", "date": rfc822(mid)}]))
    try:
        config = service_config(tmp_path)
        config.write_text(config.read_text("utf-8").replace(
            str(tmp_path / "feed.rss"), feed.url), "utf-8")
        path = store_path(tmp_path)
        first = services(config)
        first.wait_running()
        first.stop()

        miss(path, timedelta(minutes=5), ("collect",))
        send_due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
        with job_store(path) as sched:
            sched.modify_job("send", next_run_time=send_due)
        service = services(config)
        service.wait_running()
        assert feed.requested.wait(10), "collect did not fetch the feed"
        service.proc.send_signal(signal.SIGTERM)  # collect is still running
        service.wait_for(lambda: STOPPING in service.stdout, 5, "stopping line")
        time.sleep(max(0.0, (send_due - datetime.now(UTC)).total_seconds()) + 0.5)
        assert service.proc.poll() is None, "the service did not wait for collect"
        feed.release.set()
        assert service.proc.wait(timeout=10) == 0, service.output()
    finally:
        feed.close()
    assert runs(path) == [("collect", "ok")], service.output()
    assert next_run_times(path)["send"] == send_due
    assert "Error submitting job" not in service.output()


# --- sync_jobs ----------------------------------------------------------------------------


def test_sync_jobs_keeps_a_missed_run_unless_the_cron_changes(tmp_path: Path) -> None:
    config = service_config(tmp_path)
    cfg = config_mod.load(config, env={})

    def synced(cfg: config_mod.Config) -> dict[str, tuple[str, datetime, list[object]]]:
        sched = schedule.scheduler(cfg)
        sched.start(paused=True)
        try:
            schedule.sync_jobs(sched, cfg, str(config))
            return {job.id: (str(job.trigger), job.next_run_time.astimezone(UTC),
                             list(job.args)) for job in sched.get_jobs()}
        finally:
            sched.remove_jobstore("default")  # as serve() does: keep due runs due
            sched.shutdown()

    installed = synced(cfg)
    assert set(installed) == {"collect", "send"}
    assert all(args == [str(config)] for _, _, args in installed.values())

    missed_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    miss(store_path(tmp_path), timedelta(hours=1), ("send",))
    again = synced(cfg)  # unchanged config: the pending missed run survives
    assert again["collect"] == installed["collect"]
    assert again["send"][0] == installed["send"][0]
    assert abs(again["send"][1] - missed_at) < timedelta(seconds=5)
    assert next_run_times(store_path(tmp_path))["send"] == again["send"][1]  # still stored

    changed = config_mod.load(service_config(tmp_path, send="30 7 2 * *"), env={})
    after = synced(changed)
    assert after["collect"] == installed["collect"]
    trigger, when, _ = after["send"]
    assert trigger != installed["send"][0]
    assert "hour='7'" in trigger and "minute='30'" in trigger and "day='2'" in trigger
    assert when > datetime.now(UTC)
    assert (when.day, when.hour, when.minute) == (2, 7, 30)

    # the same crons in another time zone are a changed schedule too
    berlin = config_mod.load(service_config(tmp_path, send="30 7 2 * *",
                                            timezone="Europe/Berlin"), env={})
    moved = synced(berlin)
    assert {j: t for j, (t, _, _) in moved.items()} == {j: t for j, (t, _, _) in after.items()}
    for job_id in ("collect", "send"):
        assert moved[job_id][1] != after[job_id][1]
        local = moved[job_id][1].astimezone(berlin.tz)
        assert (local.hour, local.minute) == (after[job_id][1].hour, after[job_id][1].minute)


def test_the_bounces_job_is_scheduled_only_while_a_bounce_mailbox_is_set(
        tmp_path: Path) -> None:
    config = service_config(tmp_path)

    def jobs(cfg: config_mod.Config) -> dict[str, str]:
        sched = schedule.scheduler(cfg)
        sched.start(paused=True)
        try:
            schedule.sync_jobs(sched, cfg, str(config))
            return {job.id: str(job.trigger) for job in sched.get_jobs()}
        finally:
            sched.remove_jobstore("default")
            sched.shutdown()

    boxed = config_mod.load(config, env={}, overrides={
        "bounces": {"source": "maildir", "maildir": "Maildir"},
        "schedule": {"bounces": "5 * * * *"}})
    found = jobs(boxed)
    assert set(found) == {"collect", "send", "bounces"} and "minute='5'" in found["bounces"]
    assert set(jobs(config_mod.load(config, env={}))) == {"collect", "send"}  # unset: gone


# --- approval -----------------------------------------------------------------------------


def test_scheduled_send_refuses_an_unapproved_issue_and_says_so(
        tmp_path: Path, smtp_server: SmtpServer, services: Callable[[Path], Service]) -> None:
    from msdigest import editorial
    from msdigest.collect import collect_feed

    config = service_config(tmp_path, smtp_server, require_approval=True)
    import_subscribers(config, tmp_path)
    path = store_path(tmp_path)
    cfg = config_mod.load(config, env={})
    with Store.open(path) as store:
        collect_feed(store, cfg.feeds[0].url, cfg.base_dir, cfg.tz)
    period, _ = last_month()
    first = services(config)
    first.wait_running()
    first.stop()

    miss(path, timedelta(minutes=5), ("send",))
    second = services(config)
    second.wait_for(lambda: any(o for _, o in runs(path)), 15, "a finished send run")
    second.stop()
    assert runs(path) == [(f"send {period}", "refused")]
    assert f"the {period} issue has not been approved" in second.output()
    assert smtp_server.handler.received == []

    with Store.open(path) as store:
        editorial.approve(store, cfg, period, "Editor Eve")
    miss(path, timedelta(minutes=5), ("send",))
    third = services(config)
    third.wait_for(lambda: len([o for _, o in runs(path) if o]) == 2, 15, "a second send run")
    third.stop()
    assert runs(path)[-1] == (f"send {period}", "ok")
    assert len(smtp_server.handler.received) == len(ACTIVE)


# --- one scheduler, and a send that nothing holds up ---------------------------------------


def test_a_second_scheduler_on_the_same_store_is_refused(
        tmp_path: Path, services: Callable[[Path], Service]) -> None:
    config = service_config(tmp_path)
    first = services(config)
    first.wait_running()
    second = services(config)
    code = second.proc.wait(timeout=30)
    assert code == 4, second.output()
    assert "`msdigest run` on" in second.output() and "is already running" in second.output()
    assert "Traceback" not in second.stderr
    first.stop()  # the first one ran on, untouched


class DripHandler(http.server.BaseHTTPRequestHandler):
    """A feed server that sends a byte every 0.3 s: no read ever times out."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.end_headers()
        self.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel>')
        for _ in range(200):  # a minute at most, whatever the client does
            time.sleep(0.3)
            try:
                self.wfile.write(b" ")
                self.wfile.flush()
            except OSError:
                return

    def log_message(self, *args: object) -> None:
        pass


def test_a_feed_that_never_finishes_does_not_hold_up_the_monthly_send(
        tmp_path: Path, smtp_server: SmtpServer, services: Callable[[Path], Service]) -> None:
    drip = http.server.ThreadingHTTPServer(("127.0.0.1", 0), DripHandler)
    drip.daemon_threads = True
    threading.Thread(target=drip.serve_forever, daemon=True).start()
    try:
        config = service_config(tmp_path, smtp_server)
        text = config.read_text("utf-8")
        config.write_text(text + f'\n[[feeds]]\nurl = "http://127.0.0.1:{drip.server_port}/f"\n'
                          "\n[collect]\ntimeout = 2\n", "utf-8")
        import_subscribers(config, tmp_path)
        path = store_path(tmp_path)
        first = services(config)
        first.wait_running()
        first.stop()
        miss(path, timedelta(minutes=5))
        second = services(config)
        second.wait_for(lambda: len([o for _, o in runs(path) if o]) == 2, 30,
                        "finished collect and send runs")
        second.stop()
        period, _ = last_month()
        assert runs(path) == [("collect", "partial"), (f"send {period}", "ok")]
        with Store.open(path) as store:
            detail = store.runs.recent(10)[-1].detail
        assert "took longer than 2 s ([collect] timeout)" in detail
        assert len(smtp_server.handler.received) == len(ACTIVE)
    finally:
        drip.shutdown()
        drip.server_close()


def test_a_scheduled_send_during_a_hand_run_send_refuses_and_nobody_gets_it_twice(
        tmp_path: Path, services: Callable[[Path], Service]) -> None:
    import asyncio
    from collections import Counter

    from aiosmtpd.smtp import Envelope

    from .conftest import SmtpHandler, start_smtp

    class Slow(SmtpHandler):
        async def handle_DATA(self, server: object, session: object,
                              envelope: Envelope) -> str:
            await asyncio.sleep(0.02)
            return await super().handle_DATA(server, session, envelope)

    smtp = start_smtp(Slow())
    try:
        config = service_config(tmp_path, smtp)
        cfg = config_mod.load(config, env={})
        csv = tmp_path / "many.csv"
        csv.write_text("email,name,themes,status\n" + "".join(
            f"u{i:04d}@example.org,U {i},,active\n" for i in range(400)), "utf-8")
        with Store.open(cfg.store_location) as store:
            import_file(store, csv, cfg.theme_ids)
        path = store_path(tmp_path)
        first = services(config)  # collects nothing yet: installs the jobs
        first.wait_running()
        first.stop()
        env = {**os.environ, config_mod.ENV_SECRET: SECRET.decode()}
        subprocess.run([str(MSDIGEST), "--config", str(config), "collect"], env=env,
                       check=True, capture_output=True, timeout=60)
        period, _ = last_month()
        by_hand = subprocess.Popen([str(MSDIGEST), "--config", str(config), "send",
                                    "--period", str(period)], env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while len(smtp.handler.received) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        miss(path, timedelta(minutes=5), ("send",))
        service = services(config)
        service.wait_for(lambda: any(o for _, o in runs(path)), 20, "a finished send run")
        service.stop()
        err = by_hand.communicate(timeout=120)[1]
        assert by_hand.returncode == 0, err
        assert runs(path) == [(f"send {period}", "refused")]
        assert runs(path, StartedBy.MANUAL) == [("collect", "ok"), (f"send {period}", "ok")]
        assert "a send of the" in service.output() and "is already running" in service.output()
        counts = Counter(r.recipients[0] for r in smtp.handler.received)
        assert len(counts) == 400 and max(counts.values()) == 1
    finally:
        smtp.stop()
