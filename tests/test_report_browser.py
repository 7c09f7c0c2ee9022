"""The sample's report opened in a real headless browser: every image loads, no text runs past the page's width
at a desktop and a narrow window, the key results and the summary fill the first two screens, no table is wider
than its column and the whole report is short. Runs after nbval, on the outputs it has just made."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bioscan_lib.classify.outputs import TEST_RESULTS
from bioscan_lib.config import load_profile
from bioscan_lib.core.paths import resolve_path
from bioscan_lib.report import render, summary

PROFILE = "sample"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WINDOW_WIDTHS = (1280, 800)
DESKTOP = {"width": 1400, "height": 900}
OPENING_SCREENS = 2  # the key results and the summary are read without scrolling further
REPORT_HEIGHT_LIMIT = 15_000  # pixels at the desktop width: about 17 screens
# Tables wider than the column they stand in.
WIDER_THAN_COLUMN = """() => [...document.querySelectorAll('table')]
  .filter(t => t.getClientRects().length && t.getBoundingClientRect().width > document.body.clientWidth + 1)
  .map(t => (t.closest('div') || t).previousElementSibling?.textContent.slice(0, 60) || t.textContent.slice(0, 60))"""
# Elements whose right edge passes the window, outside the boxes that scroll on their own.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  return [...document.body.querySelectorAll('*')]
    .filter(e => !e.closest('.scroll') && e.getBoundingClientRect().right > width + 1)
    .map(e => e.tagName + ': ' + (e.textContent || '').trim().slice(0, 60));
}"""
BROKEN_IMAGES = "() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt)"


def _chromium() -> str:
    found = os.environ.get("BIOSCAN_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if not found:
        pytest.skip("no Chromium here: install Debian's chromium (`make chromium`) to run the browser check")
    return found


@pytest.fixture(scope="module")
def report_page():
    """The sample report, rendered from the session's outputs, open in headless Chromium."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra: make setup")
    executable = _chromium()
    results = TEST_RESULTS.path(resolve_path(load_profile(PROFILE)["output_dir"]))
    if not results.is_file():
        pytest.skip(f"no sample outputs in {results.parent}: run `make reproduce` or the notebooks first")
    html, _ = render.write_report(PROFILE)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.goto(Path(html).resolve().as_uri())
        yield page
        browser.close()


def test_every_image_loads(report_page) -> None:
    assert report_page.evaluate("document.images.length") > 15
    assert report_page.evaluate(BROKEN_IMAGES) == []


@pytest.mark.parametrize("width", WINDOW_WIDTHS)
def test_no_text_overflows_the_page(report_page, width: int) -> None:
    report_page.set_viewport_size({"width": width, "height": 900})
    assert report_page.evaluate(OVERFLOWING) == []
    assert report_page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_key_results_and_the_summary_open_the_report(report_page) -> None:
    report_page.set_viewport_size(DESKTOP)
    rows = report_page.locator("#summary + p + .scroll tr")
    assert rows.count() == len(summary.PAPER_ITEMS) + 2, "a header, the recorded-number check, one per paper item"
    assert report_page.locator("h2").nth(0).inner_text() == "Key results"
    assert report_page.locator("h2").nth(1).inner_text() == "Summary"
    summary_bottom = report_page.evaluate(
        "document.querySelector('#summary + p + .scroll').getBoundingClientRect().bottom + window.scrollY"
    )
    assert summary_bottom <= OPENING_SCREENS * DESKTOP["height"]
    verdicts = set(report_page.locator("td[class^=verdict-]").all_inner_texts())
    assert verdicts <= {"equal", "within tolerance", "differs", *summary.NOT_JUDGED}
    assert summary.FOR_INFORMATION in verdicts, "the sample's differences by design are marked as such"


def test_no_table_is_wider_than_its_column_and_the_report_is_short(report_page) -> None:
    report_page.set_viewport_size(DESKTOP)
    assert report_page.evaluate(WIDER_THAN_COLUMN) == []
    assert report_page.evaluate("document.documentElement.scrollHeight") < REPORT_HEIGHT_LIMIT
