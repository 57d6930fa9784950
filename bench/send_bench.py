"""Delivery benchmark: messages/s with 4 and 14 themes against the raw ceiling of the same
sink, CPU per message, the first message's delay, peak RSS, and the naive path.

    python bench/send_bench.py                      # 20,000 subscribers + 1,000 naive
    python bench/send_bench.py --full               # also 10k vs 100k memory, rate limit
    python bench/send_bench.py --child fast --themes 14 --port P --profile out.prof

Each measurement runs in a fresh child process (so peak RSS is that run's own) against
bench/sink.py, a bulk-reading SMTP sink in another process on 127.0.0.1. The theme runs
use a made-up issue whose summaries are spread evenly over the themes; subscribers pick
every theme (40 %) or a random subset.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import signal
import smtplib
import socket
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
# issue 11
TARGET_THEMES_RATIO = 0.80  # 14 themes / 4 themes
TARGET_CEILING_RATIO = 0.35  # 4 themes / the raw ceiling
TARGET_CPU_MS = 0.25
TARGET_FIRST_S = 1.0
SUMMARIES = 28  # in the issue of the theme runs: 2 per theme at 14, 7 at 4


# --- child: one measured run --------------------------------------------------------------

TERMS = ["aurora", "basalt", "cobalt", "dune", "ember", "fjord", "glacier", "harbor", "iris",
         "juniper", "kelp", "lagoon", "meadow", "nectar", "orchid", "prairie", "quartz"]
FILLER = ("Researchers followed a group of people with multiple sclerosis and report what "
          "changed over two years, what did not, and what it may mean for daily life. ")


def themes_table(n: int) -> dict[str, dict[str, Any]]:
    """n themes: n - 1 with one made-up term each, and the catch-all."""
    table: dict[str, dict[str, Any]] = {
        f"topic{i:02d}": {"title": f"{TERMS[i].title()} research", "terms": [TERMS[i]]}
        for i in range(n - 1)}
    table["other"] = {"title": "Other research", "terms": []}
    return table


def feed(n_themes: int, summaries: int) -> str:
    """An RSS feed of `summaries` in PERIOD, spread evenly over the themes."""
    items = []
    for i in range(summaries):
        term = TERMS[i % n_themes] if i % n_themes < n_themes - 1 else "general"
        items.append(f"<item><title>Study {i + 1} on {term} in people with MS</title>"
                     f"<link>https://summaries.example.org/s/{i + 1}</link>"
                     f'<guid isPermaLink="false">bench-{i}</guid>'
                     f"<pubDate>{(i % 27) + 1:02d} Sep 2026 09:00:00 +0000</pubDate>"
                     f"<description><![CDATA[<p>{FILLER * 3}</p>]]></description></item>")
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            "<title>Bench</title><link>https://summaries.example.org/</link>"
            "<description>bench</description>" + "".join(items) + "</channel></rss>")


def setup(args: argparse.Namespace, folder: Path, concurrency: int) -> Any:
    from msdigest import config, editorial
    from msdigest.collect import collect_feed
    from msdigest.period import Period
    from msdigest.store import Store

    overrides: dict[str, Any] = {
        "store": {"path": str(folder / "bench.sqlite")},
        "smtp": {"host": "127.0.0.1", "port": args.port, "security": "none", "username": "",
                 "concurrency": concurrency, "max_per_second": args.max_per_second},
    }
    source = "msdigest:sample-feed.xml"
    if args.themes:
        overrides["themes"] = themes_table(args.themes)
        source = str(folder / "feed.xml")
        Path(source).write_text(feed(args.themes, args.summaries), "utf-8")
    cfg = config.load(None, env={}, overrides=overrides)
    store = Store.open(cfg.store_path)
    collect_feed(store, source, cfg.base_dir, cfg.tz)
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
              stamp, stamp) for i in range(args.subscribers)))
    editorial.approve(store, cfg, Period.parse(PERIOD), "bench")
    return cfg, store


def child_fast(args: argparse.Namespace) -> dict[str, Any]:
    from msdigest.delivery.send import send
    from msdigest.period import Period

    with tempfile.TemporaryDirectory() as tmp:
        cfg, store = setup(args, Path(tmp), args.concurrency)
        before = resource.getrusage(resource.RUSAGE_SELF)
        began = time.monotonic()
        started = time.perf_counter()
        if args.profile:
            import cProfile
            cProfile.runctx("send(store, cfg, Period.parse(PERIOD), b'bench-secret')",
                            globals(), locals(), args.profile)
            report = store.ledger.counts(Period.parse(PERIOD))
            sent = sum(n for state, n in report.items() if str(state) == "sent")
        else:
            sent = send(store, cfg, Period.parse(PERIOD), b"bench-secret").sent
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return {"sent": sent, "seconds": seconds, "rate": sent / seconds, "began": began,
                "cpu_ms": cpu * 1000 / max(sent, 1), "rss_mb": after.ru_maxrss / 1024}


def raw_sender(port: int, messages: list[tuple[str, bytes]], pipelining: bool) -> None:
    """What a client that does nothing but SMTP takes: prebuilt, dot-stuffed bytes."""
    sock = socket.create_connection(("127.0.0.1", port))
    reader = sock.makefile("rb")

    def reply() -> bytes:
        while (line := reader.readline())[3:4] == b"-":
            pass
        return line

    reply()
    sock.sendall(b"EHLO bench\r\n")
    reply()
    for rcpt, data in messages:
        envelope = b"MAIL FROM:<digest@summaries.example.org>\r\nRCPT TO:<" + \
            rcpt.encode() + b">\r\nDATA\r\n"
        if pipelining:
            sock.sendall(envelope)
            reply(), reply(), reply()
        else:
            for command in envelope.splitlines(keepends=True):
                sock.sendall(command)
                reply()
        sock.sendall(data)
        reply()
    sock.sendall(b"QUIT\r\n")
    reply()
    sock.close()


def child_ceiling(args: argparse.Namespace) -> dict[str, Any]:
    """The same sink's limit: the issue's messages built beforehand, sent over as many
    raw SMTP connections by threads that do nothing else."""
    import threading

    from msdigest.delivery.rows import DryRows
    from msdigest.delivery.run import Policy
    from msdigest.delivery.send import _run
    from msdigest.issue import for_sending
    from msdigest.period import Period

    with tempfile.TemporaryDirectory() as tmp:
        cfg, store = setup(args, Path(tmp), args.concurrency)
        period = Period.parse(PERIOD)
        d = for_sending(store, cfg, period)
        run = _run(cfg, d.edition, DryRows(store, period, sender_of(d)), b"bench-secret", None,
                   Policy.of(cfg.smtp))
        built = []
        for job in run.rows.jobs():
            if run.variants.has_content(job.sub):
                data = run.variants.message(job.sub, job.msgid)
                data = re.sub(rb"(?m)^\.", b"..", data) + b".\r\n"
                built.append((job.sub.email, data))
            if len(built) >= 500:
                break
        total = args.subscribers
        per = [[built[i % len(built)] for i in range(c, total, args.concurrency)]
               for c in range(args.concurrency)]
        threads = [threading.Thread(target=raw_sender, args=(args.port, m, args.pipelining))
                   for m in per]
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        octets = sum(len(m[1]) for p in per for m in p)
        return {"sent": total, "seconds": seconds, "rate": total / seconds,
                "cpu_ms": cpu * 1000 / total, "octets": octets / total,
                "rss_mb": after.ru_maxrss / 1024}


def sender_of(d: Any) -> Any:
    from msdigest.message import Sender
    return Sender.of(d.edition.look.site)


def child_naive(args: argparse.Namespace) -> dict[str, Any]:
    """Everything per subscriber: render, premailer, MIME, and a new connection."""
    from msdigest.clock import system_clock
    from msdigest.issue import draft
    from msdigest.message import Sender, build
    from msdigest.period import Period
    from msdigest.render import render
    from msdigest.unsubscribe import Signer

    with tempfile.TemporaryDirectory() as tmp:
        cfg, store = setup(args, Path(tmp), 1)
        edition = draft(store, cfg, Period.parse(PERIOD)).edition
        issue = edition.issue
        sender = Sender.of(cfg.site)
        signer = Signer.of(cfg, b"bench-secret")
        when = system_clock()
        subs = list(store.subscribers.active())
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        sent = 0
        for sub in subs:
            if not any(s.items for s in issue.for_themes(sub.themes)):
                continue
            rendered = render(edition, sub.themes)
            msg = build(sender, rendered, sub, signer.links(sub.email),
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


def measure(kind: str, subscribers: int, concurrency: int, max_per_second: float = 0,
            themes: int = 0, summaries: int = SUMMARIES, extra: tuple[str, ...] = ()
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
                 "--port", str(port), "--themes", str(themes), "--summaries", str(summaries),
                 *extra], capture_output=True, text=True,
                env={**os.environ, "PYTHONHASHSEED": "0"})
            if run.returncode != 0:
                raise RuntimeError(f"{kind} run failed:\n{run.stderr}")
            result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
        finally:
            sink.send_signal(signal.SIGTERM)
            out, _ = sink.communicate(timeout=30)
        result["sink"] = json.loads(out.strip().splitlines()[-1])
        if result["sink"]["messages"] != result["sent"]:
            raise RuntimeError(f"the sink received {result['sink']['messages']} messages, "
                               f"the sender reports {result['sent']}")
        return result


def best(runs: int, *args: Any, **kwargs: Any) -> tuple[dict[str, Any], list[float]]:
    """The fastest of `runs` runs, and every rate (other work may share the cores)."""
    results = [measure(*args, **kwargs) for _ in range(runs)]
    return max(results, key=lambda r: r["rate"]), [r["rate"] for r in results]


def line(label: str, value: str, target: str = "", ok: bool | None = None) -> None:
    mark = "" if ok is None else ("  PASS" if ok else "  FAIL")
    print(f"  {label:<44} {value:>24}  {target}{mark}", flush=True)


def spread(rates: list[float]) -> str:
    return f"{min(rates):,.0f}–{max(rates):,.0f}" if len(rates) > 1 else ""


def themes_and_ceiling(args: argparse.Namespace) -> bool:
    """Issue 11: 4 and 14 themes, the raw ceiling, CPU per message, first message."""
    n, c, runs = args.subscribers, args.concurrency, args.runs
    print(f"\nthemes and the machine's limit: {n:,} subscribers, a random subset of themes each,"
          f" an issue of {SUMMARIES} summaries, best of {runs}")
    four, four_rates = best(runs, "fast", n, c, themes=4)
    many, many_rates = best(runs, "fast", n, c, themes=14)
    ceiling, ceiling_rates = best(runs, "ceiling", n, c, themes=4, extra=("--pipelining",))
    size = ceiling["octets"] / 1024
    line("4 themes, messages/s", f"{four['rate']:,.0f} ({spread(four_rates)})")
    line("14 themes, messages/s", f"{many['rate']:,.0f} ({spread(many_rates)})")
    line(f"raw ceiling, prebuilt {size:.0f} KB, {c} connections",
         f"{ceiling['rate']:,.0f} ({spread(ceiling_rates)})")
    ratio_themes = many["rate"] / four["rate"]
    ratio_ceiling = four["rate"] / ceiling["rate"]
    cpu = min(four["cpu_ms"], many["cpu_ms"])
    checks = [ratio_themes >= TARGET_THEMES_RATIO, ratio_ceiling >= TARGET_CEILING_RATIO,
              four["cpu_ms"] <= TARGET_CPU_MS]
    line("14 themes / 4 themes", f"{ratio_themes:.0%}", f">= {TARGET_THEMES_RATIO:.0%}",
         checks[0])
    line("4 themes / raw ceiling", f"{ratio_ceiling:.0%}", f">= {TARGET_CEILING_RATIO:.0%}",
         checks[1])
    line("sender CPU per message, 4 / 14 themes",
         f"{four['cpu_ms']:.3f} / {many['cpu_ms']:.3f} ms", f"<= {TARGET_CPU_MS} ms", checks[2])
    line("raw client CPU per message", f"{ceiling['cpu_ms']:.3f} ms")
    del cpu
    first = measure("fast", n, c, themes=14, summaries=60)
    first_s = first["sink"]["first"] - first["began"]
    checks.append(first_s < TARGET_FIRST_S)
    line("send start → first message accepted, 60 summaries, 14 themes", f"{first_s:.2f} s",
         f"< {TARGET_FIRST_S:.0f} s", checks[-1])
    return all(checks)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subscribers", type=int, default=20000)
    p.add_argument("--sample", type=int, default=1000, help="subscribers for the naive path")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--runs", type=int, default=3, help="runs of each rate, the best counts")
    p.add_argument("--full", action="store_true",
                   help="also: peak RSS at 10,000 vs 100,000, and the rate limit")
    p.add_argument("--child", choices=("fast", "naive", "ceiling"), help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--max-per-second", type=float, default=0, help=argparse.SUPPRESS)
    p.add_argument("--themes", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--summaries", type=int, default=SUMMARIES, help=argparse.SUPPRESS)
    p.add_argument("--pipelining", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--profile", default="", help="child only: write a cProfile here")
    args = p.parse_args()
    if args.child:
        result = {"fast": child_fast, "naive": child_naive, "ceiling": child_ceiling}[
            args.child](args)
        print(json.dumps(result))
        return 0

    print(f"msdigest send benchmark — {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"{args.concurrency} SMTP connections, a sink in another process on 127.0.0.1")
    ok = themes_and_ceiling(args)

    fast = measure("fast", args.subscribers, args.concurrency)
    print(f"\nthe bundled sample issue ({PERIOD}, 5 themes), {args.subscribers:,} subscribers")
    good = fast["rate"] >= TARGET_RATE
    ok &= good
    line("messages/s end to end", f"{fast['rate']:,.0f}", f">= {TARGET_RATE:,.0f}", good)
    line("sender CPU per message", f"{fast['cpu_ms']:.3f} ms")
    naive = measure("naive", args.sample, 1)
    ratio = fast["rate"] / naive["rate"]
    good = ratio >= TARGET_RATIO
    ok &= good
    print(f"\nnaive path (render + premailer + MIME per subscriber, a connection per message),"
          f" {args.sample:,} subscribers")
    line("messages/s end to end", f"{naive['rate']:,.1f}")
    line("sender CPU per message", f"{naive['cpu_ms']:.2f} ms")
    line("pieces / naive", f"{ratio:,.1f}x", f">= {TARGET_RATIO:.0f}x", good)

    if args.full:
        print("\npeak RSS as the list grows (14 themes)")
        small = measure("fast", 10000, args.concurrency, themes=14)
        large = measure("fast", 100000, args.concurrency, themes=14)
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
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
