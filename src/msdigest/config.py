"""Configuration: one TOML file laid over embedded defaults, validated on load.

The schema is the dataclasses below: each field is a key, its type is the key's
type, and `field(metadata=...)` holds the checks. Every error names the file and
the key, because the person reading it has the file open, not the code.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .cron import cron_trigger
from .errors import ConfigError
from .model import SUBJECT_FIELDS, Site, Theme, placeholders

ENV_CONFIG = "MSDIGEST_CONFIG"
ENV_PASSWORD = "MSDIGEST_SMTP_PASSWORD"
ENV_SECRET = "MSDIGEST_SECRET"
DEFAULT_FILE = "digest.toml"
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


def https(v: str) -> str | None:
    return None if v.startswith("https://") else \
        f"must be an https:// URL (links in the email are absolute https), got {v!r}"


def subject_template(v: str) -> str | None:
    try:
        unknown = placeholders(v) - SUBJECT_FIELDS
    except ValueError as exc:
        return str(exc)
    if unknown:
        return (f"unknown placeholder {{{sorted(unknown)[0]}}}; use any of "
                f"{', '.join('{' + f + '}' for f in sorted(SUBJECT_FIELDS))}")
    return None


def time_zone(v: str) -> str | None:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {v!r}"
    return None


@dataclass(frozen=True)
class Store:
    path: str  # relative to the config file


@dataclass(frozen=True)
class Feed:
    url: str = field(metadata=checks(lambda v: None if v else "required"))
    name: str = ""


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int = field(metadata=checks(between(1, 65535)))
    security: str = field(metadata=checks(one_of("none", "starttls", "ssl")))
    username: str
    timeout: float = field(metadata=checks(at_least(0.1)))
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
    require_approval: bool


@dataclass(frozen=True)
class Schedule:
    collect: str
    send: str
    timezone: str = field(metadata=checks(time_zone))
    grace_hours: float = field(metadata=checks(at_least(0)))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# [table] -> its dataclass; [site] is the model's Site, whose `sender` is the key `from`
SECTIONS: dict[str, type] = {"site": Site, "store": Store, "smtp": Smtp,
                             "unsubscribe": Unsubscribe, "digest": Digest, "schedule": Schedule}
RENAMED = {("site", "from"): "sender"}
SITE_CHECKS: dict[str, tuple[Check, ...]] = {"url": (https,)}
THEME_KEYS = {"title": str, "terms": tuple[str, ...], "exact": tuple[str, ...]}


@dataclass(frozen=True)
class Config:
    source: str
    base_dir: Path
    site: Site
    store: Store
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
    def catch_all(self) -> str:
        return next(t.id for t in self.themes if t.catch_all)

    @property
    def tz(self) -> ZoneInfo:
        return self.schedule.tz

    @property
    def store_path(self) -> Path:
        return self.base_dir / self.store.path

    @property
    def secret(self) -> bytes | None:
        """The key that signs subscribers' links (MSDIGEST_SECRET), if set."""
        return self.unsubscribe.secret.encode() if self.unsubscribe.secret else None

    def templates_dir(self) -> Path | None:
        """The editor's own templates folder, or None for the bundled ones."""
        return (self.base_dir / self.digest.templates).resolve() if self.digest.templates \
            else None


# --- the schema, read off the dataclasses ------------------------------------------------


def _fields(cls: type) -> dict[str, tuple[str, Any, dataclasses.Field[Any]]]:
    """TOML key -> (attribute, type, field) for a section's dataclass."""
    section = next((s for s, c in SECTIONS.items() if c is cls), "")
    hints = get_type_hints(cls)
    names = {attr: toml for (sec, toml), attr in RENAMED.items() if sec == section}
    return {names.get(f.name, f.name): (f.name, hints[f.name], f)
            for f in dataclasses.fields(cls) if "env" not in f.metadata}


def _type_name(want: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        want, "a list of strings")


def _typed(value: Any, want: Any, where: str) -> Any:
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if want in (str, int, float, bool):
        if isinstance(value, want) and not (want is int and isinstance(value, bool)):
            return value
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{where}: expected {_type_name(want)}, got {value!r}")


def _unknown(name: str, known: Any, where: str) -> ConfigError:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{where}: unknown key {name!r}{hint}")


def _table(raw: Any, keys: dict[str, Any], where: str, src: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{src}: {where} must be a table")
    out = {}
    for name, value in raw.items():
        if name not in keys:
            raise _unknown(name, keys, f"{src}: {where}")
        out[name] = _typed(value, keys[name], f"{src}: {where} {name}")
    return out


def _validate_file(data: dict[str, Any], src: str) -> dict[str, Any]:
    """Check one file's own keys and types (not completeness: defaults fill gaps)."""
    out: dict[str, Any] = {}
    for section, value in data.items():
        if section == "feeds":
            if not isinstance(value, list):
                raise ConfigError(f"{src}: feeds must be an array of tables ([[feeds]])")
            keys = {k: t for k, (_, t, _) in _fields(Feed).items()}
            out["feeds"] = [_table(f, keys, f"[[feeds]] #{i}", src)
                            for i, f in enumerate(value, 1)]
        elif section == "themes":
            if not isinstance(value, dict) or not value:
                raise ConfigError(f"{src}: [themes] must hold at least one [themes.<id>] table")
            out["themes"] = {tid: _table(t, THEME_KEYS, f"[themes.{tid}]", src)
                             for tid, t in value.items()}
        elif section in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{src}: [{section}] must be a table")
            for f in dataclasses.fields(SECTIONS[section]):
                env = f.metadata.get("env")
                for name in (f.name, *f.metadata.get("refused", ())) if env else ():
                    if name in value:
                        raise ConfigError(f"{src}: [{section}] {name}: secrets are not read "
                                          f"from files; set the environment variable {env}")
            keys = {k: t for k, (_, t, _) in _fields(SECTIONS[section]).items()}
            out[section] = _table(value, keys, f"[{section}]", src)
        else:
            raise _unknown(section, {*SECTIONS, "feeds", "themes"}, f"{src}: top level")
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for name, value in over.items():
        if name in SECTIONS:
            merged[name] = {**merged.get(name, {}), **value}
        else:  # feeds and themes replace the defaults as a whole
            merged[name] = value
    return merged


def _section(cls: type, values: dict[str, Any], where: str, env: dict[str, str],
             extra_checks: dict[str, tuple[Check, ...]] | None = None) -> Any:
    kwargs = {}
    for toml, (attr, _, f) in _fields(cls).items():
        if toml not in values:
            if f.default is dataclasses.MISSING:
                raise ConfigError(f"{where} {toml}: required")
            continue
        value = values[toml]
        for check in (*f.metadata.get("checks", ()), *(extra_checks or {}).get(toml, ())):
            problem = check(value)
            if problem:
                raise ConfigError(f"{where} {toml}: {problem}")
        kwargs[attr] = value
    for f in dataclasses.fields(cls):
        if "env" in f.metadata:
            kwargs[f.name] = env.get(f.metadata["env"]) or None
    return cls(**kwargs)


def _themes(raw: dict[str, dict[str, Any]], src: str) -> tuple[Theme, ...]:
    themes = []
    for tid, t in raw.items():
        if not tid.isidentifier():
            raise ConfigError(f"{src}: [themes.{tid}]: theme ids are letters, digits and _")
        if "title" not in t:
            raise ConfigError(f"{src}: [themes.{tid}] title: required")
        terms = tuple(x.strip() for x in t.get("terms", ()) if x.strip())
        themes.append(Theme(tid, t["title"], terms, tuple(t.get("exact", ()))))
    catch_all = [t.id for t in themes if t.catch_all]
    if len(catch_all) != 1:
        raise ConfigError(
            f"{src}: [themes]: exactly one theme must have no terms (the catch-all for "
            f"summaries that match nothing); found {len(catch_all)}: {', '.join(catch_all)}")
    return tuple(themes)


def _build(data: dict[str, Any], src: str, base_dir: Path, env: dict[str, str]) -> Config:
    sections = {name: _section(cls, data[name], f"{src}: [{name}]", env,
                               SITE_CHECKS if name == "site" else None)
                for name, cls in SECTIONS.items()}
    schedule: Schedule = sections["schedule"]
    for job in ("collect", "send"):
        try:
            cron_trigger(getattr(schedule, job), schedule.tz)
        except ValueError as exc:
            raise ConfigError(f"{src}: [schedule] {job}: not a cron expression "
                              f"({getattr(schedule, job)!r}: {exc})") from None
    if not data.get("feeds"):
        raise ConfigError(f"{src}: [[feeds]]: at least one feed is required")
    feeds = []
    for i, raw in enumerate(data["feeds"], 1):
        feed = _section(Feed, raw, f"{src}: [[feeds]] #{i}", env)
        feeds.append(dataclasses.replace(feed, name=feed.name or feed.url))
    smtp: Smtp = sections["smtp"]
    if smtp.ca_file:
        sections["smtp"] = dataclasses.replace(smtp, ca_file=str(base_dir / smtp.ca_file))
    unsub: Unsubscribe = sections["unsubscribe"]
    sections["unsubscribe"] = dataclasses.replace(unsub, base_url=unsub.base_url.rstrip("/"))
    return Config(source=src, base_dir=base_dir, feeds=tuple(feeds),
                  themes=_themes(data["themes"], src), **sections)


def _embedded_text() -> str:
    return resources.files("msdigest").joinpath("data/defaults.toml").read_text("utf-8")


def _parse(text: str, src: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{src}: not valid TOML: {exc}") from None


def resolve_path(explicit: str | os.PathLike[str] | None,
                 env: dict[str, str] | None = None) -> Path | None:
    """--config, else $MSDIGEST_CONFIG, else ./digest.toml if present, else None."""
    env = dict(os.environ) if env is None else env
    if explicit:
        return Path(explicit)
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    if Path(DEFAULT_FILE).is_file():
        return Path(DEFAULT_FILE)
    return None


def load(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
         overrides: dict[str, Any] | None = None) -> Config:
    """Load the config the CLI would: the file found by resolve_path over the defaults;
    secrets from `env` (default: the process environment)."""
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
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{src}: not UTF-8 text (byte {exc.start})") from None
        data = _merge(defaults, _validate_file(_parse(text, src), src))
        base_dir = found.resolve().parent
    if overrides:
        data = _merge(data, _validate_file(overrides, "<overrides>"))
    return _build(data, src, base_dir, env)
