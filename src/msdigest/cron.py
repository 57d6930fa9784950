"""Crontab lines as cron means them, for APScheduler 3 (which counts weekdays differently)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger

DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_trigger(expr: str, tz: tzinfo) -> CronTrigger:
    """APScheduler 3 counts day-of-week from Monday = 0, crontab from Sunday = 0, so
    numeric weekdays are turned into names first. ValueError if `expr` is not cron."""
    fields = expr.split()
    if len(fields) == 5 and re.search(r"\d", fields[4]):
        if "/" in fields[4]:
            raise ValueError("write stepped weekdays by name, e.g. mon-fri or mon,wed,fri")
        fields[4] = re.sub(r"\d+", lambda m: DAYS[int(m.group())] if int(m.group()) < 8
                           else m.group(), fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=tz)


def last_fire(expr: str, tz: tzinfo, now: datetime, within: timedelta) -> datetime | None:
    """The latest time at or before `now`, and no longer ago than `within`, at which
    `expr` fired (None: none). What a level-triggered tick asks: is a run due?"""
    trigger = cron_trigger(expr, tz)
    fire = trigger.get_next_fire_time(None, now - within)
    last = None
    for _ in range(100_000):  # a minutely cron over a long grace, at most
        if fire is None or fire > now:
            break
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return last
