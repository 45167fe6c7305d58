"""Portal shell over HTTP: language, navigation, sign-in and sign-out through OpenID Connect, sessions."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select, update

from tests.factories import PASSWORD
from tests.web.portal import csrf_of, sign_in
from tinhso.identity.auth import SESSION_COOKIE
from tinhso.identity.models import WebSession
from tinhso.kit.audit import AuditEntry
from tinhso.kit.db import utcnow
from tinhso.web.routes import route_paths


def test_home_is_vietnamese_by_default_and_english_is_remembered(client) -> None:  # noqa: ANN001
    home = client.get("/")
    assert home.status_code == 200
    assert '<html lang="vi">' in home.text
    assert "Nền tảng tỉnh số Nghệ An" in home.text and "Dữ liệu và nền tảng lõi" in home.text
    english = client.get("/", params={"lang": "en"})
    assert '<html lang="en">' in english.text and "Data and core platforms" in english.text
    assert "tinhso_lang=en" in english.headers["set-cookie"]
    again = client.get("/")  # the cookie remembers the choice
    assert '<html lang="en">' in again.text
    assert '<html lang="vi">' in client.get("/", params={"lang": "vi"}).text


def test_language_switch_keeps_the_page(client, factory) -> None:  # noqa: ANN001
    page = client.get("/admin/agencies", params={"q": "tư pháp"}, follow_redirects=False)
    # Anonymous: sent to sign in, coming back to the same page afterwards.
    assert page.status_code == 303 and page.headers["location"].startswith("/signin?next=%2Fadmin%2Fagencies")
    admin = factory.person(("platform_admin",), username="lang.admin")
    sign_in(client, admin.username)
    listing = client.get("/admin/agencies", params={"q": "tư pháp"})
    switch = re.search(r'href="([^"]+)" hreflang="en"', listing.text).group(1).replace("&amp;", "&")
    parts = urlsplit(switch)
    assert parts.path == "/admin/agencies"
    assert parse_qs(parts.query) == {"q": ["tư pháp"], "lang": ["en"]}
    assert "Sở Tư pháp" in client.get(switch).text


def test_home_links_only_to_pages_that_exist(client, app, factory) -> None:  # noqa: ANN001
    admin = factory.person(("platform_admin",), username="links.admin")
    home = sign_in(client, admin.username)
    links = set(re.findall(r'href="(/[^"#?]*)', home.text)) - {"/static/tinhso.css"}
    paths = route_paths(app)
    for link in links:
        if link.startswith("/static/"):
            continue
        assert link in paths, link
        assert client.get(link, follow_redirects=False).status_code in (200, 303), link
    assert "/admin" in links and "/admin/audit" in links


def test_sign_in_sets_a_safe_session_cookie_and_sign_out_revokes_it(client, db, factory) -> None:  # noqa: ANN001
    person = factory.person(("official",), username="portal.user", full_name="Lê Thị Cổng")
    home = sign_in(client, "portal.user")
    assert home.status_code == 200 and "Lê Thị Cổng" in home.text and "Đăng xuất" in home.text
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie
    with db.transaction(write=False) as s:
        web = s.get(WebSession, cookie)
        assert web.person_id == person.id and web.revoked_at is None
        actions = list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))
    assert actions == ["auth.sign_in", "auth.oidc.authorize", "auth.oidc.token", "auth.session.start"]
    # Without the form's csrf_token, sign-out is refused and the session lives on.
    refused = client.post("/signout", data={}, follow_redirects=False)
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    out = client.post("/signout", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False)
    assert out.status_code == 303
    with db.transaction(write=False) as s:
        assert s.get(WebSession, cookie).revoked_at is not None
    # The old cookie no longer signs anyone in.
    client.cookies.set(SESSION_COOKIE, cookie)
    assert "Lê Thị Cổng" not in client.get("/").text


def test_session_cookie_attributes(client, factory) -> None:  # noqa: ANN001
    factory.person(("official",), username="cookie.user")
    to_provider = client.get("/signin", follow_redirects=False)
    form = client.get(to_provider.headers["location"])
    to_callback = client.post(
        to_provider.headers["location"],
        data={
            "login_csrf": csrf_of(form.text, "login_csrf"),
            "username": "cookie.user",
            "password": PASSWORD,
        },
        follow_redirects=False,
    )
    back = client.get(to_callback.headers["location"], follow_redirects=False)
    header = [h for h in back.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "=")][0].lower()
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header
    assert "secure" not in header  # base_url is localhost in tests; any other address sets Secure


def test_callback_with_a_wrong_state_starts_no_session(client, db, factory) -> None:  # noqa: ANN001
    factory.person(("official",), username="state.user")
    to_provider = client.get("/signin", follow_redirects=False)
    form = client.get(to_provider.headers["location"])
    to_callback = client.post(
        to_provider.headers["location"],
        data={
            "login_csrf": csrf_of(form.text, "login_csrf"),
            "username": "state.user",
            "password": PASSWORD,
        },
        follow_redirects=False,
    )
    forged = to_callback.headers["location"].replace("state=", "state=x")
    answer = client.get(forged, follow_redirects=False)
    assert answer.status_code == 400 and "oidc_state_mismatch" in answer.text
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 0
    # Without the sign-in cookie (another browser): refused as well.
    client.cookies.clear()
    assert "signin_expired" in client.get(to_callback.headers["location"], follow_redirects=False).text


def test_idle_and_absolute_timeouts(client, db, factory) -> None:  # noqa: ANN001
    factory.person(("official",), username="idle.user", full_name="Người Chờ Lâu")
    assert "Người Chờ Lâu" in sign_in(client, "idle.user").text
    with db.transaction() as s:
        s.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(hours=1)))
    assert "Người Chờ Lâu" not in client.get("/").text
    with db.transaction() as s:
        s.execute(
            update(WebSession).values(last_seen_at=utcnow(), expires_at=utcnow() - timedelta(seconds=1))
        )
    assert "Người Chờ Lâu" not in client.get("/").text


def test_next_cannot_leave_the_site(client, factory) -> None:  # noqa: ANN001
    factory.person(("official",), username="next.user")
    page = sign_in(client, "next.user", next_path="//evil.example/x")
    assert page.status_code == 200 and page.url.path == "/"


def test_cookies_are_secure_outside_localhost(client, monkeypatch) -> None:  # noqa: ANN001
    from tinhso.settings import get_settings

    monkeypatch.setenv("TINHSO_BASE_URL", "https://tinhso.nghean.gov.vn")
    get_settings.cache_clear()
    try:
        answer = client.get("/signin", follow_redirects=False)
        assert "secure" in answer.headers["set-cookie"].lower()
        assert (
            client.get("/.well-known/openid-configuration").json()["issuer"] == "https://tinhso.nghean.gov.vn"
        )
    finally:
        monkeypatch.delenv("TINHSO_BASE_URL")
        get_settings.cache_clear()
