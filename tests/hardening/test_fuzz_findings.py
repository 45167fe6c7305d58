"""Regression tests for what the API fuzzing found: each response matches the OpenAPI document."""

from __future__ import annotations

from tests.hardening.contract import assert_conforms


def test_ckan_action_refusals_are_documented(app, client) -> None:  # noqa: ANN001
    unknown = client.get("/api/3/action/0")
    assert unknown.status_code == 400
    assert unknown.json() == "Bad request - Action name not known: 0"
    assert_conforms(app, "GET", "/api/3/action/{name}", unknown, name="0")
    missing = client.post("/api/3/action/package_show", json={"id": "khong-co"})
    assert missing.status_code == 404
    assert missing.json()["success"] is False
    assert_conforms(app, "POST", "/api/3/action/{name}", missing, name="package_show")


def test_platform_refusals_are_documented_with_the_shared_error_body(app, client, platform_admin) -> None:  # noqa: ANN001
    anonymous = client.get("/api/v1/me")
    assert anonymous.status_code == 401
    assert_conforms(app, "GET", "/api/v1/me", anonymous)
    invalid = client.post("/api/v1/agencies", json={"code": 1}, headers=platform_admin.headers)
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "validation_error"
    assert_conforms(app, "POST", "/api/v1/agencies", invalid)
    schema = app.openapi()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert schema["paths"]["/api/v1/me"]["get"]["responses"]["429"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/Error"}


def test_environment_daily_export_declares_csv(app, client) -> None:  # noqa: ANN001
    csv = client.get("/api/v1/environment/open-data/daily")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert_conforms(app, "GET", "/api/v1/environment/open-data/daily", csv)
    as_json = client.get("/api/v1/environment/open-data/daily", params={"format": "json"})
    assert as_json.json()["licence"] == "CC-BY-4.0"
    assert_conforms(app, "GET", "/api/v1/environment/open-data/daily", as_json)


def test_procedure_catalogue_export_declares_csv(app, client) -> None:  # noqa: ANN001
    csv = client.get("/api/v1/procedures/catalog/export", params={"format": "csv"})
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert_conforms(app, "GET", "/api/v1/procedures/catalog/export", csv)
    assert_conforms(
        app, "GET", "/api/v1/procedures/catalog/export", client.get("/api/v1/procedures/catalog/export")
    )


def test_text_with_the_nul_character_is_refused_not_a_server_error(app, client, platform_admin, db) -> None:  # noqa: ANN001
    from sqlalchemy import func, select

    from tinhso.identity.models import Person

    with db.session() as session:
        before = session.scalar(select(func.count()).select_from(Person))
    body = {"username": "nul-user", "full_name": "Nguyễn\u0000Văn", "email": "a@b.vn", "roles": ["official"]}
    refused = client.post("/api/v1/people", json=body, headers=platform_admin.headers)
    assert refused.status_code == 422
    assert refused.json()["code"] == "nul_character"
    assert refused.json()["message"]["vi"].startswith("Văn bản không được chứa")
    assert_conforms(app, "POST", "/api/v1/people", refused)
    in_key = client.post(
        "/api/v1/exchange/access-requests", json={"a\u0000": 1}, headers=platform_admin.headers
    )
    assert in_key.status_code == 422
    assert client.get("/api/v1/agencies?q=a%00b").status_code == 422
    form = client.post(
        "/auth/token",
        content=b"grant_type=password&username=a%00",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 422
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == before
    # A backslash followed by "u0000" is ordinary text.
    fine = client.get("/api/v1/agencies", params={"q": "\\u0000"})
    assert fine.status_code == 200
