"""The link pages under hostile HTTP (report rows W7, W9, W10, W11, W12): the production
server (waitress, built by `links.server` as `msdigest web` runs it) on 127.0.0.1, and raw
sockets that send what a browser never would — HEAD, bad or lying Content-Lengths, huge
bodies, connections that never finish their request, more connections than the cap.

Waitress refuses several of these itself, with a plain-text 4xx of its own, before the pages
see them: the tests check the status, that nothing changed and that nothing crashed (no
traceback on stderr, no error logged), not the wording. Waitress keeps connections alive, so
raw requests say `Connection: close` (or the response is read by its Content-Length): an
answer ends when it is complete, not when a keep-alive timeout runs out."""

from __future__ import annotations

import contextlib
import http.client
import logging
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
from msdigest.web.links import MAX_BODY, server
from msdigest.web.server import Limits, Server

from .conftest import REPO, SECRET

ANA = "ana.silva@example.org"
BOUND = 15.0  # seconds: "answered" or "dropped", as opposed to "hangs"; not a speed requirement
QUICK = 1  # channel_timeout (s) where a test waits for a stalled client to be dropped


@dataclass
class Site:
    cfg: Config
    httpd: Server

    @property
    def port(self) -> int:
        return self.httpd.server_port

    def status_of(self, email: str) -> SubscriberStatus:
        with Store.open(self.cfg.store_path, readonly=True) as store:
            sub = store.subscribers.get(email)
            assert sub is not None
            return sub.status

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=BOUND)


Serve = Callable[[Limits | None], Site]


@pytest.fixture
def serve(make_config: Callable[..., Config]) -> Iterator[Serve]:
    """Starts the real server with the given Limits, serving in a thread; after the test,
    shutdown() stops it and the thread must end."""
    running: list[tuple[Server, threading.Thread]] = []

    def start(limits: Limits | None = None) -> Site:
        assert not running, "one server a test"
        cfg = make_config()
        with Store.open(cfg.store_location) as store:
            collect_feed(store, "msdigest:sample-feed.xml", cfg.base_dir, cfg.tz)
            import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
        httpd = server(cfg, SECRET, "127.0.0.1", 0, limits)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        running.append((httpd, thread))
        return Site(cfg, httpd)

    yield start
    for httpd, thread in running:
        httpd.shutdown()
        httpd.server_close()
        thread.join(BOUND)
        assert not thread.is_alive(), "the server did not stop"


@pytest.fixture
def site(serve: Serve) -> Site:
    """The server as `msdigest web` runs it: the default Limits."""
    return serve(None)


def token(email: str = ANA, purpose: str = "unsubscribe") -> str:
    return quote(make_token(SECRET, email, purpose), safe="")


def request(method: str, target: str, headers: dict[str, str] | None = None,
            body: bytes = b"", close: bool = True) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    if method == "POST":
        lines.append("Content-Type: application/x-www-form-urlencoded")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def post(target: str, content_length: str, body: bytes) -> bytes:
    return request("POST", target, {"Content-Length": content_length}, body)


def one_click(padded_to: int = 0) -> bytes:
    """A one-click unsubscribe body for ANA, the token and the field first: a server that
    acted on the start of a body too large would unsubscribe her."""
    body = f"t={token()}&List-Unsubscribe=One-Click".encode()
    if padded_to:
        body += b"&pad="
        body += b"x" * (padded_to - len(body))
        assert len(body) == padded_to
    return body


def until_closed(sock: socket.socket, what: str) -> bytes:
    """Everything the server sends until it closes the connection; fails if it has not
    closed it within BOUND."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + BOUND
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except ConnectionResetError:  # closed with bytes of ours unread (a refusal mid-send)
            break
        except TimeoutError:
            pytest.fail(f"{what}: the connection is still open after {BOUND:.0f} s; "
                        f"received {b''.join(chunks)[:200]!r}")
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def status_and_body(raw: bytes, what: str) -> tuple[int, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), f"{what}: no HTTP answer, got {raw[:200]!r}"
    return int(head.split()[1]), body


def send_raw(site: Site, data: bytes, what: str) -> bytes:
    """Send raw bytes on a new connection; all that came back once the server closed it."""
    with site.connect() as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused mid-send
            sock.sendall(data)
        return until_closed(sock, what)


def exchange(site: Site, data: bytes, what: str = "the request") -> tuple[int, bytes]:
    """(status, body) of one raw request on a new connection."""
    return status_and_body(send_raw(site, data, what), what)


def answer_on(sock: socket.socket, what: str) -> tuple[int, bytes]:
    """One response read by its Content-Length; the connection stays open (keep-alive)."""
    resp = http.client.HTTPResponse(sock)
    try:
        resp.begin()
        return resp.status, resp.read()
    except TimeoutError:
        pytest.fail(f"{what}: no answer within {BOUND:.0f} s")
    finally:
        resp.close()


def get_ok(site: Site) -> None:
    """A normal request is still answered."""
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=BOUND)
    try:
        conn.request("GET", f"/unsubscribe?t={token()}")
        resp = conn.getresponse()
        assert resp.status == 200 and b"Stop sending the monthly digest to" in resp.read()
    finally:
        conn.close()


def assert_nothing_crashed(capfd: pytest.CaptureFixture[str],
                           caplog: pytest.LogCaptureFixture) -> None:
    """No traceback on stderr and nothing logged as an error (waitress logs a crash in a
    connection as "uncaptured python exception" and closes it without an answer)."""
    err = capfd.readouterr().err
    assert "traceback" not in err.lower() and "exception" not in err.lower(), err
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [f"{r.name}: {r.getMessage()}" for r in errors]


# --- W7: HEAD -------------------------------------------------------------------------------


def test_head_answers_like_get_without_a_body_and_changes_nothing(
        site: Site, capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    target = f"/digest/unsubscribe?t={token()}"
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=BOUND)
    try:
        conn.request("GET", target)
        got = conn.getresponse()
        get_body = got.read()
        get_headers = {k: v for k, v in got.getheaders() if k.lower() != "date"}
        conn.request("HEAD", target)  # on the same keep-alive connection
        head = conn.getresponse()
        assert head.read() == b""
        head_headers = {k: v for k, v in head.getheaders() if k.lower() != "date"}
    finally:
        conn.close()
    assert got.status == 200 and b"Stop sending the monthly digest to" in get_body
    assert head.status == 200
    assert head_headers == get_headers
    assert head_headers["Content-Length"] == str(len(get_body))
    assert "Content-Security-Policy" in head_headers

    # HEAD then GET in one send: the GET's answer follows the HEAD's headers at once, so no
    # byte of a body was sent for the HEAD
    raw = send_raw(site, request("HEAD", target, close=False) + request("GET", target),
                   "HEAD, then GET")
    head_part, _, rest = raw.partition(b"\r\n\r\n")
    assert head_part.startswith(b"HTTP/1.1 200 "), raw[:200]
    assert rest.startswith(b"HTTP/1.1 200 "), rest[:200]
    assert status_and_body(rest, "the GET after a HEAD") == (200, get_body)

    assert site.status_of(ANA) is SubscriberStatus.ACTIVE
    assert_nothing_crashed(capfd, caplog)


# --- W10: Content-Length that is not a number -------------------------------------------------


# "\xb2" is "²" (sent as one Latin-1 byte): str.isdigit() says yes, int() raises ValueError.
@pytest.mark.parametrize("length", ["abc", "1e3", "+5", "0x10", "5 5", "\xb2"])
def test_non_numeric_content_length_is_a_400_without_traceback(
        site: Site, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
        length: str) -> None:
    status, body = exchange(site, post(f"/unsubscribe?t={token()}", length, one_click()))
    assert status == 400, body[:300]
    get_ok(site)  # the server keeps serving
    assert site.status_of(ANA) is SubscriberStatus.ACTIVE
    assert_nothing_crashed(capfd, caplog)


# int() refuses strings of more than 4,300 digits (ValueError); the header limit (16 KB) lets
# 5,000 through, so nothing may call int() on one unchecked
@pytest.mark.parametrize("digits", [11, 4000, 5000], ids=lambda n: f"{n}-digits")
def test_huge_content_length_is_a_4xx_without_traceback(
        site: Site, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
        digits: int) -> None:
    what = f"Content-Length of {digits} digits"
    raw = send_raw(site, post(f"/unsubscribe?t={token()}", "9" * digits, one_click()), what)
    assert_nothing_crashed(capfd, caplog)  # first: a crash is why there would be no answer
    status, body = status_and_body(raw, what)
    assert 400 <= status < 500, body[:300]
    get_ok(site)  # the server keeps serving
    assert site.status_of(ANA) is SubscriberStatus.ACTIVE
    assert_nothing_crashed(capfd, caplog)


# --- W11: Content-Length that lies ------------------------------------------------------------


def test_stalled_clients_have_a_finite_timeout_by_default(site: Site) -> None:
    default = Limits().channel_timeout
    assert isinstance(default, int) and 0 < default <= 60
    adj = site.httpd.waitress.adj  # what the running server was given
    assert adj.channel_timeout == default
    # waitress looks for idle connections every cleanup_interval seconds: one sits idle for
    # up to the sum before it is dropped
    assert adj.channel_timeout + adj.cleanup_interval <= 60


def test_negative_content_length_is_refused_at_once(
        site: Site, capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    # answered and closed without waiting for a body (BOUND is well under channel_timeout)
    status, body = exchange(site, post(f"/unsubscribe?t={token()}", "-1", one_click()))
    assert status == 400, body[:300]
    get_ok(site)
    assert site.status_of(ANA) is SubscriberStatus.ACTIVE
    assert_nothing_crashed(capfd, caplog)


def test_body_shorter_than_its_content_length_is_dropped_and_holds_no_worker(
        serve: Serve, capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    site = serve(Limits(threads=1, channel_timeout=QUICK))
    body = one_click()
    with site.connect() as sock:
        sock.sendall(post("/unsubscribe", str(len(body) + 100), body))  # then nothing more
        get_ok(site)  # the one worker thread is free while the body is awaited
        answer = until_closed(sock, "a body 100 bytes short of its Content-Length")
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:300]
    assert site.status_of(ANA) is SubscriberStatus.ACTIVE
    get_ok(site)
    assert_nothing_crashed(capfd, caplog)


def test_body_cut_short_by_the_client_is_dropped_at_once_and_changes_nothing(
        site: Site, capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    body = one_click()
    with site.connect() as sock:
        sock.sendall(post("/unsubscribe", str(len(body) + 100), body))
        sock.shutdown(socket.SHUT_WR)  # the client says it is done, 100 bytes short
        # closed at once, not after channel_timeout (longer than BOUND)
        answer = until_closed(sock, "a body cut short")
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:300]
    assert site.status_of(ANA) is SubscriberStatus.ACTIVE
    get_ok(site)
    assert_nothing_crashed(capfd, caplog)


# --- W9: bodies over the limit ----------------------------------------------------------------


def test_body_over_64_kb_is_refused_with_413_and_changes_nothing(
        site: Site, capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    assert MAX_BODY == 64 * 1024
    body = one_click(padded_to=MAX_BODY + 1)
    status, page = exchange(site, post("/unsubscribe", str(len(body)), body))
    assert status == 413, page[:300]
    assert site.status_of(ANA) is SubscriberStatus.ACTIVE
    get_ok(site)
    assert_nothing_crashed(capfd, caplog)


def test_chunked_body_over_64_kb_is_refused_with_413_and_changes_nothing(
        site: Site, capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    # no Content-Length to refuse up front: the limit holds while the body arrives
    def chunked(body: bytes) -> bytes:
        return request("POST", "/unsubscribe", {"Transfer-Encoding": "chunked"},
                       f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")

    status, page = exchange(site, chunked(one_click(padded_to=MAX_BODY + 1)))
    assert status == 413, page[:300]
    assert site.status_of(ANA) is SubscriberStatus.ACTIVE
    # the same request, small, is served: the 413 was for the size
    status, page = exchange(site, chunked(one_click()))
    assert status == 200 and b"You are unsubscribed" in page, page[:300]
    assert site.status_of(ANA) is SubscriberStatus.UNSUBSCRIBED
    assert_nothing_crashed(capfd, caplog)


def test_body_of_exactly_64_kb_is_still_served(
        site: Site, capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    body = one_click(padded_to=MAX_BODY)
    status, page = exchange(site, post("/unsubscribe", str(len(body)), body))
    assert status == 200 and b"You are unsubscribed" in page, page[:300]
    assert site.status_of(ANA) is SubscriberStatus.UNSUBSCRIBED
    assert_nothing_crashed(capfd, caplog)


# --- W12: idle (slowloris) connections, the connection cap ----------------------------------


def test_many_idle_connections_do_not_block_a_normal_request(
        site: Site, capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    with contextlib.ExitStack() as stack:
        for n in range(60):
            sock = stack.enter_context(site.connect())
            if n % 2:
                sock.sendall(b"GET /unsubscribe HTTP/1.1\r\nHost: x\r\n")  # never finished
        get_ok(site)
    get_ok(site)
    assert_nothing_crashed(capfd, caplog)


def test_clients_stalled_mid_request_hold_no_worker_and_are_dropped_after_the_timeout(
        serve: Serve, capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    site = serve(Limits(threads=1, channel_timeout=QUICK))
    body = one_click()
    stalls = {
        "silent": b"",
        "mid-line": b"GET /unsubscr",
        "mid-headers": b"POST /unsubscribe HTTP/1.1\r\nHost: x\r\nContent-",
        "mid-body": post("/unsubscribe", str(len(body) + 100), body),
    }
    with contextlib.ExitStack() as stack:
        hanging = {}
        for name, data in stalls.items():
            sock = stack.enter_context(site.connect())
            sock.sendall(data)
            hanging[name] = sock
        get_ok(site)  # while all of them hang, the one worker thread serves
        for name, sock in hanging.items():
            # closed by the server, with nothing or a 4xx
            answer = until_closed(sock, f"a client stalled {name}")
            assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), (name, answer[:200])
    get_ok(site)
    assert site.status_of(ANA) is SubscriberStatus.ACTIVE
    assert_nothing_crashed(capfd, caplog)


def test_connection_limit_caps_the_connections_served_at_once(
        serve: Serve, capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    # the default channel_timeout: the held connections are not dropped during the test
    site = serve(Limits(connection_limit=3))
    get = request("GET", f"/unsubscribe?t={token()}", close=False)
    with contextlib.ExitStack() as stack:
        held = []
        for n in (1, 2, 3):  # each one served, then kept open, idle
            sock = stack.enter_context(site.connect())
            sock.sendall(get)
            status, _ = answer_on(sock, f"connection {n} of the 3 that connection_limit=3 "
                                        "allows")
            assert status == 200
            held.append(sock)
        extra = stack.enter_context(site.connect())  # the kernel's backlog takes it
        extra.sendall(request("GET", f"/unsubscribe?t={token()}"))
        extra.settimeout(1.0)
        with pytest.raises(TimeoutError):  # not accepted while 3 are open: no answer
            extra.recv(1)
        held.pop(0).close()
        status, page = status_and_body(until_closed(extra, "the 4th connection, once the "
                                                    "1st was closed"), "the 4th")
        assert status == 200 and b"Stop sending the monthly digest to" in page
        for n, sock in enumerate(held, 2):  # the others are still served
            sock.sendall(get)
            assert answer_on(sock, f"connection {n}, kept alive")[0] == 200
    get_ok(site)
    assert_nothing_crashed(capfd, caplog)
