"""Cookie flags: HttpOnly and SameSite everywhere; Secure wherever the platform is not served on localhost."""

from __future__ import annotations

from collections.abc import Iterator
from http.cookies import SimpleCookie

import pytest
from fastapi.testclient import TestClient

from tinhso.app import create_app
from tinhso.settings import get_settings


def _cookies(response) -> dict[str, SimpleCookie]:  # noqa: ANN001
    found = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name in jar:
            found[name] = jar
    return found


@pytest.fixture(params=["https://dichvucong.nghean.gov.vn", "http://127.0.0.1:8000"])
def served_at(
    request: pytest.FixtureRequest, db, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, TestClient]]:  # noqa: ANN001
    monkeypatch.setenv("TINHSO_BASE_URL", request.param)
    get_settings.cache_clear()
    with TestClient(create_app(get_settings(), db), base_url=request.param) as client:
        yield request.param, client
    monkeypatch.undo()
    get_settings.cache_clear()


def test_every_cookie_the_portal_sets_has_its_flags(served_at) -> None:  # noqa: ANN001
    base_url, client = served_at
    secure = base_url.startswith("https://")
    responses = [
        client.get("/?lang=en"),  # the language choice
        client.get("/signin", follow_redirects=False),  # the sign-in state
    ]
    cookies = {name: jar for r in responses for name, jar in _cookies(r).items()}
    assert {"tinhso_lang", "tinhso_signin"} <= set(cookies)
    for name, jar in cookies.items():
        morsel = jar[name]
        assert morsel["httponly"], name
        assert morsel["samesite"].lower() in ("lax", "strict"), name
        assert bool(morsel["secure"]) is secure, name
