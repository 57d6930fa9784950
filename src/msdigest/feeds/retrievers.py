"""Retrievers: a feed's bytes from http(s), a bundled name (msdigest:NAME) or a file path."""

from __future__ import annotations

import urllib.error
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
    url: str = ""  # where the body finally came from (after redirects)


Retriever = Callable[[str, Path, FeedState, float], Fetched]


def bundled(url: str, base_dir: Path, state: FeedState, timeout: float) -> Fetched:
    name = url[len(BUNDLED_PREFIX):]
    try:
        return Fetched(resources.files("msdigest").joinpath("data", name).read_bytes(), url=url)
    except OSError:
        raise FeedError(f"{url}: no bundled feed named {name!r}") from None


def http(url: str, base_dir: Path, state: FeedState, timeout: float) -> Fetched:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": ACCEPT})
    if state.etag:
        request.add_header("If-None-Match", state.etag)
    if state.modified:
        request.add_header("If-Modified-Since", state.modified)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return Fetched(resp.read(), resp.headers.get("Content-Type", ""),
                           FeedState(resp.headers.get("ETag"), resp.headers.get("Last-Modified")),
                           resp.geturl())
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return Fetched(None, "", state, url)
        raise FeedError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FeedError(f"{url}: cannot fetch: {reason}") from None


def file(url: str, base_dir: Path, state: FeedState, timeout: float) -> Fetched:
    """A path, relative to the config file's folder, or a file:// URL."""
    path = Path(url.removeprefix("file://"))
    if not path.is_absolute():
        path = base_dir / path
    try:
        return Fetched(path.read_bytes(), url=url)
    except OSError as exc:
        raise FeedError(f"{url}: cannot read file {path}: {exc.strerror}") from None


# by URL prefix, longest first; "" is the catch-all (a file path)
MOUNTS: tuple[tuple[str, Retriever], ...] = (
    ("https://", http), ("http://", http), (BUNDLED_PREFIX, bundled), ("", file))


def retrieve(url: str, base_dir: Path, state: FeedState | None = None,
             timeout: float = 30) -> Fetched:
    """The feed's bytes, or None as body if unchanged since `state`; FeedError if none."""
    retriever = next(r for prefix, r in MOUNTS if url.startswith(prefix))
    return retriever(url, base_dir, state or FeedState(), timeout)
