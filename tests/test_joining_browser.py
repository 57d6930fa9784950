"""Signing up on a phone in Chromium: fill in the form, get the confirmation at a real
SMTP server, open its link, press the button, and be on the list with the themes chosen."""

from __future__ import annotations

from typing import Any

import pytest

from msdigest.model import SubscriberStatus

from .chromium import screenshot
from .test_joining import Site, site  # noqa: F401  (the fixture)
from .test_web_browser import open_on_phone, wait_for_text

pytestmark = pytest.mark.browser


def test_sign_up_confirm_and_be_subscribed_with_the_themes_chosen(
        driver: Any, site: Site) -> None:  # noqa: F811
    base = f"http://127.0.0.1:{site.port}"
    page = open_on_phone(driver, f"{base}/subscribe")
    screenshot(driver, "subscribe-375.png", 375, page["height"])
    trap = driver.find_element("css selector", ".trap")
    assert trap.size["width"] <= 1 and not driver.find_element(
        "css selector", "#website").is_displayed()  # people never see the hidden field
    assert "I would like the monthly digest by email" in driver.find_element(
        "css selector", ".consent").text
    driver.find_element("css selector", "#email").send_keys("Noor@Example.org")
    driver.find_element("css selector", "#name").send_keys("Noor")
    for label in driver.find_elements("css selector", "label"):
        if label.text in ("Gut microbiome", "Therapies"):
            label.click()  # tap the label, as a person would
    driver.find_element("css selector", "button[type=submit]").click()
    wait_for_text(driver, "h1", "Check your inbox")
    with site.store() as store:
        assert store.subscribers.get("noor@example.org") is None
    [link] = site.confirmations("noor@example.org")
    page = open_on_phone(driver, base + link)
    assert "noor@example.org" in driver.find_element("css selector", "body").text
    assert "Gut microbiome, Therapies" in driver.find_element("css selector", "body").text
    screenshot(driver, "confirm-375.png", 375, page["height"])
    driver.find_element("css selector", "button[type=submit]").click()
    wait_for_text(driver, "h1", "You are subscribed")
    with site.store() as store:
        noor = store.subscribers.get("noor@example.org")
        assert noor is not None and noor.status is SubscriberStatus.ACTIVE
        assert noor.themes == ("gut_microbiome", "therapies") and noor.name == "Noor"


def test_a_wrong_address_is_shown_next_to_its_field(driver: Any, site: Site) -> None:  # noqa: F811
    open_on_phone(driver, f"http://127.0.0.1:{site.port}/subscribe")
    driver.execute_script("document.querySelector('#email').type = 'text'")  # skip the
    driver.find_element("css selector", "#email").send_keys("nobody-at-example")  # browser's
    driver.find_element("css selector", "button[type=submit]").click()          # own check
    wait_for_text(driver, "#email-problem", "not an email address we can send to")
    field = driver.find_element("css selector", "#email")
    assert field.get_attribute("aria-invalid") == "true"
    assert field.get_attribute("value") == "nobody-at-example"  # kept, to correct
    assert site.smtp.handler.received == []
