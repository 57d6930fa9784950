"""Render: an issue (or one subscriber's part of it) to HTML and plain text.

Rendering and CSS inlining are the slow steps, so they happen once per *variant*
(a set of chosen themes). The per-subscriber fields — greeting, address, signed
links — are left as placeholders and filled in by `personalize`, which is cheap.
"""

from __future__ import annotations

import html
import logging
import re
import textwrap
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import lru_cache

import jinja2
from markupsafe import Markup
from premailer import Premailer

from . import bundled, editorial
from .compose import fill
from .config import Config
from .model import Issue, Section

# Placeholders survive Jinja, premailer and MIME unchanged: plain word characters.
FIELDS = ("GREETING", "EMAIL", "UNSUBSCRIBE_URL", "PREFERENCES_URL")
PLACEHOLDER = {f: f"__MSDIGEST_{f}__" for f in FIELDS}
GMAIL_CLIP_BYTES = 102 * 1024
BASIC_ATTRIBUTES = ["align", "valign", "bgcolor", "width", "height"]


@dataclass(frozen=True)
class Personal:
    """What differs between two subscribers who chose the same themes."""

    greeting: str
    email: str
    unsubscribe_url: str
    preferences_url: str

    def values(self) -> dict[str, str]:
        return {"GREETING": self.greeting, "EMAIL": self.email,
                "UNSUBSCRIBE_URL": self.unsubscribe_url,
                "PREFERENCES_URL": self.preferences_url}


@dataclass(frozen=True)
class Rendered:
    """One variant of an issue, ready to personalize."""

    themes: tuple[str, ...]
    subject: str
    preheader: str
    count: int
    html: str
    text: str


def greeting(name: str) -> str:
    return f"Hello {name}," if name.strip() else "Hello,"


def _longdate(value: datetime, tz: tzinfo) -> str:
    local = value.astimezone(tz)
    return f"{local:%B} {local.day}, {local.year}"


TEXT_WIDTH = 78


def _wrap(text: str, first: str = "", rest: str | None = None,
          width: int = TEXT_WIDTH) -> str:
    """Wrap for the plain-text part: `first` starts the first line, `rest` (default: the
    same) the others. Never breaks a URL or a long word: such a word gets a line alone."""
    rest = first if rest is None else rest
    out = []
    for para in str(text).split("\n"):
        out.append(textwrap.fill(para, width, initial_indent=first, subsequent_indent=rest,
                                 break_long_words=False, break_on_hyphens=False) or first)
    return "\n".join(out)


def _url_line(url: str, label: str, width: int = TEXT_WIDTH) -> str:
    """"label URL" on one line if it fits, else the label and then the URL on its own line."""
    one = f"{label} {url}"
    return one if len(one) <= width else f"{_wrap(label)}\n{url}"


@lru_cache(maxsize=8)
def _environment(folders: tuple[str, ...]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(folders)),
        autoescape=lambda name: bool(name) and name.endswith((".html.j2", ".html")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = _wrap
    env.filters["url_line"] = _url_line
    return env


def environment(cfg: Config) -> jinja2.Environment:
    """Editor's folder first (override one template or all), bundled ones after."""
    folders = [str(bundled.path("templates"))]
    own = cfg.templates_dir()
    if own is not None:
        if not own.is_dir():
            raise FileNotFoundError(f"{cfg.source}: [digest] templates: no folder {own}")
        folders.insert(0, str(own))
    return _environment(tuple(folders))


_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)
_CLASS_NAME = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
_CLASS_ATTR = re.compile(r'(<[a-zA-Z][^<>]*?)\sclass="([^"]*)"')  # inside a start tag only


def drop_unused_classes(document: str) -> str:
    """Remove class names that no remaining <style> rule uses (after inlining, most do
    nothing but cost bytes 60 times over); keep those that @media rules still need."""
    used = {m for css in _STYLE.findall(document) for m in _CLASS_NAME.findall(css)}

    def keep(m: re.Match[str]) -> str:
        names = [n for n in m.group(2).split() if n in used]
        return m.group(1) + (f' class="{" ".join(names)}"' if names else "")

    return _CLASS_ATTR.sub(keep, document)


def inline_css(document: str) -> str:
    """Inline the <style> rules; keep media queries and dark-mode rules in <head>."""
    return drop_unused_classes(Premailer(
        document,
        keep_style_tags=False,  # premailer still keeps rules it cannot inline (@media)
        strip_important=False,
        remove_classes=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
        allow_network=False,
        # premailer would copy CSS into old attributes (bgcolor, width, align, ...), which are
        # invalid on <div>/<p> and bloat the message; the template writes the few that
        # Outlook needs itself, inside its <!--[if mso]> blocks.
        disable_basic_attributes=BASIC_ATTRIBUTES,
    ).transform(pretty_print=False))


def render(cfg: Config, issue: Issue, themes: tuple[str, ...] = (),
           web: bool = False) -> Rendered:
    """Render the sections these themes choose (empty = all) with placeholders;
    `web` renders the archive's copy, which has no personal parts."""
    sections: tuple[Section, ...] = issue.for_themes(themes)
    count = sum(len(s.items) for s in sections)
    # The editor's subject (`msdigest issue subject`) if set; counted for this variant.
    subject = fill(issue.subject_template or cfg.digest.subject, cfg, issue.period, count)
    preheader = fill(cfg.digest.preheader, cfg, issue.period, count)
    env = environment(cfg)
    tz = cfg.tz
    context = {
        "site": cfg.site,
        "issue": issue,
        "month": issue.month,
        "subject": subject,
        "preheader": preheader,
        "sections": sections,
        "count": count,
        "all_themes": not themes,
        "disclaimer": cfg.digest.disclaimer,
        "caveats": cfg.digest.caveats,
        # The editor's note (Markdown, already sanitized to https-only links), if any.
        "intro_html": Markup(editorial.intro_html(issue.intro)),
        "intro_text": editorial.intro_text(issue.intro) if issue.intro.strip() else "",
        "intro_links": editorial.intro_links(issue.intro) if issue.intro.strip() else [],
        "date": lambda dt: _longdate(dt, tz),
        "view_url": cfg.digest.view_url(issue.period),
        "web": web,
        "archive_index": f"{cfg.digest.archive_url.rstrip('/')}/index.html",
        "p": PLACEHOLDER,
    }
    document = env.get_template("email.html.j2").render(context)
    text = env.get_template("email.txt.j2").render(context)
    return Rendered(tuple(themes), subject, preheader, count, inline_css(document), text)


def personalize(rendered: Rendered, person: Personal) -> tuple[str, str]:
    """(html, text) for one subscriber: placeholders replaced, HTML-escaped where HTML."""
    page, text = rendered.html, rendered.text
    for field, value in person.values().items():
        token = PLACEHOLDER[field]
        page = page.replace(token, html.escape(value, quote=True))
        text = text.replace(token, value)
    return page, text
