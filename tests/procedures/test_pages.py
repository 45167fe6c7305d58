"""Portal pages of the procedures module, and one full dossier in headless Chromium."""

from __future__ import annotations

import re

import pytest

from tinhso.identity.auth import SESSION_COOKIE, start_web_session

from .conftest import LLTP, TUPHAP


def web_login(db, actor):  # noqa: ANN001, ANN201
    with db.transaction() as s:
        web = start_web_session(s, actor.id)
        return web.id, web.csrf_token


def test_catalog_and_procedure_pages_in_both_languages(client):
    r = client.get("/thu-tuc", params={"q": "ly lich tu phap"})
    assert r.status_code == 200 and LLTP in r.text and 'lang="vi"' in r.text
    assert "Thủ tục hành chính" in r.text
    r = client.get(f"/thu-tuc/{LLTP}", params={"lang": "en"})
    assert r.status_code == 200 and "Apply online" in r.text
    assert client.get("/thu-tuc/9.999999").status_code == 404


def test_apply_and_process_through_pages(client, factory, db):
    citizen = factory.citizen()
    leader = factory.person(("leader", "official"), TUPHAP)
    sid, csrf = web_login(db, citizen)
    client.cookies.set(SESSION_COOKIE, sid)
    r = client.get(f"/thu-tuc/{LLTP}/nop")
    assert r.status_code == 200 and citizen.principal.personal_id in r.text
    form = {
        "csrf_token": csrf,
        "f_applicant_name": "Trần Thị Dân",
        "f_personal_id": citizen.principal.personal_id,
        "f_address": "Vinh",
        "f_sheet_type": "1",
        "f_copies": "1",
    }
    bad = client.post(f"/thu-tuc/{LLTP}/nop", data=form | {"f_sheet_type": "abc"}, follow_redirects=False)
    assert bad.status_code == 422 and "form-error" in bad.text
    r = client.post(f"/thu-tuc/{LLTP}/nop", data=form | {"csrf_token": "wrong"}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post(f"/thu-tuc/{LLTP}/nop", data=form, follow_redirects=False)
    assert r.status_code == 303
    code = r.headers["location"].rsplit("/", 1)[1]
    page = client.get(f"/ho-so/{code}")
    assert "Đã tiếp nhận" in page.text
    r = client.post(
        f"/ho-so/{code}/tai-lieu",
        data={"csrf_token": csrf, "component": "Bản sao CCCD"},
        files={"file": ("cccd.pdf", b"%PDF-1.4 x", "application/pdf")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "error" not in r.headers["location"]
    r = client.post(
        f"/ho-so/{code}/tai-lieu",
        data={"csrf_token": csrf, "component": "Giả"},
        files={"file": ("gia.pdf", b"GIF89a", "application/pdf")},
        follow_redirects=False,
    )
    assert "error" in r.headers["location"]
    assert (
        "Bản sao CCCD" in client.get(f"/ho-so/{code}").text and "Giả" not in client.get(f"/ho-so/{code}").text
    )
    assert code in client.get("/ho-so").text
    client.cookies.clear()
    assert "Sở Tư pháp" in client.get("/tra-cuu", params={"ma": code}).text
    sid2, csrf2 = web_login(db, leader)
    client.cookies.set(SESSION_COOKIE, sid2)
    assert code in client.get("/can-bo/ho-so").text
    version = int(re.search(r'name="version" value="(\d+)"', client.get(f"/ho-so/{code}").text).group(1))  # type: ignore[union-attr]
    r = client.post(
        f"/ho-so/{code}/thao-tac",
        data={"csrf_token": csrf2, "action": "assign", "version": version},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "error" not in r.headers["location"]
    r = client.post(
        f"/ho-so/{code}/thao-tac",
        data={"csrf_token": csrf2, "action": "assign", "version": version},
        follow_redirects=False,
    )
    assert "error" in r.headers["location"]  # stale form: someone (here: we) acted first
    r = client.get("/chi-so-766")
    assert r.status_code == 200 and "echarts.min.js" in r.text


@pytest.mark.browser
def test_one_full_dossier_in_chromium(live_server, factory, db):
    from playwright.sync_api import expect, sync_playwright

    citizen = factory.citizen(full_name="Đặng Thị Trình Duyệt")
    official = factory.person(("official",), TUPHAP)
    leader = factory.person(("leader", "official"), TUPHAP)
    sessions = {
        name: web_login(db, actor)[0]
        for name, actor in (("citizen", citizen), ("official", official), ("leader", leader))
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )

        def page_as(who: str):  # noqa: ANN202
            ctx = browser.new_context(locale="vi-VN")
            ctx.add_cookies([{"name": SESSION_COOKIE, "value": sessions[who], "url": live_server}])
            return ctx.new_page()

        cp = page_as("citizen")
        cp.goto(f"{live_server}/thu-tuc?q=ly+lich")
        cp.click(f"[data-procedure='{LLTP}']")
        cp.click("#apply")
        assert cp.input_value("#f_personal_id") == citizen.principal.personal_id
        cp.fill("#f_address", "Phường Trường Vinh")
        cp.fill("#f_sheet_type", "1")
        cp.fill("#f_copies", "2")
        cp.click("#submit")
        code = cp.inner_text("#dossier-code")
        assert code.startswith(TUPHAP)
        cp.click("#pay")
        cp.click("#pay-paid")
        expect(cp.locator("#payment-status")).to_have_text("paid")

        op = page_as("official")
        op.goto(f"{live_server}/can-bo/ho-so")
        op.click(f"[data-dossier='{code}']")
        for action in ("assign", "start_review", "submit_for_signature"):
            op.click(f"[data-action='{action}']")
        expect(op.locator("#status")).to_have_attribute("data-status", "for_signature")
        lp = page_as("leader")
        lp.goto(f"{live_server}/ho-so/{code}")
        lp.click("[data-action='sign']")
        expect(lp.locator("#status")).to_have_attribute("data-status", "result_ready")
        op.goto(f"{live_server}/ho-so/{code}")
        op.click("[data-action='return_result']")
        expect(op.locator("#status")).to_have_attribute("data-status", "returned")

        cp.goto(f"{live_server}/ho-so/{code}")
        cp.select_option("#rating", "4")
        cp.click("#rate")
        expect(cp.locator("#rating-value")).to_have_text("4")
        cp.click("#result a")
        expect(cp.locator("#verdict")).to_have_attribute("data-valid", "true")
        cp.goto(f"{live_server}/kho-du-lieu")
        assert "Kết quả" in cp.content() and official.principal.agency_code in cp.content()
        anon = browser.new_context(locale="vi-VN").new_page()
        anon.goto(f"{live_server}/tra-cuu?ma={code}")
        assert "Đã trả kết quả" in anon.inner_text("#lookup-result")
        assert "Trình Duyệt" not in anon.content()
        browser.close()
