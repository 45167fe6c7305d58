"""The portal in headless Chromium: sign in through OpenID Connect, language switch, admin form, keyboard use."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.factories import PASSWORD, SKHCN
from tinhso.identity.auth import SESSION_COOKIE
from tinhso.identity.models import Person, WebSession

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is missing: run `make system-deps` (apt-get install chromium)"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server, locale="vi-VN")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def fill_sign_in(page: Any, username: str, password: str = PASSWORD) -> None:
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()


def test_sign_in_switch_language_and_sign_out(page: Any, factory: Any, db: Any) -> None:
    from playwright.sync_api import expect

    factory.person(("official",), username="trinh.duyet", full_name="Trịnh Duyệt Web")
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.get_by_role("heading", level=1)).to_have_text("Nền tảng tỉnh số Nghệ An")
    page.get_by_role("link", name="Đăng nhập").click()
    expect(page).to_have_url(re.compile(r"/oidc/authorize\?"))
    fill_sign_in(page, "trinh.duyet")
    expect(page.locator("[data-user]")).to_have_text("Trịnh Duyệt Web")
    expect(page).to_have_url(re.compile(r"/$"))
    session_cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Lax"

    page.get_by_role("navigation", name="Ngôn ngữ").get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Nghệ An Digital Province Platform")
    page.get_by_role("link", name="API documentation").wait_for()
    page.goto("/oidc/authorize?client_id=nobody&response_type=code")  # another page, no ?lang=
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Home").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    with db.transaction(write=False) as s:
        assert s.get(WebSession, session_cookie["value"]).revoked_at is not None


def test_admin_creates_a_person(page: Any, factory: Any, db: Any) -> None:
    from playwright.sync_api import expect

    factory.person(("platform_admin", "official"), agency=SKHCN, username="quan.tri.web")
    page.goto("/signin")
    fill_sign_in(page, "quan.tri.web")
    page.get_by_role("navigation", name="Trình đơn chính").get_by_role("link", name="Quản trị").click()
    page.get_by_role("link", name="Người dùng", exact=True).click()
    page.get_by_role("link", name="Thêm người dùng").click()
    page.get_by_label("Tên đăng nhập").fill("can.bo.moi")
    page.get_by_label("Họ và tên").fill("Đặng Văn Mới")
    page.get_by_label("Thư điện tử").fill("moi@nghean.gov.vn")
    page.get_by_label("Mã cơ quan").fill("000.00.05.H41")
    page.get_by_label("Mật khẩu ban đầu").fill("mat-khau-that-dai-1")
    page.get_by_label("Cán bộ, công chức").check()
    page.get_by_role("button", name="Tạo mới").click()
    expect(page.get_by_role("status")).to_have_text("Đã tạo người dùng.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Đặng Văn Mới")
    with db.transaction(write=False) as s:
        person = s.scalar(select(Person).where(Person.username == "can.bo.moi"))
        assert person is not None and person.agency_code == "000.00.05.H41"
    # The list filters as one types (htmx), without leaving the page.
    page.get_by_role("link", name="← Người dùng").click()
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("Tìm theo họ tên hoặc tên đăng nhập").press_sequentially("can.bo", delay=30)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Đặng Văn Mới")
    expect(page).to_have_url(re.compile(r"/admin/people\?q=can\.bo"))


def _focused(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => { const e = document.activeElement; const s = getComputedStyle(e);
        return {tag: e.tagName, text: (e.innerText || '').trim(), id: e.id, outline: s.outlineStyle,
                width: parseFloat(s.outlineWidth)}; }"""
    )


def test_keyboard_only_reaches_the_sign_in_form(page: Any, factory: Any) -> None:
    from playwright.sync_api import expect

    factory.person(("official",), username="ban.phim", full_name="Bàn Phím")
    page.goto("/")
    page.keyboard.press("Tab")
    first = _focused(page)
    assert first["text"] == "Chuyển đến nội dung chính"  # the skip link comes first, and is visible
    assert page.get_by_role("link", name="Chuyển đến nội dung chính").is_visible()
    for _ in range(15):
        page.keyboard.press("Tab")
        focused = _focused(page)
        if focused["text"] == "Đăng nhập":
            break
    else:
        pytest.fail("the sign-in link cannot be reached with the keyboard")
    assert focused["outline"] != "none" and focused["width"] >= 2  # visible focus
    page.keyboard.press("Enter")
    expect(page.get_by_label("Tên đăng nhập")).to_be_focused()
    page.keyboard.type("ban.phim")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("[data-user]")).to_have_text("Bàn Phím")


CONTRAST_JS = """() => {
  const lum = (rgb) => { const [r, g, b] = rgb.match(/[\\d.]+/g).slice(0, 3).map(Number).map(v => v / 255)
      .map(c => c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const bg = (el) => { for (let e = el; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
      if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c; } return 'rgb(255, 255, 255)'; };
  const worst = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    if (!own || box.width === 0 || box.height === 0 || el.closest('.skip-link')) continue;
    const a = lum(getComputedStyle(el).color), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) worst.push([el.tagName, el.textContent.trim().slice(0, 40), ratio.toFixed(2)]);
  }
  return worst; }"""


def test_text_contrast_meets_wcag_aa(page: Any, factory: Any) -> None:
    factory.person(("platform_admin", "official"), agency=SKHCN, username="tuong.phan")
    pages = ["/", "/signin"]
    for path in pages:
        page.goto(path)
        assert page.evaluate(CONTRAST_JS) == [], path
    fill_sign_in(page, "tuong.phan")
    for path in ("/admin", "/admin/people/new", "/admin/audit"):
        page.goto(path)
        assert page.evaluate(CONTRAST_JS) == [], path
