"""Configuration: one TOML file laid over embedded defaults, validated on load.

The schema is written once, as the dataclasses of config/sections.py. Every error
names the file and the key, because the person reading it has the file open, not
the code.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo

from ..cron import cron_trigger
from ..errors import ConfigError
from ..location import Location
from ..model import Site, Theme
from .sections import (
    EMBEDDED,
    ENV_CONFIG,
    ENV_IMAP_PASSWORD,
    ENV_PASSWORD,
    ENV_SECRET,
    RENAMED,
    SECTIONS,
    SITE_CHECKS,
    THEME_KEYS,
    Bounces,
    Check,
    Collect,
    Digest,
    Feed,
    Logging,
    Schedule,
    Smtp,
    Store,
    Subscribe,
    Unsubscribe,
    Web,
    Worker,
)

__all__ = ["EMBEDDED", "ENV_CONFIG", "ENV_IMAP_PASSWORD", "ENV_PASSWORD", "ENV_SECRET",
           "Bounces", "Collect", "Config", "Digest", "Feed", "Logging", "Schedule", "Smtp",
           "Store", "Unsubscribe", "load", "resolve_path"]

DEFAULT_FILE = "digest.toml"
MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class Config:
    source: str
    base_dir: Path
    site: Site
    store: Store
    collect: Collect
    feeds: tuple[Feed, ...]
    smtp: Smtp
    unsubscribe: Unsubscribe
    web: Web
    subscribe: Subscribe
    digest: Digest
    schedule: Schedule
    logging: Logging
    bounces: Bounces
    worker: Worker
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
    def store_location(self) -> Location:
        """The store's place; checked when the config was read."""
        if self.store.path:
            return Location(path=self.base_dir / self.store.path)
        return Location.parse(self.store.url, self.base_dir)

    @property
    def store_path(self) -> Path:
        """The SQLite file (for what only SQLite has: its lock files, backups)."""
        location = self.store_location
        if location.path is None:
            raise ConfigError(f"{self.source}: [store] url: this needs a SQLite store; the "
                              f"store here is PostgreSQL at {location} (back it up with "
                              "pg_dump, and run `msdigest worker` on each host instead of "
                              "`msdigest run`)")
        return location.path

    @property
    def secret(self) -> bytes | None:
        """The key that signs subscribers' links (MSDIGEST_SECRET), if set."""
        return self.unsubscribe.secret.encode() if self.unsubscribe.secret else None

    @property
    def archive_dir(self) -> Path | None:
        """Where the archive is rebuilt after each completed send (None: it is not)."""
        return self.base_dir / self.digest.archive_dir if self.digest.archive_dir else None

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
            if section == "store" and {"url", "path"} <= set(value):
                raise ConfigError(f"{src}: [store]: set url or path, not both (path is the "
                                  "older spelling of url = \"sqlite:///FILE\")")
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
        minor = tuple(x.strip() for x in t.get("minor", ()) if x.strip())
        themes.append(Theme(tid, t["title"], terms, tuple(t.get("exact", ())), minor))
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
    for job in ("collect", "send", "bounces"):
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
    bounces: Bounces = sections["bounces"]
    if bounces.source == "imap":
        for key in ("host", "username"):
            if not getattr(bounces, key):
                raise ConfigError(f"{src}: [bounces] {key}: required when source = \"imap\"")
    if bounces.source == "maildir" and not bounces.maildir:
        raise ConfigError(f"{src}: [bounces] maildir: required when source = \"maildir\" "
                          "(the Maildir folder, relative to this file)")
    sections["bounces"] = dataclasses.replace(
        bounces, maildir=str(base_dir / bounces.maildir) if bounces.maildir else "",
        ca_file=str(base_dir / bounces.ca_file) if bounces.ca_file else "")
    store: Store = sections["store"]
    try:
        Location.parse(store.url, base_dir)
    except ValueError as exc:
        raise ConfigError(f"{src}: [store] url: {exc}") from None
    smtp: Smtp = sections["smtp"]
    if smtp.ca_file:
        sections["smtp"] = dataclasses.replace(smtp, ca_file=str(base_dir / smtp.ca_file))
    unsub: Unsubscribe = sections["unsubscribe"]
    sections["unsubscribe"] = dataclasses.replace(unsub, base_url=unsub.base_url.rstrip("/"))
    secret = sections["unsubscribe"].secret
    if secret is not None and len(secret.encode()) < MIN_SECRET_BYTES:
        n = len(secret.encode())
        raise ConfigError(
            f"{ENV_SECRET} is {n} byte{'s' if n != 1 else ''} long; it must be at least "
            f"{MIN_SECRET_BYTES} (it signs every subscriber's links, and a short key can be "
            "found from one received email). Make one with: python3 -c "
            "'import secrets; print(secrets.token_urlsafe(32))' and keep it the same "
            "between sends")
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
