"""The pages behind the email's links, as a subscriber uses them on a phone in Chromium."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from msdigest.config import Config
from msdigest.store import Store
from msdigest.subscribers import import_file
from msdigest.unsubscribe import Signer
from msdigest.web.links import server

from .chromium import screenshot
from .conftest import REPO, SECRET

pytestmark = pytest.mark.browser

MEASURE = """
const r = el => el.getBoundingClientRect();
return {
  innerWidth: innerWidth, scrollWidth: document.documentElement.scrollWidth,
  fontSizes: [...document.querySelectorAll('p, label, button, a')].map(
    el => parseFloat(getComputedStyle(el).fontSize)),
  targets: [...document.querySelectorAll('button, label, a')].map(
    el => [el.textContent.trim(), r(el).height]),
  height: document.documentElement.scrollHeight,
};
"""


@pytest.fixture
def site(make_config: Callable[..., Config]) -> Iterator[tuple[Config, Store, str]]:
    cfg = make_config()
    store = Store.open(cfg.store_location)
    import_file(store, REPO / "subscribers.example.csv", cfg.theme_ids)
    httpd = server(cfg, SECRET, "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield cfg, store, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def open_on_phone(driver: Any, url: str) -> dict[str, Any]:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 375, "height": 700, "deviceScaleFactor": 1, "mobile": True})
    driver.get(url)
    page = driver.execute_script(MEASURE)
    assert page["scrollWidth"] <= page["innerWidth"] == 375
    assert min(page["fontSizes"]) >= 16
    small = [t for t in page["targets"] if t[1] < 44]
    assert not small, f"tap targets under 44 px: {small}"
    return page


def wait_for_text(driver: Any, selector: str, text: str) -> None:
    """After a form post, wait for the next page rather than read the old one."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(driver, 10).until(expected_conditions.text_to_be_present_in_element(
        ("css selector", selector), text))


def open_link(driver: Any, site: tuple[Config, Store, str], email: str, page: str) -> None:
    """Follow this subscriber's link (as in their email) on a phone; keep a screenshot."""
    cfg, _, base = site
    url = getattr(Signer.of(cfg, SECRET).links(email), page)
    measured = open_on_phone(driver, base + url.split("/digest", 1)[1])
    screenshot(driver, f"{page}-375.png", 375, measured["height"])


def test_unsubscribe_by_tapping_the_button(driver: Any,
                                           site: tuple[Config, Store, str]) -> None:
    store = site[1]
    open_link(driver, site, "ana.silva@example.org", "unsubscribe")
    body = driver.find_element("css selector", "body").text
    assert "Stop sending the monthly digest to ana.silva@example.org?" in body
    assert store.subscribers.get("ana.silva@example.org").status == "active"  # type: ignore
    driver.find_element("css selector", "button[type=submit]").click()
    wait_for_text(driver, "h1", "You are unsubscribed")
    assert store.subscribers.get("ana.silva@example.org").status == "unsubscribed"  # type: ignore


def test_choose_themes_by_tapping_checkboxes(driver: Any,
                                             site: tuple[Config, Store, str]) -> None:
    store = site[1]
    open_link(driver, site, "ben.okafor@example.org", "preferences")
    boxes = {b.get_attribute("value"): b for b in
             driver.find_elements("css selector", "input[name=theme]")}
    assert [k for k, b in boxes.items() if b.is_selected()] == ["exercise", "therapies"]
    # Tap the labels, as a person would, not the small boxes.
    for label in driver.find_elements("css selector", "label"):
        if label.text in ("Therapies", "Biomarkers and monitoring"):
            label.click()
    driver.find_element("css selector", "button[type=submit]").click()
    wait_for_text(driver, "[role=status]", "Saved.")
    assert store.subscribers.get("ben.okafor@example.org").themes == (  # type: ignore[union-attr]
        "exercise", "biomarkers")
