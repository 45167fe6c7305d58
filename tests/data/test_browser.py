"""Data pages in headless Chromium: analytics (query, table, ECharts chart) and an upload with its progress view."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.factories import CONGAN
from tinhso.data.demo import population_table
from tinhso.data.ingest import ingest_file
from tinhso.data.synth import write_citizens
from tinhso.identity.auth import SESSION_COOKIE, start_web_session

pytestmark = pytest.mark.browser
CHROMIUM = {
    "executable_path": "/usr/bin/chromium",
    "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
}


def test_analytics_and_upload_pages(live_server, data_db, factory, tmp_path) -> None:  # noqa: ANN001
    from playwright.sync_api import sync_playwright

    path = tmp_path / "dan-cu.csv"
    write_citizens(path, 400, seed=8)
    ingest_file(data_db, path, "citizen", "trang")
    official = factory.person(("official",), CONGAN)
    with data_db.transaction() as s:
        population_table(s)
        cookie = start_web_session(s, official.id).id
    upload = tmp_path / "ho-kinh-doanh.csv"
    upload.write_text(
        "business_code,name,owner_personal_id,owner_name,sector,employees,commune_code,registration_date\n"
        "29E8000001,Tạp hóa Hoa,040190001234,nguyễn thị hoa,Bán lẻ,2,16681,12/05/2015\n"
        "29E8000002,Sai,123,Ai Đó,Bán lẻ,x,99999,31/02/2015\n",
        encoding="utf-8",
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(**CHROMIUM)
        try:
            ctx = browser.new_context(locale="vi-VN")
            ctx.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": live_server}])
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{live_server}/du-lieu/phan-tich")
            page.click("#query-form button[type=submit]")
            page.wait_for_selector("#result tbody tr", timeout=15000)
            assert page.locator("#result thead th").all_inner_texts() == ["commune_name", "population"]
            assert page.locator("#result tbody tr").count() == 20
            page.wait_for_selector("#chart canvas", timeout=15000)
            page.fill("#sql", "DELETE FROM citizen")
            page.click("#query-form button[type=submit]")
            page.wait_for_selector("#query-error:has-text('SELECT')", timeout=15000)

            page.goto(f"{live_server}/du-lieu/nap")
            page.set_input_files("#file", str(upload))
            page.select_option("#entity", "household_business")
            page.fill("#source", "xa-16681")
            page.click("#upload-form button[type=submit]")
            # the progress view: queued, loading, then the counts, quality scores and the error report
            page.wait_for_selector("#state[data-status=done]", timeout=30000)
            assert page.locator("#state").inner_text() == "Hoàn tất"
            assert page.locator("#rows-accepted").inner_text() == "1"
            assert page.locator("#rows-rejected").inner_text() == "1"
            assert page.locator("#progress").get_attribute("value") == "100"
            assert page.locator("#quality tbody tr").count() == 6
            report = page.locator("#error-report")
            assert report.is_visible() and report.get_attribute("href", timeout=1000).endswith("/errors")
            if shots := os.environ.get("TINHSO_SCREENSHOTS"):
                page.screenshot(path=f"{shots}/upload-done.png", full_page=True)
            with page.expect_download() as download:
                report.click()
            assert "99999" in Path(download.value.path()).read_text(encoding="utf-8-sig")
            page.goto(f"{live_server}/du-lieu/chat-luong")
            assert page.locator("table.quality tbody tr").count() == 2
            assert errors == []
        finally:
            browser.close()


def test_steward_publishes_a_new_version(live_server, data_db, factory) -> None:  # noqa: ANN001
    from playwright.sync_api import sync_playwright

    steward = factory.person(
        ("agency_admin", "official"), "000.00.09.H41"
    )  # Sở Giáo dục và Đào tạo owns "school"
    with data_db.transaction() as s:
        cookie = start_web_session(s, steward.id).id
    with sync_playwright() as p:
        browser = p.chromium.launch(**CHROMIUM)
        try:
            ctx = browser.new_context(locale="vi-VN")
            page = ctx.new_page()
            page.goto(f"{live_server}/du-lieu/tu-dien/school")
            assert page.locator("#publish-form").count() == 0  # not signed in: no form
            ctx.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": live_server}])
            page.goto(f"{live_server}/du-lieu/tu-dien/school")
            fields = page.locator("#fields").input_value()
            extra = '{"name": "phone", "type": "string", "label_vi": "Điện thoại", "label_en": "Phone", "classification": "public", "rule": "phone"}'
            page.fill("#fields", fields.rstrip().rstrip("]") + ", " + extra + "]")
            page.click("#publish-form button[type=submit]")
            page.wait_for_selector("h1 small:has-text('v2')", timeout=15000)
            assert page.locator("table.fields code", has_text="phone").count() == 1
        finally:
            browser.close()
