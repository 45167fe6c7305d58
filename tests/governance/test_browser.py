"""The IOC in headless Chromium: KPI cards, the commune map, live alerts, drill-down, wall screen and phone; the
accessibility audit (axe-core) of the IOC and governance pages; the progress form with an evidence file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tinhso.web
from tests.factories import SKHCN
from tinhso.governance import kpi
from tinhso.identity.auth import SESSION_COOKIE, start_web_session
from tinhso.kit.events import publish, wait_until_dispatched

pytestmark = pytest.mark.browser
CHROMIUM = {
    "executable_path": "/usr/bin/chromium",
    "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
}


AXE = Path(tinhso.web.__file__).parent / "static" / "vendor" / "axe.min.js"


def axe_violations(page) -> list[str]:  # noqa: ANN001
    """The serious and critical violations axe-core finds on the page (WCAG 2.x A/AA rules and best practices)."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {json.dumps([n['target'] for n in v['nodes']][:5])}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def leader_cookie(db, factory):  # noqa: ANN001, ANN201
    leader = factory.person(("leader", "official"), agency="000.00.00.H41")
    with db.transaction() as s:
        kpi.run(s, trigger="test")
        return start_web_session(s, leader.id).id


def test_ioc_in_chromium(live_server, db, tasks, leader_cookie):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(**CHROMIUM)
        try:
            ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="vi-VN")
            ctx.add_cookies([{"name": SESSION_COOKIE, "value": leader_cookie, "url": live_server}])
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{live_server}/ioc")
            page.wait_for_selector('#ioc-map[data-loaded="governance.alerts"]', timeout=15000)
            assert page.locator("[data-kpi]").count() == len(kpi.SPECS)
            assert page.locator("#ioc-map canvas").count() >= 1
            assert page.locator("#g-architecture").inner_text() == "Tuân thủ kiến trúc"
            assert page.locator("text=Chưa đo được").count() >= 1
            assert page.locator("#ioc-map-table tbody tr").count() == 130
            page.wait_for_selector("#ioc-alerts[data-sparks]", timeout=15000)  # loaded after the page
            assert page.locator("[data-spark] svg").count() >= 1  # sparklines drawn by ECharts
            assert axe_violations(page) == []
            page.select_option("#ioc-measure", "governance.systems_registered")
            page.wait_for_selector('#ioc-map[data-loaded="governance.systems_registered"]', timeout=15000)

            # A live alert reaches the feed without reloading the page (htmx polls every 5 s).
            with db.transaction() as s:
                publish(
                    s,
                    "environment.alert.raised",
                    {"title": "Cảnh báo AQI 210 tại Vinh", "severity": "critical", "commune_code": "17329"},
                )
            wait_until_dispatched(db)
            page.wait_for_selector("#ioc-alerts >> text=Cảnh báo AQI 210 tại Vinh", timeout=15000)

            # Drill down to a commune from the map's table.
            page.click("#ioc-map-table >> xpath=ancestor::details/summary")
            page.locator("#ioc-map-table a").first.click()
            page.wait_for_selector("h1")
            assert "/ioc/commune/" in page.url
            assert axe_violations(page) == []
            for path in (
                "/ioc/report",
                "/ioc/agency/000.00.00.H41",
                "/governance/systems",
                "/governance/roadmap",
                "/governance/roadmap/IV.2.24",
                "/governance/roadmap/report",
            ):
                page.goto(f"{live_server}{path}")
                page.wait_for_load_state("load")
                assert axe_violations(page) == [], path
            # The audit itself finds what it should: an image without a text alternative is critical.
            page.set_content('<html lang="vi"><title>t</title><main><img src="/x.png"></main></html>')
            assert any(v.startswith("image-alt (critical)") for v in axe_violations(page))
            assert errors == []

            phone = browser.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True, locale="en-US"
            )
            phone.add_cookies([{"name": SESSION_COOKIE, "value": leader_cookie, "url": live_server}])
            small = phone.new_page()
            small.goto(f"{live_server}/ioc")
            small.wait_for_selector("#ioc-map[data-loaded]", timeout=15000)
            overflow = small.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"the IOC scrolls sideways on a phone by {overflow}px"
            # Every chart has a text alternative; every form control has a label.
            unlabeled = small.evaluate(
                """[...document.querySelectorAll('[role=img]')].filter(e => !e.getAttribute('aria-label')).length
                 + [...document.querySelectorAll('select, input')].filter(e => !e.closest('label') && !e.labels?.length
                    && e.type !== 'hidden').length"""
            )
            assert unlabeled == 0
        finally:
            browser.close()


def test_progress_form_in_chromium(live_server, db, tasks, factory):
    from playwright.sync_api import sync_playwright

    admin = factory.person(("agency_admin", "official"), agency=SKHCN)
    with db.transaction() as s:
        sid = start_web_session(s, admin.id).id
    with sync_playwright() as p:
        browser = p.chromium.launch(**CHROMIUM)
        try:
            ctx = browser.new_context(locale="vi-VN")
            ctx.add_cookies([{"name": SESSION_COOKIE, "value": sid, "url": live_server}])
            page = ctx.new_page()
            page.goto(f"{live_server}/governance/roadmap/IV.2.24")
            page.select_option("select[name=status]", "in_progress")
            page.fill("input[name=percent]", "35")
            page.fill("textarea[name=comment]", "Đã thử nghiệm sổ đăng ký")
            page.fill("input[name=evidence_title]", "Biên bản nghiệm thu")
            pdf = b"%PDF-1.4\n% bien ban\n"
            page.set_input_files(
                "input[name=evidence_file]",
                files=[{"name": "biên-bản.pdf", "mimeType": "application/pdf", "buffer": pdf}],
            )
            page.click("form[action$='/progress'] button[type=submit]")
            page.wait_for_url("**saved=1")
            assert page.locator("text=Đã thử nghiệm sổ đăng ký").count() == 1
            assert "35" in page.locator("table").last.inner_text()
            link = page.locator("a", has_text="Biên bản nghiệm thu")
            with page.expect_download() as download:
                link.click()
            assert Path(download.value.path()).read_bytes() == pdf
        finally:
            browser.close()
