"""The config's sections as dataclasses: they are the schema.

Each field is a key, its type is the key's type, and `field(metadata=...)` holds the
checks run on the value a file gives. msdigest.config reads the schema off them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..model import Site, Theme, subject_problem

ENV_CONFIG = "MSDIGEST_CONFIG"
ENV_PASSWORD = "MSDIGEST_SMTP_PASSWORD"
ENV_SECRET = "MSDIGEST_SECRET"
ENV_IMAP_PASSWORD = "MSDIGEST_IMAP_PASSWORD"
ENV_STORE_PASSWORD = "MSDIGEST_STORE_PASSWORD"
EMBEDDED = "<embedded defaults>"

Check = Callable[[Any], str | None]  # an error text, or None when the value is fine


def checks(*found: Check) -> dict[str, Any]:
    """A field's checks, run on the value the file gives."""
    return {"checks": found}


def from_env(name: str, *refused: str) -> Any:
    """A value only the environment may give; the file may not hold it (nor `refused`)."""
    return field(default=None, repr=False, metadata={"env": name, "refused": refused})


def at_least(low: float) -> Check:
    return lambda v: None if v >= low else f"must be at least {low:g}, got {v}"


def between(low: int, high: int) -> Check:
    return lambda v: None if low <= v <= high else f"must be {low}-{high}, got {v}"


def one_of(*choices: str) -> Check:
    return lambda v: None if v in choices else \
        f"must be {', '.join(choices[:-1])} or {choices[-1]}, got {v!r}"


def addresses(v: tuple[str, ...]) -> str | None:
    bad = [a for a in v if "@" not in a.strip(" <>") or any(c.isspace() for c in a.strip())]
    return f"not an email address: {bad[0]!r}" if bad else None


def https(v: str) -> str | None:
    return None if v.startswith("https://") else \
        f"must be an https:// URL (links in the email are absolute https), got {v!r}"


def subject_template(v: str) -> str | None:
    return subject_problem(v)


def time_zone(v: str) -> str | None:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {v!r}"
    return None


@dataclass(frozen=True)
class Store:
    # sqlite:///file (relative to the config file), sqlite:////abs/file or postgresql://…
    url: str = "sqlite:///msdigest.sqlite"
    path: str = ""  # the older spelling of a SQLite url: a file relative to the config file
    pool_size: int = field(default=10, metadata=checks(between(1, 100)))
    lease_seconds: float = field(default=60, metadata=checks(at_least(5)))
    password: str | None = from_env(ENV_STORE_PASSWORD)


@dataclass(frozen=True)
class Feed:
    url: str = field(metadata=checks(lambda v: None if v else "required"))
    name: str = ""


@dataclass(frozen=True)
class Collect:
    timeout: float = field(metadata=checks(at_least(1)))  # the whole fetch of one feed
    max_feed_mb: float = field(metadata=checks(at_least(0.1)))
    # a feed failing this long: ops are emailed once (and once when it works again)
    alert_after_hours: float = field(metadata=checks(at_least(0)))
    alert_to: tuple[str, ...] = field(metadata=checks(addresses))  # () = the editors


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int = field(metadata=checks(between(1, 65535)))
    security: str = field(metadata=checks(one_of("none", "starttls", "ssl")))
    username: str
    timeout: float = field(metadata=checks(at_least(0.1)))
    data_timeout: float = field(metadata=checks(at_least(1)))  # for the reply to the final dot
    concurrency: int = field(metadata=checks(at_least(1)))
    max_per_second: float = field(metadata=checks(at_least(0)))
    max_per_hour: int = field(metadata=checks(at_least(0)))
    reconnect_after: int = field(metadata=checks(at_least(1)))
    max_attempts: int = field(metadata=checks(at_least(1)))
    retry_base_seconds: float = field(metadata=checks(at_least(0)))
    bounce_after: int = field(metadata=checks(at_least(1)))
    ca_file: str  # relative to the config file; "" = the system's CA store
    password: str | None = from_env(ENV_PASSWORD)


@dataclass(frozen=True)
class Unsubscribe:
    base_url: str = field(metadata=checks(https))
    mailto: str
    secret: str | None = from_env(ENV_SECRET, "key")


@dataclass(frozen=True)
class Digest:
    subject: str = field(metadata=checks(subject_template))
    preheader: str = field(metadata=checks(subject_template))
    teaser_chars: int = field(metadata=checks(at_least(40)))
    templates: str  # the editor's own folder, relative to the config file; "" = bundled
    disclaimer: str
    caveats: tuple[str, ...]
    archive_url: str = field(metadata=checks(https))
    archive_dir: str  # rebuilt after each completed send; relative to the config; "" = off
    require_approval: bool
    # summaries collected after the issue was approved: held for the next issue, or in
    # this one (which then needs approving again)
    late_summaries: str = field(metadata=checks(one_of("next_issue", "reapprove")))


@dataclass(frozen=True)
class Schedule:
    collect: str
    send: str
    timezone: str = field(metadata=checks(time_zone))
    grace_hours: float = field(metadata=checks(at_least(0)))
    review_days: float = field(metadata=checks(at_least(0)))  # draft mailed to editors
    give_up_days: float = field(metadata=checks(at_least(0)))  # then editors are told
    bounces: str  # when the bounce mailbox is read, if [bounces] source is set

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Worker:
    """`msdigest worker` (PostgreSQL stores): the engine on each host."""

    senders: int = field(default=2, metadata=checks(between(1, 64)))  # send jobs per issue
    jobs: int = field(default=4, metadata=checks(between(2, 64)))  # at once per worker


# [table] -> its dataclass; [site] is the model's Site, whose `sender` is the key `from`
@dataclass(frozen=True)
class Subscribe:
    consent_text: str = field(metadata=checks(lambda v: None if v.strip() else "required"))
    confirm_hours: float = field(metadata=checks(at_least(1)))
    per_address_hours: float = field(metadata=checks(at_least(0)))  # one mail per this long
    per_ip_per_hour: int = field(metadata=checks(at_least(1)))


@dataclass(frozen=True)
class Web:
    idle_minutes: float = field(metadata=checks(at_least(1)))  # a desk session ends after
    trusted_proxy: str  # the reverse proxy's address, whose X-Forwarded-Proto counts


@dataclass(frozen=True)
class Logging:
    # when stderr is not a terminal: one line per event, as text or as JSON
    format: str = field(metadata=checks(one_of("text", "json")))


@dataclass(frozen=True)
class Bounces:
    """The mailbox bounces (DSNs) and complaints (ARF reports) come back to."""

    source: str = field(metadata=checks(one_of("", "imap", "maildir")))  # "" = not read
    host: str
    port: int = field(metadata=checks(between(1, 65535)))
    security: str = field(metadata=checks(one_of("ssl", "starttls")))  # TLS either way
    username: str
    folder: str
    processed_folder: str = field(metadata=checks(lambda v: None if v.strip() else
                                                  "required: where handled reports go"))
    maildir: str  # relative to the config file
    ca_file: str  # relative to the config file; "" = the system's CA store
    timeout: float = field(metadata=checks(at_least(1)))
    password: str | None = from_env(ENV_IMAP_PASSWORD)

    @property
    def enabled(self) -> bool:
        return bool(self.source)


SECTIONS: dict[str, type] = {"site": Site, "store": Store, "collect": Collect, "smtp": Smtp,
                             "web": Web, "subscribe": Subscribe, "logging": Logging,
                             "bounces": Bounces, "worker": Worker,
                             "unsubscribe": Unsubscribe, "digest": Digest, "schedule": Schedule}
RENAMED = {("site", "from"): "sender"}
SITE_CHECKS: dict[str, tuple[Check, ...]] = {"url": (https,)}
THEME_KEYS = {f.name: hint for f in fields(Theme) if f.name != "id"  # [themes.<id>]
              for hint in (get_type_hints(Theme)[f.name],)}
