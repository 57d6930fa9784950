"""Render: an edition (or one subscriber's part of it) to HTML and plain text.

Rendering and CSS inlining are the slow steps. A send does them once per issue, with
every section marked, and assembles each *variant* (a set of chosen themes) from the
pieces (msdigest.pieces); `render` is the full render of one variant that the archive,
the desk and the tests use. The variant's values (subject, preheader, count, themes)
and the subscriber's (greeting, address, signed links) are placeholders until then.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

import jinja2
from markupsafe import Markup, escape
from premailer import Premailer

from .errors import TemplateError
from .model import Edition, Issue, Section
from .personal import PLACEHOLDER
from .sanitize import intro_html, intro_links, intro_text
from .templates import VARIANT, email_environment, fill_variant, fill_wraps

GMAIL_CLIP_BYTES = 102 * 1024
BASIC_ATTRIBUTES = ["align", "valign", "bgcolor", "width", "height"]
# Marks where a section's own markup starts; they survive Jinja and premailer.
PART = "<!--msdigest-part:{}-->"
TEXT_PART = "\x1fmsdigest-part:{}\x1f"


@dataclass(frozen=True)
class Rendered:
    """One variant of an issue, ready to personalize."""

    themes: tuple[str, ...]
    subject: str
    preheader: str
    count: int
    html: str
    text: str


def _longdate(value: datetime, tz: tzinfo) -> str:
    local = value.astimezone(tz)
    return f"{local:%B} {local.day}, {local.year}"


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


@dataclass(frozen=True)
class Shape:
    """What decides a variant's wording beyond its values: no summaries, one, or more
    (count 2 stands for "more"), and whether it holds every theme."""

    count: int
    all_themes: bool

    @classmethod
    def of(cls, count: int, all_themes: bool) -> Shape:
        return cls(min(count, 2), all_themes)


def variant_values(issue: Issue, sections: tuple[Section, ...], themes: tuple[str, ...]
                   ) -> dict[str, str]:
    """A variant's own values, as plain text (msdigest.templates.VARIANT_FIELDS)."""
    return {"SUBJECT": issue.subject_for(themes), "PREHEADER": issue.preheader_for(themes),
            "COUNT": str(sum(len(s.items) for s in sections)),
            "THEMES": ", ".join(s.title for s in sections)}


def fill_html(document: str, values: dict[str, str]) -> str:
    return fill_variant(document, {k: str(escape(v)) for k, v in values.items()})


def fill_text(text: str, values: dict[str, str]) -> str:
    return fill_variant(fill_wraps(text, values), values)


def _no_part(section: Section | None = None) -> str:
    return ""


def html_part(section: Section | None = None) -> Markup:
    """Where a section's own markup starts (or, without one, where the shared resumes)."""
    return Markup(PART.format(section.id if section else ""))


def text_part(section: Section | None = None) -> str:
    return TEXT_PART.format(section.id if section else "")


def document(edition: Edition, sections: tuple[Section, ...], shape: Shape, web: bool = False,
             parts: bool = False) -> tuple[str, str]:
    """The email's HTML (CSS inlined) and text with the variant's values as placeholders;
    `parts` marks where each section's own markup starts and ends (msdigest.pieces)."""
    issue, look = edition.issue, edition.look
    tz = look.tz
    intro = issue.intro if issue.intro.strip() else ""
    context = {
        "site": look.site,
        "issue": issue,
        "month": issue.month,
        "subject": VARIANT["SUBJECT"],
        "preheader": VARIANT["PREHEADER"],
        "sections": sections,
        # the number itself is filled in later; its shape decides "is" or "are"
        "count": VARIANT["COUNT"] if shape.count > 1 else shape.count,
        "all_themes": shape.all_themes,
        "theme_titles": VARIANT["THEMES"],
        "disclaimer": look.disclaimer,
        "caveats": look.caveats,
        # The editor's note (Markdown, sanitized to https-only links), if any.
        "intro_html": Markup(intro_html(intro)),
        "intro_text": intro_text(intro) if intro else "",
        "intro_links": intro_links(intro) if intro else [],
        "date": lambda dt: _longdate(dt, tz),
        "view_url": look.view_url(issue.period),
        "web": web,
        "archive_index": look.archive_index,
        "p": PLACEHOLDER,
    }
    env = email_environment(look.templates)
    try:
        page = env.get_template("email.html.j2").render(
            context, part=html_part if parts else _no_part)
        text = env.get_template("email.txt.j2").render(
            context, part=text_part if parts else _no_part)
    except jinja2.TemplateError as exc:
        where = f"{exc.name}: line {exc.lineno}: " if isinstance(
            exc, jinja2.TemplateSyntaxError) else ""
        raise TemplateError(f"the email template cannot be rendered: {where}{exc}") from None
    return inline_css(page), text


def render(edition: Edition, themes: tuple[str, ...] = (), web: bool = False) -> Rendered:
    """Render the sections these themes choose (empty = all) with placeholders for the
    subscriber's fields; `web` renders the archive's copy, which has no personal parts."""
    issue = edition.issue
    sections = issue.for_themes(themes)
    values = variant_values(issue, sections, themes)
    count = int(values["COUNT"])
    page, text = document(edition, sections, Shape.of(count, not themes), web)
    return Rendered(tuple(themes), values["SUBJECT"], values["PREHEADER"], count,
                    fill_html(page, values), fill_text(text, values))
