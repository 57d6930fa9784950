"""Render: an edition (or one subscriber's part of it) to HTML and plain text.

Rendering and CSS inlining are the slow steps, so they happen once per *variant*
(a set of chosen themes). The per-subscriber fields — greeting, address, signed
links — are left as placeholders (msdigest.personal) and filled in later, cheaply.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

import jinja2
from markupsafe import Markup
from premailer import Premailer

from .errors import TemplateError
from .model import Edition, Section
from .personal import PLACEHOLDER
from .sanitize import intro_html, intro_links, intro_text
from .templates import email_environment

GMAIL_CLIP_BYTES = 102 * 1024
BASIC_ATTRIBUTES = ["align", "valign", "bgcolor", "width", "height"]


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


def render(edition: Edition, themes: tuple[str, ...] = (), web: bool = False) -> Rendered:
    """Render the sections these themes choose (empty = all) with placeholders;
    `web` renders the archive's copy, which has no personal parts."""
    issue, look = edition.issue, edition.look
    sections: tuple[Section, ...] = issue.for_themes(themes)
    count = sum(len(s.items) for s in sections)
    subject, preheader = issue.subject_for(themes), issue.preheader_for(themes)
    tz = look.tz
    intro = issue.intro if issue.intro.strip() else ""
    context = {
        "site": look.site,
        "issue": issue,
        "month": issue.month,
        "subject": subject,
        "preheader": preheader,
        "sections": sections,
        "count": count,
        "all_themes": not themes,
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
        document = env.get_template("email.html.j2").render(context)
        text = env.get_template("email.txt.j2").render(context)
    except jinja2.TemplateError as exc:
        where = f"{exc.name}: line {exc.lineno}: " if isinstance(
            exc, jinja2.TemplateSyntaxError) else ""
        raise TemplateError(f"the email template cannot be rendered: {where}{exc}") from None
    return Rendered(tuple(themes), subject, preheader, count, inline_css(document), text)
