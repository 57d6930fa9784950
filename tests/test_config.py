"""Config: embedded defaults, the lookup order, and errors that name key and file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from msdigest import config as config_mod
from msdigest.config import ConfigError

from .conftest import REPO


def test_embedded_defaults_need_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = config_mod.load(env={})
    assert cfg.source == config_mod.EMBEDDED
    assert cfg.theme_ids == ("gut_microbiome", "exercise", "biomarkers", "therapies", "other")
    assert cfg.feeds[0].url == "msdigest:sample-feed.xml"
    assert cfg.store_path == tmp_path / "msdigest.sqlite"


def test_lookup_order_flag_env_then_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digest.toml").write_text('[site]\nname = "From cwd"\n')
    (tmp_path / "env.toml").write_text('[site]\nname = "From env"\n')
    (tmp_path / "flag.toml").write_text('[site]\nname = "From flag"\n')
    env = {"MSDIGEST_CONFIG": str(tmp_path / "env.toml")}
    assert config_mod.load(tmp_path / "flag.toml", env=env).site.name == "From flag"
    assert config_mod.load(None, env=env).site.name == "From env"
    assert config_mod.load(None, env={}).site.name == "From cwd"


def test_example_config_is_valid_and_documents_every_default_key() -> None:
    example = REPO / "digest.example.toml"
    cfg = config_mod.load(example, env={})
    assert cfg.source == str(example)
    defaults = tomllib.loads(config_mod._embedded_text())
    documented = tomllib.loads(example.read_text("utf-8"))
    for section, values in defaults.items():
        if isinstance(values, dict) and section != "themes":
            missing = set(values) - set(documented.get(section, {}))
            assert not missing, f"digest.example.toml lacks [{section}] {sorted(missing)}"
    assert list(documented["themes"]) == list(defaults["themes"])


@pytest.mark.parametrize(("text", "message"), [
    ('[smtp]\nport = "25"\n', "[smtp] port: expected an integer, got '25'"),
    ('[smtp]\nhots = "x"\n', "[smtp]: unknown key 'hots' (did you mean 'host'?)"),
    ('[smtp]\npassword = "hunter2"\n', "set the environment variable MSDIGEST_SMTP_PASSWORD"),
    ('[unsubscribe]\nsecret = "k"\n', "MSDIGEST_SECRET"),
    ('[smtp]\nsecurity = "tls"\n', "[smtp] security: must be none, starttls or ssl"),
    ('[schedule]\nsend = "every month"\n', "[schedule] send: not a cron expression"),
    ('[schedule]\ntimezone = "Mars/Olympus"\n', "[schedule] timezone: unknown time zone"),
    ('[digest]\nsubject = "{site} {montth}"\n', "[digest] subject: unknown placeholder {montth}"),
    ("[sitee]\n", "top level: unknown key 'sitee' (did you mean 'site'?)"),
    ('[themes.a]\ntitle = "A"\nterms = ["x"]\n', "exactly one theme must have no terms"),
    ('[themes.a]\ntitle = "A"\nterms = "x"\n', "[themes.a] terms: expected a list of strings"),
    ("[[feeds]]\nname = \"no url\"\n", "[[feeds]] #1 url: required"),
    ("[site\n", "not valid TOML"),
])
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "digest.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        config_mod.load(path, env={})
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_cron_weekdays_mean_what_crontab_means() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo
    tz = ZoneInfo("UTC")
    from msdigest.cron import cron_trigger
    monday = cron_trigger("0 9 * * 1", tz)
    after = datetime(2026, 11, 25, tzinfo=tz)  # a Wednesday
    assert monday.get_next_fire_time(None, after).strftime("%A %d") == "Monday 30"
    sunday = cron_trigger("0 9 * * 0", tz).get_next_fire_time(None, after)
    assert sunday.strftime("%A") == "Sunday"
    weekdays = cron_trigger("0 9 * * 1-5", tz)
    assert weekdays.get_next_fire_time(None, after).strftime("%A") == "Wednesday"
    with pytest.raises(ValueError, match="by name"):
        cron_trigger("0 9 * * */2", tz)


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    cfg = config_mod.load(None, env={"MSDIGEST_SMTP_PASSWORD": "pw"})
    assert cfg.smtp.password == "pw"
    key = "k" * 32
    assert config_mod.load(None, env={"MSDIGEST_SECRET": key}).secret == key.encode()
    assert config_mod.load(None, env={}).secret is None
    with pytest.raises(ConfigError) as short:  # one received link would let anyone forge
        config_mod.load(None, env={"MSDIGEST_SECRET": "a"})  # every subscriber's links
    assert "MSDIGEST_SECRET is 1 byte long; it must be at least 32" in str(short.value)
    assert "secrets.token_urlsafe(32)" in str(short.value)


def test_themes_and_feeds_replace_defaults_as_a_whole(tmp_path: Path) -> None:
    path = tmp_path / "digest.toml"
    path.write_text('[[feeds]]\nurl = "feed.xml"\n\n[themes.sleep]\ntitle = "Sleep"\n'
                    'terms = ["sleep"]\n\n[themes.rest]\ntitle = "Everything else"\n')
    cfg = config_mod.load(path, env={})
    assert cfg.theme_ids == ("sleep", "rest")
    assert [f.url for f in cfg.feeds] == ["feed.xml"]
    assert cfg.site.name == "MS Research Digest"  # other sections keep their defaults
