"""Real parts for the tests: an SMTP server, an HTTP server for feeds, SQLite files and,
for tests marked `both_stores`, the same test again on a PostgreSQL database of its own."""

from __future__ import annotations

import email
import email.policy
import functools
import http.server
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, NoReturn

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from msdigest import config as config_mod
from msdigest.config import Config
from msdigest.demo import free_port
from msdigest.issue import draft
from msdigest.model import Issue
from msdigest.period import Period
from msdigest.store import Store

from . import pg

REPO = Path(__file__).resolve().parents[1]
SECRET = b"test-secret-key-0123456789-abcdefghijklmnop"  # 32 bytes or more, as required
# Real-world feeds from other projects' test suites, kept beside the project (not copied in)
CORPUS = REPO.parent / "shared" / "corpus" / "feeds"


def missing(what: str) -> NoReturn:
    """A real part this machine lacks: skip, saying what and why — except under CI=true,
    where `make test` provides every part, so a missing one is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what}; under CI=true this is a failure, not a skip")
    pytest.skip(what)


def corpus(name: str) -> Path:
    path = CORPUS / name
    if not path.is_file():
        missing(f"the real-world feed corpus is not at {CORPUS} (../shared/corpus beside "
                "the checkout)")
    return path


# --- SMTP ---------------------------------------------------------------------------------


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class SmtpHandler:
    """Accepts mail like a real relay; can refuse chosen recipients or fail at DATA."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> "550 ..." reply
    data_reply: Callable[[Envelope], str | None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if address.lower() in self.refuse:
            return self.refuse[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        if self.data_reply is not None:
            reply = self.data_reply(envelope)
            if reply:
                return reply
        data = envelope.original_content or b""
        with self.lock:
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos),
                                          data))
        return "250 Message accepted"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.recipients]


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: SmtpHandler
    controller: Controller

    running: bool = True

    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.running = False

    def start(self) -> None:
        """Start again on the same port (an aiosmtpd Controller runs only once)."""
        self.controller = Controller(self.handler, hostname=self.host, port=self.port)
        self.controller.start()
        self.running = True


def start_smtp(handler: SmtpHandler, **options: Any) -> SmtpServer:
    """An aiosmtpd server on 127.0.0.1 with this handler (options: TLS, AUTH...)."""
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    return SmtpServer("127.0.0.1", port, handler, controller)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = start_smtp(SmtpHandler())
    yield server
    server.stop()


# --- HTTP feeds ---------------------------------------------------------------------------


@dataclass
class FeedServer:
    root: Path
    url: str
    requests: list[tuple[str, dict[str, str]]]

    def put(self, name: str, body: str | bytes) -> str:
        path = self.root / name
        path.write_bytes(body.encode("utf-8") if isinstance(body, str) else body)
        return f"{self.url}/{name}"


@pytest.fixture
def feed_server(tmp_path: Path) -> Iterator[FeedServer]:
    root = tmp_path / "www"
    root.mkdir()
    seen: list[tuple[str, dict[str, str]]] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, dict(self.headers)))
            super().do_GET()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield FeedServer(root, f"http://127.0.0.1:{httpd.server_port}", seen)
    httpd.shutdown()
    httpd.server_close()


# --- a browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium, one per test module (see tests/chromium.py)."""
    from .chromium import browser
    yield from browser(tmp_path_factory.mktemp("chromium-profile"))


# --- config and store ---------------------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


def write_config(path: Path, tables: dict[str, dict[str, Any]],
                 feeds: list[str] | None = None) -> Path:
    lines = []
    for table, values in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
        lines.append("")
    for url in feeds or []:
        lines += ["[[feeds]]", f"url = {toml_value(url)}", ""]
    path.write_text("\n".join(lines), "utf-8")
    return path


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked both_stores runs once on SQLite and once on PostgreSQL."""
    if metafunc.definition.get_closest_marker("both_stores") and \
            "store_url" in metafunc.fixturenames:
        metafunc.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The store's URL: a SQLite file, or (parametrized) a fresh PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    pg.require()
    url = pg.create_database()
    try:
        yield url
    finally:
        pg.drop_database(url)


@pytest.fixture
def make_config(tmp_path: Path, store_url: str) -> Callable[..., Config]:
    def make(feeds: list[str] | None = None, smtp: SmtpServer | None = None,
             smtp_extra: dict[str, Any] | None = None, **tables: dict[str, Any]) -> Config:
        where = ({"path": str(tmp_path / "store.sqlite")} if store_url.startswith("sqlite:")
                 else {"url": store_url})
        given = tables.get("store", {})
        tables["store"] = given if "url" in given or "path" in given else {**where, **given}
        # Approval has tests of its own; elsewhere an issue may go out unapproved.
        tables.setdefault("digest", {"require_approval": False})
        if smtp is not None:
            tables["smtp"] = {"host": smtp.host, "port": smtp.port, "security": "none",
                              "retry_base_seconds": 0.01, **tables.get("smtp", {}),
                              **(smtp_extra or {})}
        elif smtp_extra:  # settings for a transport that is not a server
            tables["smtp"] = smtp_extra
        path = write_config(tmp_path / "digest.toml", tables, feeds)
        return config_mod.load(path, env={})
    return make


@pytest.fixture
def store(tmp_path: Path, store_url: str) -> Iterator[Store]:
    with Store.open(tmp_path / "store.sqlite" if store_url.startswith("sqlite:")
                    else store_url) as s:
        yield s


# --- feeds --------------------------------------------------------------------------------


def issue_of(store: Store, cfg: Config, period: Period | str) -> Issue:
    """The issue as subscribers would get it now (what the editor's views show)."""
    return draft(store, cfg, Period.parse(str(period))).issue


def rss(items: list[dict[str, str]], title: str = "Test summaries") -> str:
    """A small RSS 2.0 document; each item dict may hold title, link, guid, date, html."""
    parts = [f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
             f"<title>{title}</title><link>https://t.example.org/</link>"
             "<description>test</description>"]
    for it in items:
        parts.append("<item>")
        if "title" in it:
            parts.append(f"<title>{it['title']}</title>")
        if "link" in it:
            parts.append(f"<link>{it['link']}</link>")
        if "guid" in it:
            parts.append(f'<guid isPermaLink="false">{it["guid"]}</guid>')
        if "date" in it:
            parts.append(f"<pubDate>{it['date']}</pubDate>")
        parts.append(f"<description><![CDATA[{it.get('html', '<p>Text.</p>')}]]></description>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts)


def rfc822(dt: datetime) -> str:
    from email.utils import format_datetime
    return format_datetime(dt.astimezone(UTC))


def last_month(now: datetime | None = None) -> tuple[Period, datetime]:
    """The period before `now` and a datetime in its middle (for date-relative feeds)."""
    now = now or datetime.now(UTC)
    mid = (now.replace(day=1) - timedelta(days=1)).replace(day=15, hour=9, minute=0, second=0,
                                                          microsecond=0)
    return Period.of(mid), mid
