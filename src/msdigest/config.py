"""Configuration: one TOML file laid over embedded defaults, validated on load.

Every error names the file and the key, because the person reading it is an
editor or an operator who has the file open, not the code.
"""

from __future__ import annotations

import difflib
import os
import re
import string
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

ENV_CONFIG = "MSDIGEST_CONFIG"
ENV_PASSWORD = "MSDIGEST_SMTP_PASSWORD"
ENV_SECRET = "MSDIGEST_SECRET"
DEFAULT_FILE = "digest.toml"
EMBEDDED = "<embedded defaults>"


class ConfigError(ValueError):
    """A config file that cannot be used; the message names file and key."""


@dataclass(frozen=True)
class Site:
    name: str
    url: str
    sender: str  # the TOML key is `from`, a Python keyword
    postal_address: str
    reply_to: str


@dataclass(frozen=True)
class Feed:
    url: str
    name: str


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    security: str
    username: str
    password: str
    timeout: float
    concurrency: int
    max_per_second: float
    max_per_hour: int
    reconnect_after: int
    max_attempts: int
    retry_base_seconds: float
    bounce_after: int
    ca_file: str


@dataclass(frozen=True)
class Unsubscribe:
    base_url: str
    mailto: str


@dataclass(frozen=True)
class Theme:
    id: str
    title: str
    terms: tuple[str, ...]
    exact: tuple[str, ...]

    @property
    def catch_all(self) -> bool:
        return not self.terms and not self.exact


@dataclass(frozen=True)
class Digest:
    subject: str
    preheader: str
    teaser_chars: int
    templates: str
    disclaimer: str
    caveats: tuple[str, ...]
    archive_url: str
    require_approval: bool

    def view_url(self, period: str) -> str:
        """The issue's web version, written by `msdigest archive`."""
        return f"{self.archive_url.rstrip('/')}/{period}.html"


@dataclass(frozen=True)
class Schedule:
    collect: str
    send: str
    timezone: str
    grace_hours: float

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Config:
    source: str
    base_dir: Path
    site: Site
    store_path: Path
    feeds: tuple[Feed, ...]
    smtp: Smtp
    unsubscribe: Unsubscribe
    digest: Digest
    schedule: Schedule
    themes: tuple[Theme, ...]

    @property
    def theme_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.themes)

    @property
    def tz(self) -> ZoneInfo:
        return self.schedule.tz

    def templates_dir(self) -> Path | None:
        """The editor's own templates folder, or None for the bundled ones."""
        if not self.digest.templates:
            return None
        return (self.base_dir / self.digest.templates).resolve()


# section -> key -> type; the embedded defaults give every key a value
_STR, _INT, _NUM, _BOOL, _STRS = str, int, float, bool, list
SCHEMA: dict[str, dict[str, type]] = {
    "site": {"name": _STR, "url": _STR, "from": _STR, "postal_address": _STR, "reply_to": _STR},
    "store": {"path": _STR},
    "smtp": {
        "host": _STR, "port": _INT, "security": _STR, "username": _STR, "timeout": _NUM,
        "concurrency": _INT, "max_per_second": _NUM, "max_per_hour": _INT,
        "reconnect_after": _INT, "max_attempts": _INT, "retry_base_seconds": _NUM,
        "bounce_after": _INT, "ca_file": _STR,
    },
    "unsubscribe": {"base_url": _STR, "mailto": _STR},
    "digest": {
        "subject": _STR, "preheader": _STR, "teaser_chars": _INT, "templates": _STR,
        "disclaimer": _STR, "caveats": _STRS, "archive_url": _STR, "require_approval": _BOOL,
    },
    "schedule": {"collect": _STR, "send": _STR, "timezone": _STR, "grace_hours": _NUM},
}
FEED_KEYS: dict[str, type] = {"url": _STR, "name": _STR}
THEME_KEYS: dict[str, type] = {"title": _STR, "terms": _STRS, "exact": _STRS}
SECRET_KEYS = {("smtp", "password"): ENV_PASSWORD, ("unsubscribe", "secret"): ENV_SECRET,
               ("unsubscribe", "key"): ENV_SECRET}
SUBJECT_FIELDS = {"site", "month", "count", "summaries", "period"}


DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_trigger(expr: str, tz: ZoneInfo) -> CronTrigger:
    """A crontab line as cron means it. APScheduler 3 counts day-of-week from Monday = 0,
    crontab from Sunday = 0, so numeric weekdays are turned into names first."""
    fields = expr.split()
    if len(fields) == 5 and re.search(r"\d", fields[4]):
        if "/" in fields[4]:
            raise ValueError("write stepped weekdays by name, e.g. mon-fri or mon,wed,fri")
        fields[4] = re.sub(r"\d+", lambda m: DAYS[int(m.group())] if int(m.group()) < 8
                           else m.group(), fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=tz)


def _embedded_text() -> str:
    return resources.files("msdigest").joinpath("data/defaults.toml").read_text("utf-8")


def _type_name(t: type) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false",
            list: "a list of strings"}[t]


def _check_type(value: Any, want: type, where: str) -> Any:
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if want is list:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    elif isinstance(value, want) and not (want is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{where}: expected {_type_name(want)}, got {value!r}")


def _unknown(key: str, known: set[str] | dict[str, Any], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{where}: unknown key {key!r}{hint}")


def _validate_table(raw: Any, keys: dict[str, type], where: str, src: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{src}: {where} must be a table")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in keys:
            raise _unknown(key, keys, f"{src}: {where}")
        out[key] = _check_type(value, keys[key], f"{src}: {where} {key}")
    return out


def _validate_file(data: dict[str, Any], src: str) -> dict[str, Any]:
    """Check one file's own keys and types (not completeness: defaults fill gaps)."""
    out: dict[str, Any] = {}
    for section, value in data.items():
        if section == "feeds":
            if not isinstance(value, list):
                raise ConfigError(f"{src}: feeds must be an array of tables ([[feeds]])")
            feeds = []
            for i, feed in enumerate(value, 1):
                feed = _validate_table(feed, FEED_KEYS, f"[[feeds]] #{i}", src)
                if not feed.get("url"):
                    raise ConfigError(f"{src}: [[feeds]] #{i} url: required")
                feeds.append(feed)
            out["feeds"] = feeds
        elif section == "themes":
            if not isinstance(value, dict) or not value:
                raise ConfigError(f"{src}: [themes] must hold at least one [themes.<id>] table")
            out["themes"] = {
                tid: _validate_table(theme, THEME_KEYS, f"[themes.{tid}]", src)
                for tid, theme in value.items()
            }
        elif section in SCHEMA:
            if not isinstance(value, dict):
                raise ConfigError(f"{src}: [{section}] must be a table")
            for key in value:
                if (section, key) in SECRET_KEYS:
                    raise ConfigError(
                        f"{src}: [{section}] {key}: secrets are not read from files; "
                        f"set the environment variable {SECRET_KEYS[(section, key)]}"
                    )
            out[section] = _validate_table(value, SCHEMA[section], f"[{section}]", src)
        else:
            raise _unknown(section, {*SCHEMA, "feeds", "themes"}, f"{src}: top level")
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for key, value in over.items():
        if key in SCHEMA:
            merged[key] = {**merged.get(key, {}), **value}
        else:  # feeds and themes replace the defaults as a whole
            merged[key] = value
    return merged


def _check_template(text: str, fields: set[str], where: str) -> None:
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    unknown = names - fields
    if unknown:
        raise ConfigError(
            f"{where}: unknown placeholder {{{sorted(unknown)[0]}}}; "
            f"use any of {', '.join('{' + f + '}' for f in sorted(fields))}"
        )


def _build(data: dict[str, Any], src: str, base_dir: Path, env: dict[str, str]) -> Config:
    s, sm, un, dg, sc = (data[k] for k in ("site", "smtp", "unsubscribe", "digest", "schedule"))
    if sm["security"] not in ("none", "starttls", "ssl"):
        raise ConfigError(f"{src}: [smtp] security: must be none, starttls or ssl, "
                          f"got {sm['security']!r}")
    if not 0 < sm["port"] < 65536:
        raise ConfigError(f"{src}: [smtp] port: must be 1-65535, got {sm['port']}")
    for key in ("concurrency", "max_attempts", "reconnect_after", "bounce_after"):
        if sm[key] < 1:
            raise ConfigError(f"{src}: [smtp] {key}: must be at least 1, got {sm[key]}")
    for where, url in (("[unsubscribe] base_url", un["base_url"]),
                       ("[digest] archive_url", dg["archive_url"]), ("[site] url", s["url"])):
        if not url.startswith("https://"):
            raise ConfigError(f"{src}: {where}: must be an https:// URL (links in the email "
                              f"are absolute https), got {url!r}")
    _check_template(dg["subject"], SUBJECT_FIELDS, f"{src}: [digest] subject")
    _check_template(dg["preheader"], SUBJECT_FIELDS, f"{src}: [digest] preheader")
    if dg["teaser_chars"] < 40:
        raise ConfigError(f"{src}: [digest] teaser_chars: must be at least 40")
    try:
        tz = ZoneInfo(sc["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{src}: [schedule] timezone: unknown time zone "
                          f"{sc['timezone']!r}") from None
    for key in ("collect", "send"):
        try:
            cron_trigger(sc[key], tz)
        except ValueError as exc:
            raise ConfigError(f"{src}: [schedule] {key}: not a cron expression "
                              f"({sc[key]!r}: {exc})") from None
    themes = []
    for tid, t in data["themes"].items():
        if not tid.isidentifier():
            raise ConfigError(f"{src}: [themes.{tid}]: theme ids are letters, digits and _")
        if "title" not in t:
            raise ConfigError(f"{src}: [themes.{tid}] title: required")
        terms = tuple(x.strip() for x in t.get("terms", []) if x.strip())
        themes.append(Theme(tid, t["title"], terms, tuple(t.get("exact", []))))
    catch_all = [t.id for t in themes if t.catch_all]
    if len(catch_all) != 1:
        raise ConfigError(
            f"{src}: [themes]: exactly one theme must have no terms (the catch-all for "
            f"summaries that match nothing); found {len(catch_all)}: {', '.join(catch_all)}"
        )
    if not data.get("feeds"):
        raise ConfigError(f"{src}: [[feeds]]: at least one feed is required")
    return Config(
        source=src,
        base_dir=base_dir,
        site=Site(s["name"], s["url"], s["from"], s["postal_address"], s.get("reply_to", "")),
        store_path=(base_dir / data["store"]["path"]),
        feeds=tuple(Feed(f["url"], f.get("name", f["url"])) for f in data["feeds"]),
        smtp=Smtp(
            host=sm["host"], port=sm["port"], security=sm["security"],
            username=sm["username"], password=env.get(ENV_PASSWORD, ""),
            timeout=sm["timeout"], concurrency=sm["concurrency"],
            max_per_second=sm["max_per_second"], max_per_hour=sm["max_per_hour"],
            reconnect_after=sm["reconnect_after"], max_attempts=sm["max_attempts"],
            retry_base_seconds=sm["retry_base_seconds"], bounce_after=sm["bounce_after"],
            ca_file=str(base_dir / sm["ca_file"]) if sm["ca_file"] else "",
        ),
        unsubscribe=Unsubscribe(un["base_url"].rstrip("/"), un["mailto"]),
        digest=Digest(dg["subject"], dg["preheader"], dg["teaser_chars"], dg["templates"],
                      dg["disclaimer"], tuple(dg["caveats"]), dg["archive_url"],
                      dg["require_approval"]),
        schedule=Schedule(sc["collect"], sc["send"], sc["timezone"], sc["grace_hours"]),
        themes=tuple(themes),
    )


def _parse(text: str, src: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{src}: not valid TOML: {exc}") from None


def resolve_path(explicit: str | os.PathLike[str] | None,
                 env: dict[str, str] | None = None) -> Path | None:
    """--config, else $MSDIGEST_CONFIG, else ./digest.toml if present, else None."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    if Path(DEFAULT_FILE).is_file():
        return Path(DEFAULT_FILE)
    return None


def load(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
         overrides: dict[str, Any] | None = None) -> Config:
    """Load the config the CLI would: the file found by resolve_path over the defaults."""
    env = dict(os.environ if env is None else env)
    defaults = _validate_file(_parse(_embedded_text(), EMBEDDED), EMBEDDED)
    found = resolve_path(path, env)
    data, src, base_dir = defaults, EMBEDDED, Path.cwd()
    if found is not None:
        src = str(found)
        try:
            text = found.read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"{src}: cannot read config file: {exc.strerror}") from None
        data = _merge(defaults, _validate_file(_parse(text, src), src))
        base_dir = found.resolve().parent
    if overrides:
        data = _merge(data, _validate_file(overrides, "<overrides>"))
    return _build(data, src, base_dir, env)


def secret(env: dict[str, str] | None = None) -> bytes | None:
    env = os.environ if env is None else env
    value = env.get(ENV_SECRET, "")
    return value.encode() if value else None
