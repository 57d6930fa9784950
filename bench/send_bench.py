"""Delivery benchmark: prints messages/s, CPU per message and peak RSS, and the naive path.

    python bench/send_bench.py                      # 20,000 subscribers + 1,000 naive
    python bench/send_bench.py --subscribers 100000
    python bench/send_bench.py --full               # also 10k vs 100k memory, rate limit

Each measurement runs in a fresh child process (so peak RSS is that run's own) against
bench/sink.py, a bulk-reading SMTP sink in another process on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PERIOD = "2026-09"  # the bundled sample feed's fullest month

TARGET_RATE = 1000.0
TARGET_RATIO = 15.0
TARGET_RSS_MB = 150.0
TARGET_RSS_GROWTH = 0.20
TARGET_RATE_LIMIT_ERROR = 0.05


# --- child: one measured run --------------------------------------------------------------


def setup(n: int, port: int, concurrency: int, max_per_second: float, folder: Path) -> Any:
    from msdigest import config, editorial
    from msdigest.collect import collect_feed
    from msdigest.period import Period
    from msdigest.store import Store

    cfg = config.load(None, env={}, overrides={
        "store": {"path": str(folder / "bench.sqlite")},
        "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "username": "",
                 "concurrency": concurrency, "max_per_second": max_per_second},
    })
    store = Store.open(cfg.store_path)
    collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
    rng = random.Random(42)
    themes = list(cfg.theme_ids)

    def choice() -> str:
        if rng.random() < 0.4:
            return ""  # everything
        return ";".join(sorted(rng.sample(themes, rng.randint(1, len(themes) - 1))))

    stamp = "2026-01-01T00:00:00+00:00"
    with store.transaction():
        store.db.executemany(
            "INSERT INTO subscribers (email, name, themes, status, source, created_at, "
            "changed_at) VALUES (?,?,?,?,?,?,?)",
            ((f"reader{i:07d}@example.org", f"Reader {i}", choice(), "active", "bench",
              stamp, stamp) for i in range(n)))
    editorial.approve(store, cfg, Period.parse(PERIOD), "bench")
    return cfg, store


def child_fast(args: argparse.Namespace) -> dict[str, Any]:
    from msdigest.delivery.send import send
    from msdigest.period import Period

    with tempfile.TemporaryDirectory() as tmp:
        cfg, store = setup(args.subscribers, args.port, args.concurrency, args.max_per_second,
                           Path(tmp))
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        report = send(store, cfg, Period.parse(PERIOD), b"bench-secret")
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return {"sent": report.sent, "skipped": report.skipped, "failed": report.failed,
                "seconds": seconds, "rate": report.sent / seconds,
                "cpu_ms": cpu * 1000 / max(report.sent, 1),
                "rss_mb": after.ru_maxrss / 1024}


def child_naive(args: argparse.Namespace) -> dict[str, Any]:
    """Everything per subscriber: render, premailer, MIME, and a new connection."""
    from msdigest.clock import system_clock
    from msdigest.issue import draft
    from msdigest.message import Sender, build
    from msdigest.period import Period
    from msdigest.render import render
    from msdigest.unsubscribe import links

    with tempfile.TemporaryDirectory() as tmp:
        cfg, store = setup(args.subscribers, args.port, 1, 0, Path(tmp))
        edition = draft(store, cfg, Period.parse(PERIOD)).edition
        issue = edition.issue
        sender = Sender.of(cfg.site)
        when = system_clock()
        subs = list(store.subscribers.active())
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        sent = 0
        for sub in subs:
            if not any(s.items for s in issue.for_themes(sub.themes)):
                continue
            rendered = render(edition, sub.themes)
            msg = build(sender, rendered, sub, links(cfg, b"bench-secret", sub.email),
                        sender.message_id(PERIOD, sub.email), when)
            conn = smtplib.SMTP("127.0.0.1", args.port, timeout=30)
            conn.sendmail("digest@summaries.example.org", [sub.email], msg.as_bytes())
            conn.quit()
            sent += 1
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return {"sent": sent, "seconds": seconds, "rate": sent / seconds,
                "cpu_ms": cpu * 1000 / max(sent, 1), "rss_mb": after.ru_maxrss / 1024}


# --- parent: orchestrate, print ---------------------------------------------------------


def measure(kind: str, subscribers: int, concurrency: int, max_per_second: float = 0
            ) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        sink = subprocess.Popen([sys.executable, str(HERE / "sink.py"), str(port_file)],
                                stdout=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 10
            while not (port_file.exists() and port_file.read_text()):
                if time.monotonic() > deadline:
                    raise RuntimeError("the SMTP sink did not start")
                time.sleep(0.05)
            port = int(port_file.read_text())
            run = subprocess.run(
                [sys.executable, __file__, "--child", kind, "--subscribers", str(subscribers),
                 "--concurrency", str(concurrency), "--max-per-second", str(max_per_second),
                 "--port", str(port)], capture_output=True, text=True,
                env={**os.environ, "PYTHONHASHSEED": "0"})
            if run.returncode != 0:
                raise RuntimeError(f"{kind} run failed:\n{run.stderr}")
            result = json.loads(run.stdout.strip().splitlines()[-1])
        finally:
            sink.send_signal(signal.SIGTERM)
            out, _ = sink.communicate(timeout=30)
        result["sink"] = json.loads(out.strip().splitlines()[-1])
        if result["sink"]["messages"] != result["sent"]:
            raise RuntimeError(f"the sink received {result['sink']['messages']} messages, "
                               f"the sender reports {result['sent']}")
        return result


def line(label: str, value: str, target: str = "", ok: bool | None = None) -> None:
    mark = "" if ok is None else ("  PASS" if ok else "  FAIL")
    print(f"  {label:<44} {value:>22}  {target}{mark}", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subscribers", type=int, default=20000)
    p.add_argument("--sample", type=int, default=1000, help="subscribers for the naive path")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--full", action="store_true",
                   help="also: peak RSS at 10,000 vs 100,000, and the rate limit")
    p.add_argument("--child", choices=("fast", "naive"), help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--max-per-second", type=float, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        result = (child_fast if args.child == "fast" else child_naive)(args)
        print(json.dumps(result))
        return 0

    print(f"msdigest send benchmark — {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"issue {PERIOD} of the sample feed, {args.concurrency} SMTP connections")
    ok = True
    fast = measure("fast", args.subscribers, args.concurrency)
    print(f"\nprepared path, {args.subscribers:,} subscribers")
    good = fast["rate"] >= TARGET_RATE
    ok &= good
    line("messages sent", f"{fast['sent']:,}")
    line("messages/s end to end", f"{fast['rate']:,.0f}", f">= {TARGET_RATE:,.0f}", good)
    line("sender CPU per message", f"{fast['cpu_ms']:.3f} ms")
    line("sender peak RSS", f"{fast['rss_mb']:.1f} MB")
    line("sink connections", f"{fast['sink']['connections']:,}")

    naive = measure("naive", args.sample, 1)
    ratio = fast["rate"] / naive["rate"]
    good = ratio >= TARGET_RATIO
    ok &= good
    print(f"\nnaive path (render + premailer + MIME per subscriber, a connection per message),"
          f" {args.sample:,} subscribers")
    line("messages/s end to end", f"{naive['rate']:,.1f}")
    line("sender CPU per message", f"{naive['cpu_ms']:.2f} ms")
    line("prepared / naive", f"{ratio:,.1f}x", f">= {TARGET_RATIO:.0f}x", good)

    if args.full:
        print("\npeak RSS as the list grows")
        small = measure("fast", 10000, args.concurrency)
        large = measure("fast", 100000, args.concurrency)
        growth = large["rss_mb"] / small["rss_mb"] - 1
        good_abs = large["rss_mb"] <= TARGET_RSS_MB
        good_growth = growth <= TARGET_RSS_GROWTH
        ok &= good_abs and good_growth
        line("10,000 subscribers", f"{small['rss_mb']:.1f} MB ({small['rate']:,.0f}/s)")
        line("100,000 subscribers", f"{large['rss_mb']:.1f} MB ({large['rate']:,.0f}/s)",
             f"<= {TARGET_RSS_MB:.0f} MB", good_abs)
        line("growth 10k → 100k", f"{growth:+.1%}", f"<= {TARGET_RSS_GROWTH:.0%}", good_growth)

        print("\nrate limit ([smtp] max_per_second)")
        for limit in (200.0, 500.0):
            limited = measure("fast", int(limit * 6), args.concurrency, limit)
            sink = limited["sink"]  # as the server sees it, first message to last
            achieved = (sink["messages"] - 1) / sink["seconds"]
            error = abs(achieved / limit - 1)
            good = error <= TARGET_RATE_LIMIT_ERROR
            ok &= good
            line(f"limit {limit:,.0f}/s, {int(limit * 6):,} messages",
                 f"{achieved:,.1f}/s ({error:.1%} off)",
                 f"within {TARGET_RATE_LIMIT_ERROR:.0%}", good)
    elif args.subscribers >= 100000:
        good = fast["rss_mb"] <= TARGET_RSS_MB
        ok &= good
        line("peak RSS at this size", f"{fast['rss_mb']:.1f} MB", f"<= {TARGET_RSS_MB:.0f} MB",
             good)
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
