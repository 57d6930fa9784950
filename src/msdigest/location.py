"""Where the store lives: a SQLite file or a PostgreSQL database, named by one URL.

`[store] url` takes `sqlite:///relative/path.sqlite`, `sqlite:////absolute/path.sqlite`
or `postgresql://user@host:port/database`; the older `[store] path` is a SQLite file.
A password is never part of what msdigest prints: `redact` and `str()` leave it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit, urlunsplit

SCHEMES = ("sqlite", "postgresql", "postgres")


@dataclass(frozen=True)
class Location:
    """A SQLite file (`path`) or a PostgreSQL URL (`url`, password left in for the driver)."""

    path: Path | None = None
    url: str = ""

    @property
    def postgres(self) -> bool:
        return self.path is None

    def exists(self) -> bool:
        """Whether there is a store to read (a database server is asked when opened)."""
        return self.path is None or self.path.is_file()

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else where(self.url)

    @classmethod
    def parse(cls, value: str, base_dir: Path) -> Location:
        """A URL as `[store] url` gives it; ValueError says what is wrong with it."""
        scheme = value.split(":", 1)[0].lower() if ":" in value else ""
        if scheme not in SCHEMES:
            raise ValueError(f"must start with sqlite:/// or postgresql://, got {redact(value)!r}")
        if scheme == "sqlite":
            if not value.startswith("sqlite:///") or len(value) <= len("sqlite:///"):
                raise ValueError("a SQLite URL is sqlite:///file.sqlite (relative to the "
                                 "config file) or sqlite:////absolute/file.sqlite")
            return cls(path=base_dir / value[len("sqlite:///"):])
        parts = urlsplit(value)
        if not parts.path.strip("/"):
            raise ValueError(f"names no database: {redact(value)!r} (add /DATABASE at the end)")
        try:
            parts.port  # noqa: B018 - a port that is not a number raises here
        except ValueError:
            raise ValueError(f"has a port that is not a number: {redact(value)!r}") from None
        return cls(url=value)


def where(url: str) -> str:
    """host:port/database, for messages (never the user's password)."""
    parts = urlsplit(url)
    try:
        port = parts.port or 5432
    except ValueError:
        port = 5432
    return f"{parts.hostname or 'localhost'}:{port}/{parts.path.strip('/')}"


def redact(url: str) -> str:
    """The URL with any password replaced by ***."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(SplitResult(parts.scheme, f"{user}:***@{netloc}", parts.path,
                                  parts.query, parts.fragment))
