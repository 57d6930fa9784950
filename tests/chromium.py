"""Debian's chromium driven through Debian's chromedriver, for the tests of what people see.

Both paths are given explicitly, so Selenium Manager never looks for (or downloads) a
browser or a driver. `make test` installs chromium and chromium-driver when missing; a
missing browser fails the tests that need it, it never skips them.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-quic",
         "--hide-scrollbars", "--window-size=800,900"]
INSTALL = "run `make test`, which installs it (apt-get install chromium chromium-driver)"


def browser(profile: Path) -> Iterator[Any]:
    """A headless Chromium session with a fresh profile; quits when the caller is done."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: {INSTALL}", pytrace=False)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed in the venv: run `make test` "
                    "(it installs the project's test extra)", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    started = time.perf_counter()
    session = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                               options=options)
    print(f"chromium started in {time.perf_counter() - started:.2f} s")
    try:
        yield session
    finally:
        session.quit()


def screenshot(driver: Any, name: str, width: int, height: float) -> Path:
    """The whole page, not just the first screen, into test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    path = ARTIFACTS / name
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
