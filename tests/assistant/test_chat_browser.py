"""The chat box in a real browser (headless Chromium) against the real server."""

from __future__ import annotations

import importlib.util

import pytest

from tinhso.assistant.config import assistant_settings

pytestmark = pytest.mark.browser


@pytest.fixture
def page(live_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(locale="vi-VN")
        yield page
        browser.close()


@pytest.mark.skipif(
    importlib.util.find_spec("tinhso.procedures.catalog_api") is None,
    reason="the procedures module (its published catalog) is not in this build",
)
def test_citizen_asks_without_diacritics_and_follows_the_citation(page, live_server):
    page.goto(f"{live_server}/tro-ly-ao")
    assert page.locator("h1").inner_text() == "Trợ lý ảo"
    page.fill("#chat-question", "lam giay khai sinh can gi")
    page.press("#chat-question", "Enter")
    answer = page.locator(".chat-log li.a").first
    answer.wait_for(timeout=20_000)
    assert answer.get_attribute("data-status") == "answered"
    assert "Giấy chứng sinh" in answer.inner_text()
    link = answer.locator(".sources a").first
    assert link.inner_text() == "Đăng ký khai sinh"
    assert link.get_attribute("href").startswith("/thu-tuc/")

    page.fill("#chat-question", "ai vô địch world cup 2022")
    page.click("button[type=submit]")
    second = page.locator(".chat-log li.a").nth(1)
    second.wait_for(timeout=20_000)
    assert second.get_attribute("data-status") == "unknown"
    assert assistant_settings().hotline in second.inner_text()
    assert page.locator(".chat-log li.q").count() == 2


def test_chat_page_in_english_and_empty_question_is_not_sent(page, live_server):
    page.goto(f"{live_server}/tro-ly-ao?lang=en")
    assert page.locator("h1").inner_text() == "Virtual assistant"
    page.click("button[type=submit]")  # the field is required: nothing is asked
    assert page.locator(".chat-log li").count() == 0
