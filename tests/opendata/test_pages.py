"""Portal pages in Vietnamese and English, and a headless-Chromium walk through them with the keyboard."""

from __future__ import annotations

import re

import pytest

from tests.opendata.conftest import TK_ORG


def test_pages_render_in_vietnamese_and_english(client, catalog, publisher):
    home = client.get("/opendata")
    assert home.status_code == 200 and "Cổng dữ liệu mở tỉnh Nghệ An" in home.text
    assert re.search(r"<strong>3</strong>bộ dữ liệu", home.text)
    assert "Dan so" not in home.text and "Dân số theo xã và giới tính" in home.text
    en = client.get("/opendata?lang=en")
    assert "Nghệ An Open Data Portal" in en.text and "Newest datasets" in en.text
    client.cookies.clear()
    found = client.get("/opendata/datasets", params={"q": "dan so gioi tinh"})
    assert "Tìm thấy 1 bộ dữ liệu" in found.text and "/opendata/dataset/dan-so-theo-xa" in found.text
    faceted = client.get("/opendata/datasets", params={"organization": TK_ORG})
    assert "Tìm thấy 2 bộ dữ liệu" in faceted.text and 'aria-current="true"' in faceted.text
    page = client.get("/opendata/dataset/dan-so-theo-xa")
    assert page.status_code == 200
    assert 'id="preview-table"' in page.text and "Xã Anh Sơn" in page.text
    assert 'id="od-chart-data"' in page.text and "/static/vendor/echarts.min.js" in page.text
    assert "RemoteCKAN" in page.text and "curl" in page.text
    assert 'rel="alternate" type="text/turtle" href="/dataset/dan-so-theo-xa.ttl"' in page.text
    assert 'id="quality-score"' not in page.text  # quality is shown to publishers
    mine = client.get("/opendata/dataset/dan-so-theo-xa", headers=publisher.headers)
    assert 'id="quality-score">100<' in mine.text
    assert client.get("/opendata/dataset/so-lieu-noi-bo").status_code == 404
    org = client.get(f"/opendata/organization/{TK_ORG}")
    assert "Thống kê tỉnh Nghệ An" in org.text and "dan-so-theo-xa" in org.text
    assert client.get("/opendata/organization/khong-co").status_code == 404
    assert "Thống kê tỉnh Nghệ An" in client.get("/opendata/organizations").text


@pytest.mark.browser
def test_search_and_read_a_dataset_with_the_keyboard(live_server, catalog):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(locale="vi-VN")
            page.goto(f"{live_server}/opendata")
            assert page.locator("html").get_attribute("lang") == "vi"
            # keyboard only: the search box is reachable with Tab, Enter submits
            for _ in range(12):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement && document.activeElement.id") == "od-q":
                    break
            assert page.evaluate("document.activeElement.id") == "od-q"
            page.keyboard.type("dan so gioi tinh")
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(r".*/opendata/datasets\?q=dan\+so\+gioi\+tinh.*"))
            assert "Tìm thấy 1 bộ dữ liệu" in page.locator("#od-total").inner_text()
            link = page.locator("#results a").first
            link.focus()
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(r".*/opendata/dataset/dan-so-theo-xa"))
            assert page.locator("h1").inner_text() == "Dân số theo xã và giới tính"
            assert page.locator("#preview-table tbody tr").count() == 6
            page.wait_for_function("window.odChart !== undefined")
            assert page.locator("#od-chart canvas").count() == 1
            # English, and the facet links work
            page.goto(f"{live_server}/opendata/datasets?lang=en&groups=dan-cu")
            assert "2 datasets found" in page.locator("#od-total").inner_text()
            assert page.locator("html").get_attribute("lang") == "en"
        finally:
            browser.close()
