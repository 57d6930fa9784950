"""Pieces: an issue rendered and CSS-inlined once with every section marked, then cut at
the marks, so that any variant (a set of chosen themes) is assembled without rendering.

With 14 themes nearly every subscriber chooses a set no one else did; rendering and
inlining each set would cost 2^themes. Here the cost grows with the themes: one render
per Shape (no summaries, one, more; every theme or some), each cut into the markup
every variant shares and each section's own. Inlining is the same for a piece whatever
sits beside it as long as no CSS rule looks at siblings; `agrees` checks a variant
against its full render, and a send that finds a difference renders in full instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model import Edition, Section
from .render import PART, TEXT_PART, Shape, document, fill_html, fill_text, render, variant_values

_HTML_MARK = re.compile(re.escape(PART).replace(r"\{\}", r"(\w*)"))
_TEXT_MARK = re.compile(re.escape(TEXT_PART).replace(r"\{\}", r"(\w*)"))


@dataclass(frozen=True)
class Segment:
    owner: str  # the id of the section this belongs to; "" = every variant has it
    text: str


def cut(document: str, mark: re.Pattern[str]) -> tuple[Segment, ...]:
    """The document split at its part marks, each piece with its owner; marks removed."""
    found, owner, start = [], "", 0
    for m in mark.finditer(document):
        if m.start() > start:
            found.append(Segment(owner, document[start:m.start()]))
        owner, start = m.group(1), m.end()
    found.append(Segment(owner, document[start:]))
    if found[-1].owner:
        raise ValueError("the email template ends inside a section: add {{ part() }} after "
                         "the sections")
    return tuple(found)


@dataclass(frozen=True)
class Pieces:
    """One shape of an issue, inlined and cut; the variant's values still placeholders."""

    shape: Shape
    html: tuple[Segment, ...]
    text: tuple[Segment, ...]

    @classmethod
    def of(cls, edition: Edition, shape: Shape) -> Pieces:
        page, text = document(edition, edition.issue.sections, shape, parts=True)
        return cls(shape, cut(page, _HTML_MARK), cut(text, _TEXT_MARK))

    def assemble(self, chosen: frozenset[str]) -> tuple[str, str]:
        """The HTML and text of the variant with these sections, as placeholders."""
        return ("".join(s.text for s in self.html if not s.owner or s.owner in chosen),
                "".join(s.text for s in self.text if not s.owner or s.owner in chosen))


def shape_of(edition: Edition, themes: tuple[str, ...]) -> tuple[Shape, tuple[Section, ...]]:
    sections = edition.issue.for_themes(themes)
    return Shape.of(sum(len(s.items) for s in sections), not themes), sections


def agrees(edition: Edition, pieces: Pieces, themes: tuple[str, ...]) -> bool:
    """Whether this variant assembled from the pieces is its full render, character for
    character (a template or style that breaks the assumption shows up here)."""
    _, sections = shape_of(edition, themes)
    values = variant_values(edition.issue, sections, themes)
    page, text = pieces.assemble(frozenset(s.id for s in sections))
    full = render(edition, themes)
    return (fill_html(page, values), fill_text(text, values)) == (full.html, full.text)
