"""The public air-quality pages in headless Chromium: official colours, ECharts charts, Vietnamese and English."""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from tinhso.environment import demo
from tinhso.environment.indices import aqi_category

pytestmark = pytest.mark.browser


def test_public_air_quality_pages_in_chromium(db, live_server) -> None:  # noqa: ANN001
    with db.transaction() as s:
        demo.seed_demo(s, hours=26, only=("KK-VINH-TV", "NM-LAM-NAMDAN"))
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(locale="vi-VN")
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{live_server}/environment")
            assert page.locator("h1").inner_text() == "Chất lượng không khí và nước"
            card = page.locator('[data-station="KK-VINH-TV"]')
            value = int(card.locator('[data-role="value"]').inner_text())
            colour = card.locator('[data-role="index"]').evaluate("e => getComputedStyle(e).backgroundColor")
            assert colour == "rgb({}, {}, {})".format(*aqi_category(value).rgb)
            assert card.locator('[data-role="category"]').inner_text() == aqi_category(value).name_vi
            card.locator("h3 a").click()
            page.wait_for_url("**/environment/stations/KK-VINH-TV")
            page.wait_for_selector("#chart-day canvas", timeout=10000)
            page.wait_for_selector("#chart-month canvas")
            assert page.locator("#current .value").inner_text() == str(value)
            bars = page.evaluate(
                "echarts.getInstanceByDom(document.getElementById('chart-day')).getOption().series[0].data.length"
            )
            assert 20 <= bars <= 25
            page.goto(f"{live_server}/environment/stations/NM-LAM-NAMDAN?lang=en")
            assert "VN_WQI" in page.locator("#current").inner_text()
            assert page.locator("h2").first.inner_text() == "Latest hourly means"
            page.wait_for_selector("#chart-day canvas")
            assert errors == []
        finally:
            print(errors)
            browser.close()
