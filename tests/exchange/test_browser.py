"""The catalog page in headless Chromium: search, open a service, read its operations, switch language."""

from __future__ import annotations

import pytest

from tests.exchange.conftest import make_hub

pytestmark = pytest.mark.browser
CHROMIUM = {
    "executable_path": "/usr/bin/chromium",
    "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
}


def test_catalog_in_chromium(live_server, client, factory, upstream):
    from playwright.sync_api import sync_playwright

    hub = make_hub(client, factory, upstream, approve=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(**CHROMIUM)
        try:
            page = browser.new_page(locale="vi-VN")
            page.goto(f"{live_server}/exchange")
            assert page.locator("html").get_attribute("lang") == "vi"
            page.fill("#q", "cong dan")  # accent-insensitive
            with page.expect_navigation():
                page.click("button[type=submit]")
            rows = page.locator("tr.service-row")
            assert rows.count() == 1
            page.fill("#q", "thua dat")
            with page.expect_navigation():
                page.click("button[type=submit]")
            assert page.locator("tr.service-row").count() == 0
            page.goto(f"{live_server}/exchange/services/{hub.service['id']}?lang=en")
            assert page.locator("h1").inner_text() == "Citizen lookup"
            ops = page.locator("section.operation h3")
            assert "GET /citizens/{id}" in ops.all_inner_texts()
        finally:
            browser.close()
