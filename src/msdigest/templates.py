"""Templates: where they come from (the editor's folder over the bundled one), the
filters the plain-text part needs, and the email templates snapshotted into a Look.

Pages (the desk, the link pages, the archive index) render from the folders as they
are now. The email renders from the Look: at the first real send its templates are
frozen with the issue, so a resumed send is the same email even if a file changed.
"""

from __future__ import annotations

import re
import textwrap
from functools import lru_cache

import jinja2

from . import bundled
from .config import Config
from .errors import TemplateError
from .model import Look

EMAIL_TEMPLATES = ("email.html.j2", "email.txt.j2")
TEXT_WIDTH = 78

# What differs between variants (sets of chosen themes) of one issue. The email renders
# them as placeholders, filled in after CSS inlining, so that pieces inlined once for the
# whole issue serve every variant (msdigest.pieces).
VARIANT_FIELDS = ("SUBJECT", "PREHEADER", "COUNT", "THEMES")
VARIANT = {f: f"__MSDIGEST_{f}__" for f in VARIANT_FIELDS}
_VARIANT_HOLE = re.compile("|".join(VARIANT.values()))
# A wrap over text that holds a variant placeholder waits until the value is known.
_DEFERRED = "\x1ewrap\x1f{}\x1f{}\x1f{}\x1f{}\x1e"
DEFERRED_WRAP = re.compile("\x1ewrap\x1f([^\x1f]*)\x1f([^\x1f]*)\x1f(\\d+)\x1f([^\x1e]*)\x1e")


def wrap(text: str, first: str = "", rest: str | None = None, width: int = TEXT_WIDTH) -> str:
    """Wrap for the plain-text part: `first` starts the first line, `rest` (default: the
    same) the others. Never breaks a URL or a long word: such a word gets a line alone."""
    rest = first if rest is None else rest
    if _VARIANT_HOLE.search(str(text)):
        return _DEFERRED.format(first, rest, width, text)
    out = []
    for para in str(text).split("\n"):
        out.append(textwrap.fill(para, width, initial_indent=first, subsequent_indent=rest,
                                 break_long_words=False, break_on_hyphens=False) or first)
    return "\n".join(out)


def fill_variant(text: str, values: dict[str, str]) -> str:
    """Variant placeholders replaced by their values (escaped already where HTML)."""
    return _VARIANT_HOLE.sub(lambda m: values[m.group()[11:-2]], text) if "__MSDIGEST_" \
        in text else text


def fill_wraps(text: str, values: dict[str, str]) -> str:
    """The deferred wraps of a plain-text part done, now that the values are known."""
    if "\x1ewrap" not in text:
        return text
    return DEFERRED_WRAP.sub(lambda m: wrap(fill_variant(m[4], values), m[1], m[2], int(m[3])),
                             text)


def url_line(url: str, label: str, width: int = TEXT_WIDTH) -> str:
    """"label URL" on one line if it fits, else the label and then the URL on its own line."""
    one = f"{label} {url}"
    return one if len(one) <= width else f"{wrap(label)}\n{url}"


def _environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=loader,
        autoescape=lambda name: name is not None and name.endswith((".html.j2", ".html")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = wrap
    env.filters["url_line"] = url_line
    return env


def folders(cfg: Config) -> tuple[str, ...]:
    """Editor's folder first (override one template or all), bundled ones after."""
    found = [str(bundled.path("templates"))]
    own = cfg.templates_dir()
    if own is not None:
        if not own.is_dir():
            raise TemplateError(f"{cfg.source}: [digest] templates: no folder {own} (create "
                                "it, or set templates = \"\" for the bundled ones)")
        found.insert(0, str(own))
    return tuple(found)


@lru_cache(maxsize=8)
def _pages(folders: tuple[str, ...]) -> jinja2.Environment:
    return _environment(jinja2.FileSystemLoader(list(folders)))


def pages(cfg: Config) -> jinja2.Environment:
    """For the web pages and the archive index, read from the folders."""
    return _pages(folders(cfg))


@lru_cache(maxsize=16)
def email_environment(templates: tuple[tuple[str, str], ...]) -> jinja2.Environment:
    """For an email, from the templates in its Look (compiled once per set)."""
    return _environment(jinja2.DictLoader(dict(templates)))


def snapshot(cfg: Config) -> tuple[tuple[str, str], ...]:
    """Every template as it is now (the editor's over the bundled ones): the email's
    own and whatever they include or extend, even by a name worked out at render time."""
    loader = jinja2.FileSystemLoader(list(folders(cfg)))
    env = _environment(loader)
    found = {}
    for name in loader.list_templates():
        try:
            source, filename, _ = loader.get_source(env, name)
        except UnicodeDecodeError:
            continue  # not a template (an image, say): nothing an email can include
        if name in EMAIL_TEMPLATES:
            try:
                env.parse(source)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"{filename}: line {exc.lineno}: {exc.message}") from None
        found[name] = source
    missing = [n for n in EMAIL_TEMPLATES if n not in found]
    if missing:
        raise TemplateError(f"template {missing[0]!r} not found in {', '.join(folders(cfg))}")
    return tuple(sorted(found.items()))


def look(cfg: Config) -> Look:
    """How an issue is presented, as the config and template files say now."""
    d = cfg.digest
    return Look(cfg.site, d.disclaimer, d.caveats, d.archive_url, cfg.schedule.timezone,
                snapshot(cfg))

