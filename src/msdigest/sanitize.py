"""Sanitize: the one allow-list for HTML from outside (feeds) and from editors (the intro).

What may reach an email or a page: text structure and links; no scripts, styles or
event handlers (nh3 drops every attribute not listed), only allowed URL schemes.
"""

from __future__ import annotations

from functools import lru_cache
from html.parser import HTMLParser
from typing import Any, ClassVar

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {"p", "br", "a", "em", "strong", "b", "i", "ul", "ol", "li", "blockquote",
                "h3", "h4", "sup", "sub", "code"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
FEED_URL_SCHEMES = {"http", "https", "mailto"}

_markdown = MarkdownIt("commonmark", {"html": False})  # raw HTML in the note stays text


def clean_html(html: str) -> str:
    """A feed's summary HTML, reduced to the allow-list."""
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes=FEED_URL_SCHEMES, link_rel="noopener noreferrer").strip()


class _TextExtractor(HTMLParser):
    BLOCKS: ClassVar[set[str]] = {"p", "br", "li", "blockquote", "h3", "h4", "ul", "ol", "div"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text with one paragraph per line, whitespace collapsed."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def plain_title(title: str) -> str:
    """A title as text: markup dropped, entities decoded, one line."""
    return " ".join(html_to_text(nh3.clean(title, tags=set())).split())


# --- the editor's intro note (Markdown) ------------------------------------------------------


@lru_cache(maxsize=32)
def intro_links(markdown: str) -> tuple[str, ...]:
    hrefs = []
    for token in _markdown.parse(markdown):
        for child in token.children or []:
            if child.type == "link_open":
                hrefs.append(str(child.attrs.get("href", "")))
    return tuple(hrefs)


@lru_cache(maxsize=32)
def intro_html(markdown: str) -> str:
    """The note as email-safe HTML: CommonMark without raw HTML, then the allow-list."""
    if not markdown.strip():
        return ""
    return nh3.clean(_markdown.render(markdown), tags=ALLOWED_TAGS,
                     attributes=ALLOWED_ATTRIBUTES, url_schemes={"https"})


def intro_text(markdown: str) -> str:
    return html_to_text(intro_html(markdown))
