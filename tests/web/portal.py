"""Helpers for portal tests: sign in through the real OpenID Connect flow with an HTTP client."""

from __future__ import annotations

import re
from typing import Any

from tests.factories import PASSWORD


def csrf_of(html: str, name: str = "csrf_token") -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


def sign_in(client: Any, username: str, password: str = PASSWORD, next_path: str = "/") -> Any:
    """/signin → /oidc/authorize (form) → /auth/callback → the page to return to; returns that page."""
    to_provider = client.get("/signin", params={"next": next_path}, follow_redirects=False)
    assert to_provider.status_code == 303, to_provider.text
    authorize = to_provider.headers["location"]
    form = client.get(authorize, follow_redirects=False)
    assert form.status_code == 200, form.text
    to_callback = client.post(
        authorize,
        data={"login_csrf": csrf_of(form.text, "login_csrf"), "username": username, "password": password},
        follow_redirects=False,
    )
    assert to_callback.status_code == 302, to_callback.text
    back = client.get(to_callback.headers["location"], follow_redirects=False)
    assert back.status_code == 303, back.text
    return client.get(back.headers["location"], follow_redirects=False)
