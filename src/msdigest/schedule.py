"""Schedule: the long-running service that collects daily and sends monthly.

Jobs live in an APScheduler job store inside the SQLite store, so the next run time
survives restarts: a run missed while the service was down is caught up once when
it starts again (if within `grace_hours`), and never twice — the store remembers
the next run time, and `send` itself never sends a subscriber the same issue twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from . import config as config_mod
from . import notices, timeline
from .bounces.check import check_recorded
from .collect import collect, limits_of, summarize
from .config import Config
from .cron import cron_trigger
from .errors import MsdigestError
from .period import Period
from .records import StartedBy
from .signals import stop_on_signals
from .store import Store
from .store.locks import exclusive, lock_file
from .store.runs import JOBS_TABLE

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class JobSpec:
    id: str
    func: str  # a textual reference, so the persistent job store can find it again
    cron: str


def job_specs(cfg: Config) -> tuple[JobSpec, ...]:
    jobs: tuple[JobSpec, ...] = (
        JobSpec("collect", "msdigest.schedule:collect_job", cfg.schedule.collect),
        JobSpec("send", "msdigest.schedule:send_job", cfg.schedule.send))
    if cfg.bounces.enabled:
        jobs += (JobSpec("bounces", "msdigest.schedule:bounces_job", cfg.schedule.bounces),)
    return jobs


def collect_job(config_path: str | None) -> str:
    """Collect, then whatever is due (timeline.tick): a send that waited for approval,
    the editors' review mail and reminder, a give-up."""
    cfg = config_mod.load(config_path)
    with Store.open(cfg.store_location) as store:
        detail = collect_now(store, cfg)
        for outcome in timeline.tick(store, cfg, datetime.now(cfg.tz), cfg.secret):
            record(store, outcome)
        return detail


def collect_now(store: Store, cfg: Config) -> str:
    """One collect, recorded and logged; ops told about feeds failing too long."""
    run = store.runs.start("collect")
    reports = collect(store, [f.url for f in cfg.feeds], cfg.base_dir, cfg.tz,
                      limits_of(cfg.collect))
    done = summarize(reports)
    ended = "partial" if done.failing else "ok"
    store.runs.finish(run, ended, done.detail, done.counts)
    say("collect", ended, done.line, done.counts)
    notices.feed_alerts(store, cfg)
    return done.detail


def send_job(config_path: str | None, period: str | None = None) -> str:
    """The send time: the month just ended (in the configured time zone) goes out if
    approved; if not, the collects after this try again (timeline.tick)."""
    cfg = config_mod.load(config_path)
    month = Period.parse(period) if period else timeline.period_at(datetime.now(cfg.tz), cfg)
    with Store.open(cfg.store_location) as store:
        return record(store, timeline.send_now(store, cfg, month, cfg.secret))


def bounces_job(config_path: str | None) -> str:
    """Read the bounce mailbox: hard bounces and complaints stop mail to the address."""
    cfg = config_mod.load(config_path)
    with Store.open(cfg.store_location) as store:
        return bounces_now(store, cfg)


def bounces_now(store: Store, cfg: Config) -> str:
    """One read of the bounce mailbox, recorded and logged."""
    try:
        done, _ = check_recorded(store, cfg, StartedBy.SCHEDULE)
    except MsdigestError as exc:  # recorded as the run's error; tried again next time
        say("bounces", "error", str(exc), {})
        return str(exc)
    say("bounces", "ok", done.line, done.counts)
    return done.line


def record(store: Store, outcome: timeline.Outcome) -> str:
    """A run in the store (what `status` lists), and its line in the log."""
    run = store.runs.start(outcome.job)
    store.runs.finish(run, outcome.outcome, outcome.detail, outcome.counts)
    say(outcome.job, outcome.outcome, outcome.detail, outcome.counts)
    return outcome.detail


def say(job: str, outcome: str, line: str, counts: dict[str, int]) -> None:
    """A job's outcome, one line in the log: "send 2026-10: 4,981 sent, 2 failed, ..."
    (INFO when it went well; a refusal or an error says so, at WARNING or ERROR)."""
    level = {"ok": logging.INFO, "partial": logging.WARNING, "refused": logging.WARNING}.get(
        outcome, logging.ERROR)
    text = line if outcome in ("ok", "partial") else f"{outcome}: {line}"
    log.log(level, "%s: %s", job, text, extra={"job": job, "outcome": outcome,
                                               "counts": counts})


def scheduler(cfg: Config) -> BackgroundScheduler:
    store_url = f"sqlite:///{Path(cfg.store_path).resolve()}"
    Store.open(cfg.store_location).close()  # create the file and WAL mode first
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=store_url, tablename=JOBS_TABLE)},
        # one job at a time, in the order they fell due: a caught-up send must not
        # compose the issue while the caught-up collect is still storing summaries
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        timezone=cfg.tz,
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": max(1, int(cfg.schedule.grace_hours * 3600))},
    )


def sync_jobs(sched: BackgroundScheduler, cfg: Config, config_path: str | None) -> None:
    """Make the stored jobs match the config without losing a pending missed run.

    (APScheduler's add_job(replace_existing=True) would recompute the next run time
    and so silently drop a run missed while the service was down.)
    """
    grace = max(1, int(cfg.schedule.grace_hours * 3600))
    wanted = job_specs(cfg)
    for job in sched.get_jobs():
        if job.id not in {spec.id for spec in wanted}:  # e.g. [bounces] source unset since
            log.info("no %s job any more", job.id)
            sched.remove_job(job.id)
    for spec in wanted:
        trigger = cron_trigger(spec.cron, cfg.tz)
        job = sched.get_job(spec.id)
        if job is None:
            sched.add_job(spec.func, trigger, id=spec.id, name=spec.id, args=[config_path],
                          misfire_grace_time=grace, coalesce=True, max_instances=1)
            continue
        if repr(job.trigger) != repr(trigger):  # str() leaves out the time zone
            log.info("schedule for %s changed to %r", spec.id, spec.cron)
            sched.reschedule_job(spec.id, trigger=trigger)
        sched.modify_job(spec.id, func=spec.func, args=[config_path], misfire_grace_time=grace)


def next_runs(sched: BackgroundScheduler) -> list[tuple[str, Any]]:
    return [(job.id, job.next_run_time) for job in sched.get_jobs()]


def _on_event(event: JobExecutionEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        log.warning("job %s missed its run at %s (beyond the grace time); waiting for the next",
                    event.job_id, event.scheduled_run_time)
    elif event.exception is not None:
        log.error("job %s failed: %s", event.job_id, event.exception)


def serve(cfg: Config, config_path: str | None, stop: threading.Event | None = None,
          announce: Callable[[str], Any] = print) -> None:
    """Run until SIGINT/SIGTERM (or `stop` is set); jobs in progress finish first."""
    with exclusive(lock_file(cfg.store_path, "scheduler"), f"`msdigest run` on {cfg.store_path}",
                   "one scheduler per store: stop the other one first, or give this one "
                   "its own [store] path"), \
            stop_on_signals(stop or threading.Event()) as stopping:
        _serve(cfg, config_path, stopping, announce)


def _serve(cfg: Config, config_path: str | None, stop: threading.Event,
           announce: Callable[[str], Any]) -> None:
    sched = scheduler(cfg)
    sched.add_listener(_on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    sched.start(paused=True)
    try:
        sync_jobs(sched, cfg, config_path)
        for job_id, when in next_runs(sched):
            announce(f"{job_id}: next run {when:%Y-%m-%d %H:%M %Z}")
        sched.resume()  # due runs, and missed ones within the grace time, start now
        announce("msdigest service running; Ctrl-C or SIGTERM stops it")
        stop.wait()
        announce("stopping: letting running jobs finish")
    finally:
        # Detach the job store first: APScheduler looks for due jobs once more while
        # shutting down, after its executor has stopped, and would move a run that fell
        # due meanwhile to the next cron time without running it. Left alone in the
        # store, that run is caught up at the next start.
        sched.remove_jobstore("default")
        sched.shutdown(wait=True)
