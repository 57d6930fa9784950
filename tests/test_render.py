"""Render: the email as a subscriber gets it, checked on the rendered HTML and text.

Pure tests of render() and personalize(): no browser, no network. The browser checks
(layout at phone width, tap targets, what is visible) are in test_browser.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lxml.html
import pytest

from msdigest import config as config_mod
from msdigest.collect import collect_feed
from msdigest.config import Config
from msdigest.errors import TemplateError
from msdigest.model import Edition, Issue, Item, Section
from msdigest.period import Period
from msdigest.personal import PLACEHOLDER, Personal, greeting
from msdigest.personal import personalize as fill_in
from msdigest.preview import warnings
from msdigest.render import GMAIL_CLIP_BYTES, Rendered
from msdigest.render import render as render_edition
from msdigest.store import Store
from msdigest.templates import look

from .conftest import REPO, issue_of

CFG = config_mod.load(None, env={})
PERIOD = "2026-10"
EMAIL = "alex.morgan-richardson@example.org"
# Real signed links are ~110 characters; these are longer, to test wrapping at its worst.
UNSUB = ("https://summaries.example.org/digest/unsubscribe?t="
         "YWxleC5tb3JnYW4tcmljaGFyZHNvbkBleGFtcGxlLm9yZw.dJZONXBhM63nia9PjY0pFUHS&src=email")
PREFS = ("https://summaries.example.org/digest/preferences?t="
         "YWxleC5tb3JnYW4tcmljaGFyZHNvbkBleGFtcGxlLm9yZw.czMy6aHbc3zbBeO9DqW9RusA&src=email")
PERSON = Personal(greeting("Alex"), EMAIL, UNSUB, PREFS)
URL_ONLY = re.compile(r"^\s*https://\S+$")


def render(cfg: Config, issue: Issue, themes: tuple[str, ...] = ()) -> Rendered:
    """The issue in the look the config and templates give now."""
    return render_edition(Edition(issue, look(cfg)), themes)


def personalize(rendered: Rendered, person: Personal) -> tuple[str, str]:
    return fill_in(rendered.html, rendered.text, person)


def make_issue(period: str, subject: str, preheader: str,
               sections: tuple[Section, ...]) -> Issue:
    return Issue(Period.parse(period), CFG.site.name, sections, subject, preheader)


def view_url(period: str) -> str:
    return look(CFG).view_url(Period.parse(period))


@pytest.fixture(scope="module")
def issue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issue]:
    """The bundled sample feed's October 2026 issue: 8 summaries in 5 themes."""
    with Store.open(tmp_path_factory.mktemp("render") / "store.sqlite") as store:
        report = collect_feed(store, "msdigest:sample-feed.xml", REPO, CFG.tz)
        assert not report.error
        yield issue_of(store, CFG, PERIOD)


def sent(issue: Issue, themes: tuple[str, ...] = ()) -> tuple[Rendered, str, str]:
    rendered = render(CFG, issue, themes)
    page, text = personalize(rendered, PERSON)
    return rendered, page, text


def doc(page: str) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(page)


def visible_text(el: lxml.html.HtmlElement) -> str:
    return " ".join(el.text_content().split())


def items(issue: Issue) -> list[Item]:
    return [i for s in issue.sections for i in s.items]


def synthetic(n: int = 60) -> Issue:
    """A big issue with realistic lengths: titles 100, teasers 220, links ~90 characters."""
    sections, k = [], 0
    per = -(-n // len(CFG.themes))
    for theme in CFG.themes:
        its = []
        for _ in range(min(per, n - k)):
            k += 1
            title = (f"Study {k}: gut bacteria may shape how people with multiple sclerosis "
                     "respond to common treatments over time")[:100]
            teaser = ("Researchers followed 240 people with relapsing MS for two years and "
                      "found that those whose gut bacteria made more short-chain fatty acids "
                      "had fewer relapses and less disability progression than people whose "
                      "bacteria made less of them.")[:219] + "…"
            link = f"https://summaries.example.org/summaries/gut-bacteria-treatment-resp-{k:05d}"
            its.append(Item(f"id{k}", title, link.ljust(90, "x"),
                            datetime(2026, 10, 28, tzinfo=UTC) - timedelta(hours=9 * k),
                            teaser, theme.id))
        sections.append(Section(theme.id, theme.title, tuple(its)))
    return make_issue(PERIOD, "MS Research Digest — October 2026: 60 new summaries",
                      "60 plain-language summaries of MS research from October 2026.",
                      tuple(sections))


# --- the HTML part --------------------------------------------------------------------------


def test_html_is_built_for_email_clients(issue: Issue) -> None:
    rendered, page, _ = sent(issue)
    root = doc(page)
    assert root.get("lang") == "en"
    assert root.findtext(".//title") == rendered.subject
    meta = {m.get("name"): m.get("content") for m in root.iter("meta") if m.get("name")}
    assert meta["viewport"] == "width=device-width, initial-scale=1"
    assert meta["color-scheme"] == "light dark"
    # Every table, Outlook's ghost tables inside <!--[if mso]> included, is for layout only.
    tables = re.findall(r"<table\b[^>]*>", page)
    assert len(tables) >= 3
    assert all('role="presentation"' in t for t in tables), tables
    assert "<!--[if mso]>" in page and 'width="600"' in page
    # Fluid without media queries: the content is 100% wide up to 600 px, inline.
    card = root.xpath("//body//table[not(ancestor::table)]")[0]
    assert "width:100%" in card.get("style") and "max-width:600px" in card.get("style")
    # Dark mode: rules that clients supporting it apply over the inlined light colours.
    head_css = " ".join(root.xpath("//head/style/text()"))
    assert "@media (prefers-color-scheme: dark)" in head_css and "!important" in head_css
    assert "@import" not in head_css
    # No scripts, forms, external CSS, frames or relative/unsafe links.
    for tag in ("script", "form", "link", "iframe", "object", "embed", "input", "button"):
        assert not root.xpath(f"//{tag}"), tag
    hrefs = [a.get("href") for a in root.iter("a")]
    assert hrefs and all(h.startswith("https://") for h in hrefs), hrefs
    assert not re.search(r"\b(?:src|href)=\"(?!https://)", page)
    assert all(img.get("alt") is not None and img.get("width") for img in root.iter("img"))
    assert "__MSDIGEST_" not in page
    # Styles are inlined (Gmail drops most <style> CSS); leftover classes only for dark mode.
    assert root.xpath("//h3/a[contains(@style, 'display:block')]")


def test_hidden_preheader_comes_first(issue: Issue) -> None:
    rendered, page, _ = sent(issue)
    body = doc(page).find("body")
    first = body[0]
    assert visible_text(first).startswith(rendered.preheader)
    assert rendered.preheader == "8 plain-language summaries of MS research from October 2026."
    style = first.get("style").replace(" ", "")
    assert "display:none" in style and "mso-hide:all" in style and "max-height:0" in style


def test_table_of_contents_and_sections_follow_the_theme_order(issue: Issue) -> None:
    _, page, _ = sent(issue)
    root = doc(page)
    toc = [visible_text(li) for li in root.xpath("//ul/li")]
    assert toc == [f"{s.title} ({len(s.items)})" for s in issue.sections]
    assert toc[0] == "Gut microbiome (1)"
    headings = [visible_text(h) for h in root.iter("h2")]
    assert headings == [f"{s.title} ({len(s.items)})" for s in issue.sections]
    assert "Here are 8 new plain-language summaries" in visible_text(root.find("body"))
    # No "#section" links: most apps break them, so the contents are plain text.
    assert not root.xpath("//a[starts-with(@href, '#')]")


def test_each_summary_shows_title_date_teaser_read_more_and_notice(issue: Issue) -> None:
    _, page, _ = sent(issue)
    root = doc(page)
    text = visible_text(root.find("body"))
    titles = root.xpath("//h3/a")
    assert [a.text_content() for a in titles] == [i.title for i in items(issue)]
    for item, a in zip(items(issue), titles, strict=True):
        assert a.get("href") == item.link
        block = a.getparent().getparent()  # the summary's own block
        words = visible_text(block)
        local = item.published.astimezone(CFG.tz)
        human = f"{local:%B} {local.day}, {local.year}"
        assert human in words
        assert item.teaser in words
        more = block.xpath(".//a[normalize-space()='Read more']")
        assert len(more) == 1 and more[0].get("href") == item.link
        assert more[0].get("aria-label") == f"Read more: {item.title}"
        assert CFG.digest.disclaimer in words
    assert "October 14, 2026" in text and "October 1, 2026" in text  # no leading zeros
    assert text.count(CFG.digest.disclaimer) == issue.count == 8
    for caveat in CFG.digest.caveats:
        assert text.count(caveat) == 1


def test_footer_says_why_where_and_how_to_leave(issue: Issue) -> None:
    _, page, _ = sent(issue)
    root = doc(page)
    footer = root.xpath("//td[.//a[normalize-space()='Unsubscribe']]")[-1]
    words = visible_text(footer)
    assert f"You receive this email because {EMAIL} subscribed to the MS Research Digest" \
        in words
    assert CFG.site.postal_address in words
    links = {visible_text(a): a.get("href") for a in footer.iter("a")}
    assert links == {
        "View this email in your browser": view_url(PERIOD),
        "Choose your themes": PREFS,  # & in the URL survives HTML escaping
        "Unsubscribe": UNSUB,
        "Visit the MS Research Digest website": CFG.site.url,
    }
    assert links["View this email in your browser"] == \
        "https://summaries.example.org/digest/archive/2026-10.html"
    assert "&amp;src=email" in page  # escaped in the source, as HTML requires


def test_a_subscriber_gets_only_the_themes_they_chose(issue: Issue) -> None:
    rendered, page, text = sent(issue, ("exercise", "therapies"))
    assert rendered.count == 4
    root = doc(page)
    assert [visible_text(h) for h in root.iter("h2")] == \
        ["Exercise and rehabilitation (2)", "Therapies (2)"]
    assert [visible_text(li) for li in root.xpath("//ul/li")] == \
        ["Exercise and rehabilitation (2)", "Therapies (2)"]
    chosen = {i.link for s in issue.sections if s.id in ("exercise", "therapies")
              for i in s.items}
    others = {i.link for i in items(issue)} - chosen
    for link in chosen:
        assert link in page and link in text
    for link in others:
        assert link not in page and link not in text
    assert "Gut microbiome" not in page and "GUT MICROBIOME" not in text
    assert "for these themes: Exercise and rehabilitation, Therapies." in visible_text(root)
    assert "for these themes: Exercise and rehabilitation, Therapies." in " ".join(text.split())


def test_an_empty_theme_and_an_empty_issue_say_so(issue: Issue) -> None:
    empty = make_issue(PERIOD, "s", "p",
                       (*issue.sections[:1], Section("therapies", "Therapies", ())))
    _, page, text = sent(empty)
    assert "No new summaries on this theme this month." in page
    assert "No new summaries on this theme this month." in text
    nothing = make_issue(PERIOD, "s", "p", (Section("therapies", "Therapies", ()),))
    _, page, text = sent(nothing, ("therapies",))
    assert "There are no new summaries in the themes you follow this month." in page
    assert "There are no new summaries in the themes you follow this month." in text


def test_titles_are_escaped_in_html_and_plain_in_text() -> None:
    title = 'Fatigue <b>& sleep</b> "quoted"'
    item = Item("x", title, "https://summaries.example.org/s?a=1&b=2",
                datetime(2026, 7, 1, 12, tzinfo=UTC), "Teaser with <i>tags</i> & more.",
                "other")
    odd = make_issue("2026-07", "s", "p", (Section("other", "Other research", (item,)),))
    _, page, text = sent(odd)
    assert "<b>&" not in page and "<i>tags" not in page
    assert "Fatigue &lt;b&gt;&amp; sleep&lt;/b&gt;" in page
    root = doc(page)
    assert root.xpath("//h3/a")[0].text_content() == title  # shown as written
    assert root.xpath("//h3/a")[0].get("href") == "https://summaries.example.org/s?a=1&b=2"
    assert root.xpath("//a[@aria-label]")[0].get("aria-label") == f"Read more: {title}"
    assert not root.xpath("//b") and not root.xpath("//i")
    quoted = replace(item, teaser='Markup as text: <p class="notice">x</p>.')
    _, page, _ = sent(replace(odd, sections=(Section("other", "Other", (quoted,)),)))
    assert 'Markup as text: <p class="notice">x</p>.' in visible_text(doc(page))
    assert title in text and "Teaser with <i>tags</i> & more." in text
    assert "July 1, 2026" in page and "July 1, 2026" in text


def test_the_editors_note_and_subject_appear_in_both_parts(issue: Issue) -> None:
    edited = replace(issue, intro="A **big** month for [trials](https://t.example.org/x)."
                     "\n\n<script>alert(1)</script>",
                     subject_template="Your {month} digest: {count} {summaries}")
    rendered, page, text = sent(edited, ("therapies",))
    assert rendered.subject == "Your October 2026 digest: 2 summaries"  # counted per variant
    root = doc(page)
    assert root.findtext(".//title") == rendered.subject
    note = root.xpath("//strong[.='big']/ancestor::div[1]")[0]
    assert visible_text(note).startswith("A big month for trials.")
    assert note.xpath(".//a")[0].get("href") == "https://t.example.org/x"
    assert not root.xpath("//script")  # raw HTML in the note is shown as text, never run
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "A big month for trials." in text
    assert "https://t.example.org/x" in text.splitlines()
    assert long_lines(text) == []
    assert "<div class=\"intro\"" not in page  # classes with no CSS left are dropped


def test_dates_are_in_the_configured_time_zone(make_config) -> None:  # type: ignore[no-untyped-def]
    cfg = make_config(schedule={"timezone": "America/New_York"})
    item = Item("x", "T", "https://summaries.example.org/t",
                datetime(2026, 7, 1, 2, 30, tzinfo=UTC), "Teaser.", "other")
    odd = make_issue("2026-06", "s", "p", (Section("other", "Other research", (item,)),))
    page, text = personalize(render(cfg, odd), PERSON)
    assert "June 30, 2026" in page and "June 30, 2026" in text


def test_personalize_fills_every_placeholder_escaped_for_html(issue: Issue) -> None:
    rendered = render(CFG, issue)
    for token in PLACEHOLDER.values():
        assert token in rendered.html and token in rendered.text
    odd = Personal('Hello Zoë <"Z"> & co,', "z&o@example.org", UNSUB, PREFS)
    page, text = personalize(rendered, odd)
    assert "__MSDIGEST_" not in page + text
    assert "Hello Zoë &lt;&quot;Z&quot;&gt; &amp; co," in page
    assert 'Hello Zoë <"Z"> & co,' in text and "z&o@example.org" in text
    assert visible_text(doc(page)).count("z&o@example.org") == 1
    # The rendered variant is shared: personalizing one subscriber never changes it.
    assert EMAIL in personalize(rendered, PERSON)[0]
    assert "__MSDIGEST_EMAIL__" in rendered.html and EMAIL not in rendered.html


# --- the plain-text part --------------------------------------------------------------------


def long_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > 78 and not URL_ONLY.match(line)]


def test_text_part_has_the_same_content_in_lines_of_78(issue: Issue) -> None:
    rendered, _, text = sent(issue)
    assert long_lines(text) == []
    assert max(len(line) for line in text.splitlines()) > 78  # long URLs stay whole
    lines = text.splitlines()
    flat = " ".join(text.split())
    assert lines[0] == "MS Research Digest — October 2026"
    assert lines[1] == rendered.preheader
    assert "Hello Alex," in lines
    for section in issue.sections:
        assert f"  - {section.title} ({len(section.items)})" in lines
        assert f"{section.title.upper()} ({len(section.items)})" in lines
    for item in items(issue):
        assert " ".join(item.title.split()) in flat
        assert item.teaser in flat
        assert item.link in lines or f"Read more: {item.link}" in lines
        local = item.published.astimezone(CFG.tz)
        assert f"{local:%B} {local.day}, {local.year}" in lines
    assert flat.count(CFG.digest.disclaimer) == 8
    for caveat in CFG.digest.caveats:
        assert caveat in flat
    for url in (UNSUB, PREFS, view_url(PERIOD)):
        assert url in lines  # alone on its line, whole
    assert EMAIL in lines
    assert CFG.site.postal_address in lines
    assert "Unsubscribe:" in lines and "Choose your themes:" in lines
    assert "View this email in your browser:" in lines


def test_text_lines_stay_short_with_long_titles_names_and_links() -> None:
    big = synthetic(60)
    rendered = render(CFG, big, ("gut_microbiome", "exercise", "therapies"))
    long_unsub = UNSUB + "&utm_campaign=ms-research-digest-october-2026-monthly-issue"
    _, text = personalize(rendered, Personal(greeting("Alexandra Morgan-Richardson"),
                                             EMAIL, long_unsub, PREFS))
    assert long_lines(text) == []
    assert long_unsub in text.splitlines()
    short = Item("s", "Short", "https://s.example.org/a", datetime(2026, 10, 2, tzinfo=UTC),
                 "T.", "other")
    _, text = personalize(render(CFG, make_issue(PERIOD, "s", "p",
                                                 (Section("other", "Other", (short,)),))),
                          PERSON)
    assert "Read more: https://s.example.org/a" in text.splitlines()  # fits: one line


# --- size -----------------------------------------------------------------------------------


def test_a_60_summary_issue_stays_well_under_gmails_clipping_size(
        record_property: pytest.RecordProperty) -> None:
    big = synthetic(60)
    assert big.count == 60
    first = big.sections[0].items[0]
    assert (len(first.title), len(first.teaser), len(first.link)) == (100, 220, 90)
    start = time.perf_counter()
    rendered = render(CFG, big)
    seconds = time.perf_counter() - start
    page, _ = personalize(rendered, PERSON)
    size = len(page.encode("utf-8"))
    record_property("html_bytes_60_items", size)
    print(f"60-item issue: {size} bytes of HTML ({size / 1024:.1f} KB), rendered in "
          f"{seconds:.2f} s")
    assert size < GMAIL_CLIP_BYTES
    # ... and not even near enough for the preview's warning (within 10% of the limit).
    assert not [w for w in warnings(big, size) if "Gmail" in w]
    assert [w for w in warnings(big, int(GMAIL_CLIP_BYTES * 0.95)) if "Gmail clips" in w]
    assert page.count(CFG.digest.disclaimer) == 60


def test_preview_writes_the_sample_email(issue: Issue, tmp_path: Path) -> None:
    from msdigest.preview import write
    from msdigest.unsubscribe import Signer
    files = write(Edition(issue, look(CFG)), tmp_path, Signer.of(CFG, b"k"))
    page = files.html.read_text("utf-8")
    assert files.html_bytes == len(page.encode("utf-8"))
    assert files.warnings == ()  # no empty theme, far from the size limit
    assert "Hello Alex," in page and "subscriber@example.org" in page
    assert "__MSDIGEST_" not in page + files.text.read_text("utf-8")


def test_an_editors_own_templates_folder_overrides_the_bundled_ones(
        issue: Issue, tmp_path: Path, make_config) -> None:  # type: ignore[no-untyped-def]
    own = tmp_path / "my-templates"
    own.mkdir()
    (own / "email.txt.j2").write_text(
        "{{ site.name }} / {{ month }}\n{% for s in sections %}{{ s.title }}: "
        "{{ s.items | length }}\n{% endfor %}{{ p.UNSUBSCRIBE_URL }}\n", "utf-8")
    cfg = make_config(digest={"templates": "my-templates"})
    rendered = render(cfg, issue)
    assert rendered.text.startswith("MS Research Digest / October 2026\nGut microbiome: 1\n")
    assert "Gut microbiome" in rendered.html and "Read more" in rendered.html  # bundled
    missing = make_config(digest={"templates": "no-such-folder"})
    with pytest.raises(TemplateError, match="no-such-folder"):
        render(missing, issue)
