"""Demo: the whole pipeline on embedded defaults, with an SMTP server started in-process.

Everything goes into one new folder (store, preview, received messages) that is
kept afterwards, so a newcomer can open the files the demo names.
"""

from __future__ import annotations

import secrets
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from . import bundled, editorial, preview
from . import config as config_mod
from .collect import collect
from .delivery.report import Report
from .delivery.send import send
from .errors import UsageError
from .issue import draft
from .period import Period
from .store import Store
from .subscribers import ImportReport, import_file
from .unsubscribe import Signer


class SavingHandler:
    """aiosmtpd handler that saves each received message as an .eml file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self.lock = threading.Lock()
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        with self.lock:
            self.count += 1
            n = self.count
        to = envelope.rcpt_tos[0] if envelope.rcpt_tos else "unknown"
        data = envelope.original_content or envelope.content or b""
        (self.folder / f"{n:03d}-{to}.eml").write_bytes(
            data if isinstance(data, bytes) else data.encode())
        return "250 Message accepted for delivery"


@dataclass
class DemoResult:
    folder: Path
    period: Period
    collected: int
    imported: ImportReport
    themes: list[tuple[str, int]]
    preview: preview.PreviewFiles
    report: Report
    received: int
    inbox: Path


def free_port() -> int:
    """A free port on 127.0.0.1 (aiosmtpd's Controller cannot be started on port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def latest_period(store: Store, tz: Any) -> Period:
    newest = store.content.newest()
    assert newest is not None, "the bundled sample feed has summaries"
    return Period.of(newest.published.astimezone(tz))


def run(config_path: str | None = None, folder: Path | None = None) -> DemoResult:
    folder = folder or Path(tempfile.mkdtemp(prefix="msdigest-demo-"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot use {folder} for the demo: {exc.strerror}") from None
    # A config for exploring the demo's store afterwards (status, issue show, the desk).
    (folder / "digest.toml").write_text('[store]\npath = "demo.sqlite"\n', "utf-8")
    handler = SavingHandler(folder / "inbox")
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        cfg = config_mod.load(config_path, env={}, overrides={
            "store": {"path": str(folder / "demo.sqlite")},
            "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "username": ""},
        })
        with Store.open(cfg.store_location) as store:
            reports = collect(store, [f.url for f in cfg.feeds], cfg.base_dir, cfg.tz)
            imported = import_file(store, bundled.path("subscribers.example.csv"),
                                   cfg.theme_ids)
            period = latest_period(store, cfg.tz)
            edition = draft(store, cfg, period).edition
            issue = edition.issue
            secret = secrets.token_bytes(32)
            files = preview.write(edition, folder / "preview", Signer.of(cfg, secret))
            editorial.approve(store, cfg, period, "msdigest demo")
            report = send(store, cfg, period, secret)
        deadline = time.monotonic() + 10
        while handler.count < report.sent and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        controller.stop()
    return DemoResult(folder, period, sum(r.new for r in reports), imported,
                      [(s.title, len(s.items)) for s in issue.sections], files, report,
                      handler.count, handler.folder)
