"""Platform-wide behaviour: health, readiness, metrics, OpenAPI, body limits, request ids, settings."""

import pytest
from fastapi.testclient import TestClient

from tinhso.settings import Settings


def test_healthz(client):
    assert client.get("/healthz").json()["status"] == "ok"


def test_readyz_reports_each_check(client):
    body = client.get("/readyz").json()
    assert body["status"] == "ok", body
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["migrations"]["status"] == "ok"
    assert body["checks"]["migrations"]["missing"] == []
    assert body["checks"]["outbox"]["pending"] == 0


def test_readyz_fails_when_migrations_are_behind(tmp_path):
    from alembic import command
    from fastapi.testclient import TestClient

    from tinhso.app import create_app
    from tinhso.kit.db import Database, make_engine
    from tinhso.migrate import alembic_config
    from tinhso.settings import get_settings

    url = f"sqlite:///{tmp_path / 'behind.db'}"
    command.upgrade(alembic_config(url), "foundation_0001")
    db = Database(make_engine(url=url))
    with TestClient(create_app(get_settings(), db)) as c:
        resp = c.get("/readyz")
    db.dispose()
    assert resp.status_code == 503
    assert resp.json()["checks"]["migrations"]["status"] == "fail"
    assert resp.json()["checks"]["migrations"]["missing"]


def test_metrics_are_prometheus_text_for_the_monitoring_network_only(client, live_server, monkeypatch):
    """Per-service, per-client traffic is agency data: /metrics answers loopback (a Prometheus beside the
    process), the networks of TINHSO_METRICS_NETWORKS or the bearer TINHSO_METRICS_TOKEN; not the public behind
    the proxy, whatever it puts in X-Forwarded-For."""
    import httpx

    client.get("/api/v1/communes")
    local = TestClient(client.app, client=("127.0.0.1", 40000))
    text = local.get("/metrics").text
    assert "tinhso_http_requests_total" in text and 'route="/api/v1/communes"' in text
    r = client.get("/metrics")  # the test client's address is no IP of a monitoring network
    assert r.status_code == 403 and r.json()["code"] == "metrics_forbidden"
    assert "mạng giám sát" in r.json()["message"]["vi"] and "monitoring network" in r.json()["message"]["en"]
    settings = client.app.state.settings
    monkeypatch.setattr(settings, "metrics_token", "mot-ma-du-dai-de-doan-khong-ra")
    assert client.get("/metrics", headers={"Authorization": "Bearer sai"}).status_code == 403
    ok = client.get("/metrics", headers={"Authorization": "Bearer mot-ma-du-dai-de-doan-khong-ra"})
    assert ok.status_code == 200 and "tinhso_http_requests_total" in ok.text
    monkeypatch.setattr(settings, "metrics_networks", ["203.0.113.0/24"])
    remote = TestClient(client.app, client=("203.0.113.9", 40000))
    assert remote.get("/metrics").status_code == 200
    monkeypatch.setattr(settings, "metrics_networks", ["127.0.0.0/8"])
    # Through the proxy (uvicorn trusts X-Forwarded-For from 127.0.0.1, as behind nginx): the caller's own address.
    with httpx.Client(base_url=live_server, trust_env=False) as http:
        assert http.get("/metrics").status_code == 200  # Prometheus on the same host
        for forwarded in ("203.0.113.7", "127.0.0.1, 203.0.113.7"):  # nginx appends the real address
            r = http.get("/metrics", headers={"X-Forwarded-For": forwarded})
            assert r.status_code == 403, forwarded


def test_metrics_networks_must_be_networks(monkeypatch):
    from pydantic import ValidationError

    from tinhso.settings import Settings

    monkeypatch.setenv("TINHSO_METRICS_NETWORKS", '["10.20.0.0/24", "mang-noi-bo"]')
    with pytest.raises(ValidationError, match="mang-noi-bo"):
        Settings()


def test_openapi_has_clean_unique_operation_ids(client):
    spec = client.get("/openapi.json").json()
    ids = [
        op["operationId"] for path in spec["paths"].values() for op in path.values() if "operationId" in op
    ]
    assert len(ids) == len(set(ids))
    assert "list_communes" in ids and "issue_token" in ids
    assert not [i for i in ids if "_api_v1_" in i or "__" in i]


def test_request_id_is_echoed_and_generated(client):
    r = client.get("/healthz", headers={"X-Request-Id": "abcdef123456"})
    assert r.headers["x-request-id"] == "abcdef123456"
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    assert client.get("/healthz", headers={"X-Request-Id": "<script>"}).headers["x-request-id"] != "<script>"


def test_security_headers(client):
    headers = client.get("/healthz").headers
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "strict-transport-security" not in headers  # served over plain HTTP on localhost


def test_hsts_when_served_over_https(db):
    from fastapi.testclient import TestClient

    from tinhso.app import create_app

    settings = Settings(base_url="https://tinhso.nghean.gov.vn", run_dispatcher=False)
    with TestClient(create_app(settings, db)) as c:
        assert c.get("/healthz").headers["strict-transport-security"].startswith("max-age=")


def test_api_docs_are_served_from_our_own_assets(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui-bundle.js" in page.text and "cdn." not in page.text
    assert client.get("/static/vendor/swagger-ui-bundle.js").status_code == 200


def test_oversized_body_is_refused_before_the_handler(client, factory, db):
    from sqlalchemy import func, select

    from tinhso.identity.models import Person

    admin = factory.person(("agency_admin",))
    huge = {"username": "x" * 10, "full_name": "y" * (11 * 1024 * 1024), "password": "mat-khau-du-dai-1"}
    resp = client.post("/api/v1/people", headers=admin.headers, json=huge)
    assert resp.status_code == 413 and resp.json()["code"] == "payload_too_large"
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Person).where(Person.username == "x" * 10)) == 0


def test_malformed_json_is_a_typed_error(client, factory):
    admin = factory.person(("agency_admin",))
    resp = client.post(
        "/api/v1/people", headers=admin.headers | {"content-type": "application/json"}, content=b"{not json"
    )
    assert resp.status_code == 422 and resp.json()["code"] == "validation_error"


def test_unknown_route_is_a_typed_404(client):
    body = client.get("/api/v1/khong-co").json()
    assert body["code"] == "not_found" and body["message"]["vi"] == "Không tìm thấy"


def test_production_refuses_default_secret():
    with pytest.raises(ValueError, match="TINHSO_SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValueError):
        Settings(environment="production", secret_key="short")
    assert Settings(environment="production", secret_key="x" * 40).secret_key == "x" * 40
    assert Settings(environment="demo").environment == "demo"


def test_database_url_selects_the_backend():
    assert Settings().effective_database_url.startswith("sqlite:///")
    pg = Settings(database_url="postgresql://postgres@127.0.0.1:5432/x")
    assert not pg.is_sqlite
