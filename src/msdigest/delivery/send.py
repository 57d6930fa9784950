"""The ways into a send: the real one (ledger, freeze, SMTP), a dry run into an outbox,
and a test send to a few addresses. All three are one SendRun over other rows."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

from .. import editorial
from ..addresses import normalize
from ..clock import Clock, system_clock
from ..config import Config
from ..issue import for_sending, freeze
from ..message import Sender
from ..model import Edition
from ..period import Period
from ..render import render
from ..store import Store
from ..store.locks import exclusive, lock_file
from ..unsubscribe import Signer
from .pacing import SharedLimiter
from .report import Report
from .rows import DryRows, LedgerRows, Rows, TestRows
from .run import Pacer, Policy, Progress, SendRun
from .smtp import SmtpTransport
from .transport import Outbox, Transport
from .variants import Variants

Connect = Callable[[], Transport]


def _run(cfg: Config, edition: Edition, rows: Rows, secret: bytes, connect: Connect | None,
         policy: Policy | None = None, progress: Progress | None = None,
         stop: threading.Event | None = None, clock: Clock = system_clock,
         subject_prefix: str = "", limiter: Pacer | None = None) -> SendRun:
    # the From, Reply-To and List-Id an edition goes out with are frozen with it, too
    sender = Sender.of(edition.look.site)
    variants = Variants(edition, sender, Signer.of(cfg, secret), clock(), subject_prefix)
    return SendRun(rows, variants, connect or (lambda: SmtpTransport(cfg.smtp)),
                   policy or Policy.of(cfg.smtp), progress, stop, clock, limiter)


def send(store: Store, cfg: Config, period: Period, secret: bytes,
         progress: Progress | None = None, stop: threading.Event | None = None,
         connect: Connect | None = None, clock: Clock = system_clock) -> Report:
    """Send the issue to everyone who has not had it; safe to run again. Checks the
    approval, then freezes the content: every subscriber gets the same edition. On
    PostgreSQL any number of these share the issue (leased rows); on SQLite one sender
    per issue runs, and a second is refused (the lock beside the store)."""
    alone = store.where.path is not None
    with exclusive(lock_file(store.path, f"send-{period}"), f"a send of the {period} issue",
                   "it carries on until everyone has the issue; `msdigest status --period "
                   f"{period}` shows how far it is") if alone else nullcontext():
        d = for_sending(store, cfg, period)
        editorial.check(store, d, cfg.digest.require_approval)
        if not d.frozen:
            render(d.edition)  # a template that cannot render must not be frozen in
        edition = freeze(store, d)
        rows = LedgerRows(store, period, Sender.of(edition.look.site),
                          cfg.store.lease_seconds, alone)
        # several senders share the relay's limits through the database; one alone
        # paces itself
        limiter = None if alone else SharedLimiter(store.budget, cfg.smtp.max_per_second,
                                                   cfg.smtp.max_per_hour)
        return _run(cfg, edition, rows, secret, connect, None, progress, stop, clock,
                    limiter=limiter).run()


def dry_run(store: Store, cfg: Config, period: Period, secret: bytes, outbox: Path,
            progress: Progress | None = None) -> Report:
    """Write the .eml files send would deliver now, into `outbox`; records nothing."""
    d = for_sending(store, cfg, period)
    box = Outbox(outbox)
    box.prepare()
    rows = DryRows(store, period, Sender.of(d.edition.look.site))
    policy = replace(Policy.of(cfg.smtp), concurrency=1, max_per_second=0, max_per_hour=0,
                     max_attempts=1)
    report = _run(cfg, d.edition, rows, secret, box.connection, policy, progress).run()
    report.written = list(box.written)
    return report


def send_test(store: Store, cfg: Config, period: Period, secret: bytes, addresses: list[str],
              connect: Connect | None = None) -> list[tuple[str, str]]:
    """Send the issue to these addresses only, subject marked [TEST]; never in the ledger,
    never frozen. Returns (address, "sent" or the reason) per address."""
    wanted = [normalize(a) for a in addresses]
    d = for_sending(store, cfg, period)
    rows = TestRows(store, period, Sender.of(d.edition.look.site), wanted)
    # one try each, at once: the editor is waiting for the answer, not for a retry
    policy = replace(Policy.of(cfg.smtp), concurrency=1, max_attempts=1, max_per_second=0,
                     max_per_hour=0)
    report = _run(cfg, d.edition, rows, secret, connect, policy,
                  subject_prefix="[TEST] ").run()
    return [(a, rows.results.get(a, f"not sent: {report.stopped or 'interrupted'}"))
            for a in wanted]
