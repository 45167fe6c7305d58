"""Every route is in the authorisation matrix, and no route serves a caller its audience excludes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import Factory
from tests.hardening.authz_support import (
    ADMIN,
    AUDIENCE,
    OWN_AUTH,
    PLATFORM,
    SIGNED_IN,
    STAFF,
    Public,
    dummy_url,
    make_callers,
    served_routes,
)
from tinhso.app import create_app

KNOWN = {OWN_AUTH, SIGNED_IN, STAFF, ADMIN, PLATFORM}


def test_every_route_has_a_matrix_row() -> None:
    served = served_routes(create_app())
    missing = sorted(served - set(AUDIENCE))
    stale = sorted(set(AUDIENCE) - served)
    assert not missing, "routes without an authorisation-matrix row (tests/hardening/authz_support.py):\n" + (
        "\n".join(missing)
    )
    assert not stale, "matrix rows for routes that no longer exist:\n" + "\n".join(stale)
    for key, audience in AUDIENCE.items():
        assert isinstance(audience, Public) and audience.reason or audience in KNOWN, key


def _refused_anonymous(response) -> bool:  # noqa: ANN001
    if response.status_code in (401, 403):
        return True
    # Pages send anonymous visitors to sign in; forms validated before the caller is looked at say 422.
    if response.status_code in (302, 303):
        return response.headers.get("location", "").startswith("/signin")
    return response.status_code == 422


def test_no_route_serves_a_caller_outside_its_audience(client: TestClient, factory: Factory) -> None:
    """Anonymous callers, citizens, plain officials and agency administrators, on every non-public route."""
    callers = make_callers(factory)
    outside = {
        STAFF: ("citizen",),
        ADMIN: ("citizen", "a", "sys_a"),
        PLATFORM: ("citizen", "a", "a_admin", "sys_a"),
    }
    failures = []
    for key, audience in sorted(AUDIENCE.items()):
        if isinstance(audience, Public):
            continue
        method, path = key.split(" ", 1)
        method = "GET" if method == "ANY" else method
        url = dummy_url(path)
        r = client.request(method, url, follow_redirects=False)
        if audience == OWN_AUTH:
            if r.status_code < 400:
                failures.append(f"anon {key}: {r.status_code}")
        elif not _refused_anonymous(r):
            failures.append(f"anon {key}: {r.status_code} {r.text[:120]!r}")
        for name in outside.get(audience, ()):
            actor = callers.get(name)
            assert actor is not None
            r = client.request(method, url, headers=actor.headers, follow_redirects=False)
            if r.status_code < 300:
                failures.append(f"{name} {key}: {r.status_code} {r.text[:120]!r}")
    assert not failures, "callers served outside their audience:\n" + "\n".join(failures)
