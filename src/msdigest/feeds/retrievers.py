"""Retrievers: a feed's bytes from http(s), a bundled name (msdigest:NAME) or a file path."""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .. import __version__
from ..errors import FeedError
from ..records import FeedState

USER_AGENT = f"msdigest/{__version__} (+feed collector)"
BUNDLED_PREFIX = "msdigest:"
ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
          "application/xml;q=0.9, */*;q=0.5")


@dataclass(frozen=True)
class Fetched:
    body: bytes | None  # None: not modified since last time
    content_type: str = ""
    state: FeedState = field(default_factory=FeedState)  # for the next conditional GET
    # where the document was read from, which relative links in it are relative to: the
    # URL after redirects (or its Content-Location); "" for a file, which is a copy of a
    # document that lives elsewhere (the feed's self link says where)
    location: str = ""


@dataclass(frozen=True)
class Limits:
    """How long one feed may take, all told, and how big it may be ([collect])."""

    seconds: float = 60
    max_bytes: int = 15 * 1024 * 1024

    def too_big(self, url: str) -> FeedError:
        return FeedError(f"{url}: the feed is larger than {self.max_bytes / 2**20:g} MB "
                         "([collect] max_feed_mb); skipped")


Retriever = Callable[[str, Path, FeedState, Limits], Fetched]


def from_bundle(url: str, base_dir: Path, state: FeedState, limits: Limits) -> Fetched:
    name = url[len(BUNDLED_PREFIX):]
    try:
        return Fetched(resources.files("msdigest").joinpath("data", name).read_bytes())
    except OSError:
        raise FeedError(f"{url}: no bundled feed named {name!r}") from None


def _read(resp: http.client.HTTPResponse, url: str, limits: Limits, deadline: float) -> bytes:
    """The body, a read at a time, within the deadline and the size cap: a server that
    sends a byte every few seconds never trips a per-read timeout, so the clock is
    checked between reads and each read may wait only for what is left."""
    length = resp.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limits.max_bytes:
        raise limits.too_big(url)
    raw = getattr(getattr(resp, "fp", None), "raw", None)
    sock: socket.socket | None = getattr(raw, "_sock", None)
    chunks: list[bytes] = []
    size = 0
    late = FeedError(f"{url}: took longer than {limits.seconds:g} s ([collect] timeout)")
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise late
        if sock is not None:
            sock.settimeout(left)
        try:
            chunk = resp.read1(65536)
        except TimeoutError:
            raise late from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limits.max_bytes:
            raise limits.too_big(url)
        chunks.append(chunk)


def from_http(url: str, base_dir: Path, state: FeedState, limits: Limits) -> Fetched:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": ACCEPT})
    if state.etag:
        request.add_header("If-None-Match", state.etag)
    if state.modified:
        request.add_header("If-Modified-Since", state.modified)
    deadline = time.monotonic() + limits.seconds
    try:
        with urllib.request.urlopen(request, timeout=limits.seconds) as resp:
            body = _read(resp, url, limits, deadline)
            location = urllib.parse.urljoin(resp.geturl() or url,
                                            resp.headers.get("Content-Location", ""))
            return Fetched(body, resp.headers.get("Content-Type", ""),
                           FeedState(resp.headers.get("ETag"), resp.headers.get("Last-Modified")),
                           location)
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return Fetched(None, "", state)
        raise FeedError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError | socket.timeout):
            reason = f"no answer within {limits.seconds:g} s ([collect] timeout)"
        raise FeedError(f"{url}: cannot fetch: {reason}") from None


def from_file(url: str, base_dir: Path, state: FeedState, limits: Limits) -> Fetched:
    """A path, relative to the config file's folder, or a file:// URL."""
    path = Path(url.removeprefix("file://"))
    if not path.is_absolute():
        path = base_dir / path
    try:
        if path.stat().st_size > limits.max_bytes:
            raise limits.too_big(url)
        return Fetched(path.read_bytes())
    except OSError as exc:
        raise FeedError(f"{url}: cannot read file {path}: {exc.strerror}") from None


# by URL prefix, longest first; "" is the catch-all (a file path)
MOUNTS: tuple[tuple[str, Retriever], ...] = (
    ("https://", from_http), ("http://", from_http), (BUNDLED_PREFIX, from_bundle),
    ("", from_file))


def retrieve(url: str, base_dir: Path, state: FeedState | None = None,
             limits: Limits | None = None) -> Fetched:
    """The feed's bytes, or None as body if unchanged since `state`; FeedError if none."""
    retriever = next(r for prefix, r in MOUNTS if url.startswith(prefix))
    return retriever(url, base_dir, state or FeedState(), limits or Limits())
