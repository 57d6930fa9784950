"""The engine for several hosts: `msdigest worker`, on procrastinate, in the PostgreSQL
database that holds the store.

Every host runs the same worker; the jobs wait in one queue beside the ledger:
- `msdigest.tick`, deferred every minute by every worker's periodic deferrer, which
  procrastinate makes one job per minute for the whole fleet. It is level-triggered:
  it asks what is due now, not what fired at 09:00, so a collect or a send is never
  skipped because every host was down at that minute (within `[schedule] grace_hours`).
  A collect runs once per due time, whichever tick gets there first (store.runs.take_due).
- `msdigest.send`: one share of an issue's send. `[worker] senders` of them are queued
  when an approved issue's time has come, and again if its rows are left with no live
  send job; they share the rows through leases (store.leases), on any host.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from . import config as config_mod
from . import schedule, timeline
from .config import Config
from .cron import last_fire
from .delivery.rows import sender_name
from .errors import ConfigError
from .period import Period
from .store import Store
from .store.postgres import ENV_PASSWORD

log = logging.getLogger(__name__)

TICK = "msdigest.tick"
SEND = "msdigest.send"
SCHEMA_LOCK = 7316204  # an advisory lock: one worker applies procrastinate's schema
# a send job counts as live while its worker's heartbeat is this recent (procrastinate
# beats every 10 s and calls a worker stalled after 30 s)
LIVE_SECONDS = 60


def requires_postgres(cfg: Config) -> None:
    if not cfg.store_location.postgres:
        raise ConfigError(f"{cfg.source}: [store] url: `msdigest worker` shares its jobs "
                          "through PostgreSQL; this store is a SQLite file "
                          f"({cfg.store_location}). On one host run `msdigest run`; for "
                          "several, set [store] url = \"postgresql://…\"")


def live_sends(store: Store, period: Period) -> int:
    """Send jobs of this issue waiting, or running on a worker that is alive."""
    row = store.db.one(
        """SELECT count(*) FROM procrastinate_jobs j
             LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
           WHERE j.task_name = ? AND j.args ->> 'period' = ?
             AND (j.status = 'todo' OR (j.status = 'doing' AND
                  w.last_heartbeat > clock_timestamp() - make_interval(secs => ?)))""",
        (SEND, str(period), LIVE_SECONDS))
    return int(row[0]) if row else 0


def tick(cfg: Config, store: Store, now: datetime,
         queue_send: Callable[[Period, int], bool]) -> list[str]:
    """What is due now, done once for the fleet; returns what it did, for the log."""
    did = []
    grace = timedelta(hours=cfg.schedule.grace_hours)
    me = sender_name()
    due = last_fire(cfg.schedule.collect, cfg.tz, now, grace)
    if due is not None and store.runs.take_due("collect", due, me):
        did.append(f"collect due {due:%Y-%m-%d %H:%M}: {schedule.collect_now(store, cfg)}")
    if cfg.bounces.enabled:
        due = last_fire(cfg.schedule.bounces, cfg.tz, now, grace)
        if due is not None and store.runs.take_due("bounces", due, me):
            did.append(f"bounces: {schedule.bounces_now(store, cfg)}")
    due = last_fire(cfg.schedule.send, cfg.tz, now, grace)
    if due is not None:  # the send time has come: from now on the tick sees it through
        store.audit.notice_once(timeline.period_at(due, cfg), timeline.DUE)

    def send_due(store: Store, cfg: Config, period: Period,
                 secret: bytes | None) -> timeline.Outcome | None:
        if secret is None:
            return timeline.Outcome(f"send {period}", "error", "MSDIGEST_SECRET is not set; "
                                    "cannot sign unsubscribe links")
        if live_sends(store, period):
            return None  # being sent (or about to be): nothing to add
        queued = sum(queue_send(period, slot) for slot in range(cfg.worker.senders))
        return timeline.Outcome(f"send {period}", "ok", f"{queued} send jobs queued")

    for outcome in timeline.tick(store, cfg, now, cfg.secret, send_due):
        did.append(schedule.record(store, outcome))
    return did


def send_share(cfg: Config, period: Period) -> str:
    """One send job: this worker's share of the issue (it joins any others running)."""
    with Store.open(cfg.store_location, pool_size=cfg.store.pool_size) as store:
        return schedule.record(store, timeline.send_now(store, cfg, period, cfg.secret))


def app_for(cfg: Config, config_path: str | None) -> Any:
    """The procrastinate app: its tasks, on the store's database."""
    try:
        import procrastinate
    except ImportError:
        raise ConfigError("`msdigest worker` needs procrastinate: pip install "
                          "'msdigest[postgres]'") from None
    password = os.environ.get(ENV_PASSWORD)
    connector = procrastinate.PsycopgConnector(
        conninfo=cfg.store.url, kwargs={"password": password} if password else {})
    app = procrastinate.App(connector=connector)

    @app.task(name=SEND, pass_context=False)
    def send_task(period: str, slot: int) -> None:
        send_share(config_mod.load(config_path), Period.parse(period))

    def queue_send(period: Period, slot: int) -> bool:
        try:
            send_task.configure(queueing_lock=f"send:{period}:{slot}").defer(
                period=str(period), slot=slot)
        except procrastinate.exceptions.AlreadyEnqueued:
            return False
        return True

    # queueing_lock: if every worker is busy, minutes do not pile up as waiting ticks
    @app.periodic(cron="* * * * *", periodic_id="tick")
    @app.task(name=TICK, queueing_lock="tick", pass_context=False)
    def tick_task(timestamp: int) -> None:
        now = max(datetime.now(UTC), datetime.fromtimestamp(timestamp, UTC))
        fresh = config_mod.load(config_path)  # the config as it is now, as `run` reads it
        with Store.open(fresh.store_location, pool_size=fresh.store.pool_size) as store:
            for line in tick(fresh, store, now, queue_send):
                log.debug("tick: %s", line)

    return app


def ensure_schema(cfg: Config, app: Any) -> None:
    """procrastinate's tables, created by the first worker to start (the others wait)."""
    with Store.open(cfg.store_location, pool_size=cfg.store.pool_size) as store, \
            store.transaction():
        store.db.execute(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
        if not store.db.has_table("procrastinate_jobs"):
            store.db.execute(app.schema_manager.get_schema())


def serve(cfg: Config, config_path: str | None, announce: Callable[[str], Any] = print) -> None:
    """Run a worker until SIGINT/SIGTERM; jobs in progress finish first."""
    requires_postgres(cfg)
    if not log.isEnabledFor(logging.DEBUG):  # each job's start and end: only with -v
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
    app = app_for(cfg, config_path)
    ensure_schema(cfg, app)
    name = f"{socket.gethostname()}:{os.getpid()}"
    announce(f"msdigest worker {name} on {cfg.store_location}: a tick every minute; "
             f"collect at {cfg.schedule.collect!r}, send at {cfg.schedule.send!r} "
             f"({cfg.schedule.timezone}); {cfg.worker.jobs} jobs at once. Ctrl-C stops.")
    app.run_worker(concurrency=cfg.worker.jobs, name=name, install_signal_handlers=True,
                   wait=True, delete_jobs="successful")
    announce("msdigest worker stopped")
