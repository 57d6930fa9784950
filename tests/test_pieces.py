"""Pieces: any variant assembled from an issue inlined once is its own full render.

Compared as a mail client reads them: the HTML and text after quoted-printable decoding,
for variants of every shape (one theme, all of them, a theme with no summaries, a single
summary), against `render` of that variant alone and the standard library's build.
"""

from __future__ import annotations

import quopri
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default

import pytest

from msdigest import config as config_mod
from msdigest.delivery.variants import PLANS, Variants
from msdigest.message import Sender, Undotted, _encoded, build
from msdigest.model import Edition, Issue, Item, Section, Subscriber, SubscriberStatus
from msdigest.period import Period
from msdigest.pieces import Pieces, agrees, shape_of
from msdigest.render import fill_html, fill_text, render, variant_values
from msdigest.templates import look
from msdigest.unsubscribe import Signer

from .test_delivery import check_wire_format, decoded

CFG = config_mod.load(None, env={})
SECRET = b"pieces-test-secret"
WHEN = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
TITLES = ["Gut & brain", "Exercise <and> rehab", 'The "new" drugs', "Zoë's Ørsted trials",
          "Biomarkers", "Empty this month", "Sleep", "Fatigue", "Diet", "Pregnancy",
          "Imaging", "Genetics", "Cognition", "Other research"]


def edition(templates: tuple[tuple[str, str], ...] | None = None) -> Edition:
    """14 themes, 40 summaries with odd characters; one theme has none, one has one."""
    sections = []
    start = datetime(2026, 10, 1, 9, tzinfo=UTC)
    n = 0
    for i, title in enumerate(TITLES):
        count = 0 if i == 5 else 1 if i == 6 else 3
        items = tuple(Item(f"s{n + j}", f"Study {n + j}: {title} — “quoted” & <b>bold</b>",
                           f"https://example.org/s/{n + j}?a=1&b=2",
                           start + timedelta(days=n + j),
                           ("A teaser that runs on for a while, " * 6) + f"number {n + j}.",
                           f"t{i}", pinned=j == 0) for j in range(count))
        n += count
        sections.append(Section(f"t{i}", title, items))
    issue = Issue(Period(2026, 10), CFG.site.name, tuple(sections),
                  'MS "digest" & more: {count} {summaries} for {month}',
                  "{count} new {summaries} — {site}", "A note with a [link](https://x.org/).")
    lk = look(CFG)
    return Edition(issue, replace(lk, templates=templates) if templates else lk)


VARIANTS = [
    (),  # every theme
    ("t0",),  # one theme
    ("t5",),  # a theme with no summaries this month
    ("t6",),  # one summary
    ("t5", "t6"),
    ("t1", "t3", "t13"),
    tuple(f"t{i}" for i in range(14) if i != 7),  # all but one
    tuple(f"t{i}" for i in range(0, 14, 2)),
]


@pytest.mark.parametrize("themes", VARIANTS)
def test_a_variant_from_pieces_is_its_full_render(themes: tuple[str, ...]) -> None:
    ed = edition()
    shape, sections = shape_of(ed, themes)
    pieces = Pieces.of(ed, shape)
    values = variant_values(ed.issue, sections, themes)
    page, text = pieces.assemble(frozenset(s.id for s in sections))
    full = render(ed, themes)
    assert fill_html(page, values) == full.html
    assert fill_text(text, values) == full.text
    assert agrees(ed, pieces, themes)


def test_the_subject_count_and_themes_are_the_variants_own() -> None:
    full = render(edition(), ("t1", "t6"))
    assert full.count == 4
    assert full.subject == 'MS "digest" & more: 4 summaries for October 2026'
    assert "<title>MS &#34;digest&#34; &amp; more: 4 summaries" in full.html
    assert "for these themes: Exercise &lt;and&gt; rehab, Sleep." in full.html
    assert "Here are 4 new plain-language" in full.html
    assert "for these themes: Exercise <and> rehab, Sleep." in " ".join(full.text.split())
    one = render(edition(), ("t6",))
    assert "Here is 1 new plain-language\nsummary" in one.html
    assert "There are no new summaries" in render(edition(), ("t5",)).html


def subscriber(i: int, themes: tuple[str, ...]) -> Subscriber:
    names = ["Ana Silva", 'Dr. "Doc" O\'Brien, MD', "", "李小龙", "A" * 150]
    return Subscriber(f"reader{i}@example.org", names[i % len(names)], themes,
                      SubscriberStatus.ACTIVE)


def assert_same_message(data: bytes, ed: Edition, sub: Subscriber, msgid: str) -> None:
    got = check_wire_format(data)
    sender = Sender.of(ed.look.site)
    full = build(sender, render(ed, sub.themes), sub, Signer.of(CFG, SECRET).links(sub.email),
                 msgid, WHEN)
    reference = message_from_bytes(full.as_bytes(), policy=default)
    mine, theirs = decoded(got), decoded(reference)  # type: ignore[arg-type]
    assert mine == theirs


def test_a_message_spliced_from_pieces_decodes_to_a_full_build() -> None:
    ed = edition()
    variants = Variants(ed, Sender.of(ed.look.site), Signer.of(CFG, SECRET), WHEN)
    for i, themes in enumerate(VARIANTS * 2):  # the second round comes from the plans kept
        sub = subscriber(i, themes)
        msgid = f"<{i}.test@summaries.example.org>"
        data = variants.message(sub, msgid)
        assert_same_message(data, ed, sub, msgid)
        assert isinstance(data, Undotted) and b"\n." not in data  # nothing to dot-stuff
    assert set(variants.by_shape) == {shape_of(ed, t)[0] for t in VARIANTS}
    assert all(p is not None for p in variants.by_shape.values())


def test_quoted_printable_pieces_join_in_any_order_and_keep_to_76_octets() -> None:
    rng = random.Random(5)
    for _ in range(3000):
        text = "".join(rng.choice("ab .=é\t\n") for _ in range(rng.randint(0, 300)))
        text = "." * rng.randint(0, 90) + text if rng.random() < 0.3 else text
        out = _encoded(text)
        lines = out.split(b"\r\n")
        assert all(len(line) <= 76 for line in lines)
        assert not out.startswith(b".") and b"\n." not in out
        assert quopri.decodestring(out.replace(b"\r\n", b"\n")) == text.encode()


def test_a_style_that_looks_at_neighbours_is_rendered_in_full() -> None:
    """`li + li` styles every table-of-contents line but the first: which line is first
    depends on the variant, so the pieces cannot be used and each variant is rendered."""
    templates = dict(look(CFG).templates)
    templates["email.html.j2"] = templates["email.html.j2"].replace(
        "  a { color: #1a5fb4; }", "  a { color: #1a5fb4; }\n  li + li { color: #222222; }")
    ed = edition(tuple(sorted(templates.items())))
    themes = ("t2", "t3")
    shape, _ = shape_of(ed, themes)
    assert not agrees(ed, Pieces.of(ed, shape), themes)
    variants = Variants(ed, Sender.of(ed.look.site), Signer.of(CFG, SECRET), WHEN)
    sub = subscriber(1, themes)
    assert_same_message(variants.message(sub, "<n@x.org>"), ed, sub, "<n@x.org>")
    assert variants.by_shape[shape] is None


def test_memory_for_variants_stays_bounded() -> None:
    ed = edition()
    variants = Variants(ed, Sender.of(ed.look.site), Signer.of(CFG, SECRET), WHEN)
    ids = [f"t{i}" for i in range(14)]
    for mask in range(1, PLANS + 200):
        themes = tuple(t for b, t in enumerate(ids) if mask >> b & 1)
        variants.plan(themes)
    assert len(variants.plans) == PLANS
