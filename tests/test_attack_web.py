"""The link pages under hostile HTTP (report rows W7, W9, W10, W11, W12): a real server on
127.0.0.1 and raw sockets that send what a browser never would — HEAD, bad or lying
Content-Lengths, huge bodies, connections that never finish their request."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.model import SubscriberStatus
from msdigest.store import Store
from msdigest.subscribers import import_file
from msdigest.unsubscribe import make_token
from msdigest.web import http as web_http
from msdigest.web.http import QuietHandler, ThreadingServer
from msdigest.web.links import MAX_BODY, server

from .conftest import REPO, SECRET

ANA = "ana.silva@example.org"
BOUND = 15.0  # seconds: "answered", as opposed to "hangs"; not a speed requirement


@dataclass
class Site:
    cfg: Config
    host: str
    port: int

    def status_of(self, email: str) -> SubscriberStatus:
        with Store.open(self.cfg.store_path, readonly=True) as store:
            sub = store.subscribers.get(email)
            assert sub is not None
            return sub.status

    def connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=BOUND)


@pytest.fixture
def site(make_config: Callable[..., Config]) -> Iterator[Site]:
    cfg = make_config()
    with Store.open(cfg.store_path) as store:
        collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
        import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
    httpd = server(cfg, SECRET, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield Site(cfg, "127.0.0.1", httpd.server_port)
    httpd.shutdown()
    httpd.server_close()
    thread.join(BOUND)


@pytest.fixture
def quick_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    """A client that stalls is dropped after 1 s instead of CLIENT_TIMEOUT (for speed;
    test_stalled_clients_have_a_finite_timeout_by_default checks the real one)."""
    monkeypatch.setattr(QuietHandler, "timeout", 1.0)
    return 1.0


def token(email: str = ANA, purpose: str = "unsubscribe") -> str:
    return quote(make_token(SECRET, email, purpose), safe="")


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (it speaks HTTP/1.0: one request a connection)."""
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def exchange(site: Site, request: bytes, half_close: bool = False) -> tuple[int, bytes, float]:
    """Send raw bytes; (status, body, seconds until the server closed)."""
    with site.connect() as sock:
        started = time.monotonic()
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        raw = read_all(sock)
        elapsed = time.monotonic() - started
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/"), raw[:200]
    return int(head.split()[1]), body, elapsed


def post(path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1",
             "Content-Type: application/x-www-form-urlencoded",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def get_ok(site: Site) -> None:
    """A normal request is still answered."""
    conn = http.client.HTTPConnection(site.host, site.port, timeout=BOUND)
    try:
        conn.request("GET", f"/unsubscribe?t={token()}")
        resp = conn.getresponse()
        assert resp.status == 200 and b"Stop sending the monthly digest to" in resp.read()
    finally:
        conn.close()


def handler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "process_request_thread" in t.name]


def wait_until(condition: Callable[[], bool], seconds: float = BOUND) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# --- W7: HEAD -------------------------------------------------------------------------------


def test_head_answers_like_get_without_a_body_and_changes_nothing(site: Site) -> None:
    path = f"/digest/unsubscribe?t={token()}"
    conn = http.client.HTTPConnection(site.host, site.port, timeout=BOUND)
    conn.request("GET", path)
    got = conn.getresponse()
    get_body = got.read()
    get_headers = {k: v for k, v in got.getheaders() if k.lower() != "date"}
    conn.close()
    assert got.status == 200

    status, body, _ = exchange(site, f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 200
    assert body == b""  # nothing after the headers, although the connection was read to EOF

    conn = http.client.HTTPConnection(site.host, site.port, timeout=BOUND)
    conn.request("HEAD", path)
    head = conn.getresponse()
    assert head.read() == b""
    head_headers = {k: v for k, v in head.getheaders() if k.lower() != "date"}
    conn.close()
    assert head.status == 200
    assert head_headers == get_headers
    assert head_headers["Content-Length"] == str(len(get_body))
    assert "Content-Security-Policy" in head_headers
    assert site.status_of(ANA) is SubscriberStatus.ACTIVE


# --- W10: Content-Length that is not a number -------------------------------------------------


# "\xb2" is "²" (sent as one Latin-1 byte): str.isdigit() says yes, int() raises ValueError.
@pytest.mark.parametrize("length", ["abc", "1e3", "+5", "0x10", "5 5", "\xb2"])
def test_non_numeric_content_length_is_a_400_page_without_traceback(
        site: Site, capfd: pytest.CaptureFixture[str], length: str) -> None:
    request = post(f"/unsubscribe?t={token()}", {"Content-Length": length},
                   b"List-Unsubscribe=One-Click")
    status, body, _ = exchange(site, request)
    assert status == 400, body[:300]
    assert b"This request did not work" in body and b"Content-Length" in body
    get_ok(site)  # the server keeps serving
    assert site.status_of(ANA) is SubscriberStatus.ACTIVE
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ValueError" not in err, err


def test_content_length_of_thousands_of_digits_is_a_413_without_traceback(
        site: Site, capfd: pytest.CaptureFixture[str]) -> None:
    # int() refuses strings over 4,300 digits (ValueError), so it must not be tried
    request = post(f"/unsubscribe?t={token()}", {"Content-Length": "9" * 5000},
                   b"List-Unsubscribe=One-Click")
    status, body, _ = exchange(site, request)
    assert status == 413, body[:300]
    get_ok(site)  # the server keeps serving
    assert site.status_of(ANA) is SubscriberStatus.ACTIVE
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ValueError" not in err, err


# --- W11: Content-Length that lies ------------------------------------------------------------


def test_stalled_clients_have_a_finite_timeout_by_default() -> None:
    # socketserver puts it on every connection: no read of a request can wait for ever
    assert QuietHandler.timeout is not None and 0 < QuietHandler.timeout <= 60
    assert QuietHandler.timeout == web_http.CLIENT_TIMEOUT


def test_negative_content_length_is_refused_at_once(
        site: Site, quick_timeout: float, capfd: pytest.CaptureFixture[str]) -> None:
    request = post(f"/unsubscribe?t={token()}", {"Content-Length": "-1"},
                   b"List-Unsubscribe=One-Click")
    status, body, elapsed = exchange(site, request)  # the socket stays open: no EOF to read to
    assert status == 400, body[:300]
    assert elapsed < BOUND
    assert wait_until(lambda: not handler_threads())
    assert site.status_of(ANA) is SubscriberStatus.ACTIVE
    assert "Traceback" not in capfd.readouterr().err


def test_body_shorter_than_its_content_length_times_out_with_408(
        site: Site, quick_timeout: float, capfd: pytest.CaptureFixture[str]) -> None:
    body = f"t={token()}&List-Unsubscribe=One-Click".encode()
    request = post("/unsubscribe", {"Content-Length": str(len(body) + 100)}, body)
    status, page, elapsed = exchange(site, request)  # and then the client sends nothing more
    assert status == 408, page[:300]
    assert b"did not arrive in time" in page
    assert elapsed < BOUND
    assert wait_until(lambda: not handler_threads())  # no handler thread left waiting
    assert site.status_of(ANA) is SubscriberStatus.ACTIVE
    get_ok(site)
    assert "Traceback" not in capfd.readouterr().err


def test_body_cut_short_by_the_client_is_a_400(
        site: Site, quick_timeout: float, capfd: pytest.CaptureFixture[str]) -> None:
    body = f"t={token()}&List-Unsubscribe=One-Click".encode()
    request = post("/unsubscribe", {"Content-Length": str(len(body) + 100)}, body)
    status, page, elapsed = exchange(site, request, half_close=True)
    assert status == 400, page[:300]
    assert b"ended before its Content-Length" in page
    assert elapsed < BOUND
    assert site.status_of(ANA) is SubscriberStatus.ACTIVE
    assert "Traceback" not in capfd.readouterr().err


# --- W9: bodies over the limit ----------------------------------------------------------------


def test_body_over_64_kb_is_refused_with_413_and_changes_nothing(site: Site) -> None:
    # The token and the one-click field come first: a server that read only the first
    # 64 KB (as before) would unsubscribe on this request.
    body = f"t={token()}&List-Unsubscribe=One-Click&pad=".encode()
    body += b"x" * (MAX_BODY + 1 - len(body))
    assert len(body) == 64 * 1024 + 1
    status, page, elapsed = exchange(site, post("/unsubscribe",
                                                {"Content-Length": str(len(body))}, body))
    assert status == 413, page[:300]
    assert b"larger than" in page
    assert elapsed < BOUND
    assert site.status_of(ANA) is SubscriberStatus.ACTIVE
    # exactly the limit is still served
    body = body[:MAX_BODY]
    status, page, _ = exchange(site, post("/unsubscribe", {"Content-Length": str(len(body))},
                                          body))
    assert status == 200 and b"You are unsubscribed" in page
    assert site.status_of(ANA) is SubscriberStatus.UNSUBSCRIBED


# --- W12: idle (slowloris) connections ------------------------------------------------------


def test_many_idle_connections_do_not_block_a_normal_request(site: Site) -> None:
    idle = []
    try:
        for _ in range(40):
            sock = site.connect()
            sock.sendall(b"GET /unsubscribe HTTP/1.1\r\nHost: x\r\n")  # never finished
            idle.append(sock)
        get_ok(site)
    finally:
        for sock in idle:
            sock.close()


def test_an_idle_connection_is_dropped_after_the_client_timeout_without_traceback(
        site: Site, quick_timeout: float, capfd: pytest.CaptureFixture[str]) -> None:
    with site.connect() as silent, site.connect() as mid_line, site.connect() as mid_headers:
        mid_line.sendall(b"GET /unsubscr")
        mid_headers.sendall(b"POST /unsubscribe HTTP/1.1\r\nHost: x\r\nContent-")
        started = time.monotonic()
        for sock in (silent, mid_line, mid_headers):
            # closed by the server (recv would raise TimeoutError after BOUND otherwise),
            # with nothing or a 408
            answer = read_all(sock)
            assert answer == b"" or answer.startswith(b"HTTP/1.0 408"), answer[:200]
        assert time.monotonic() - started < BOUND
    assert wait_until(lambda: not handler_threads())
    get_ok(site)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred" not in err, err


def test_connections_beyond_the_cap_are_closed_at_once_and_slots_come_back(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    assert 0 < web_http.MAX_CONNECTIONS <= 1000
    monkeypatch.setattr(ThreadingServer, "slots", threading.BoundedSemaphore(3))
    idle = [site.connect() for _ in range(3)]
    try:
        for sock in idle:
            sock.sendall(b"GET /unsubscribe HTTP/1.1\r\n")  # and then nothing
        assert wait_until(lambda: len(handler_threads()) == 3)
        with site.connect() as extra:
            started = time.monotonic()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # closed already
                extra.sendall(f"GET /unsubscribe?t={token()} HTTP/1.0\r\n\r\n".encode())
            assert read_all(extra) == b""  # closed without an answer
            assert time.monotonic() - started < BOUND
        assert len(handler_threads()) == 3  # no thread was started for it
    finally:
        for sock in idle:
            sock.close()
    assert wait_until(lambda: not handler_threads())
    get_ok(site)  # the slots were given back
    # its thread gives its slot back to the patched semaphore, not to the real one
    assert wait_until(lambda: not handler_threads())
