"""Access rights: request with purpose and legal basis, approve / limit / refuse / revoke, per-operation grants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.exchange.conftest import make_hub
from tests.factories import TUPHAP


def _request(client, hub, **extra):
    body = {
        "service_id": hub.service["id"],
        "purpose": "Xác minh nhân thân",
        "legal_basis": "Luật Hộ tịch",
    } | extra
    return client.post("/api/v1/exchange/access-requests", json=body, headers=hub.consumer.headers)


def test_without_grant_refused_and_recorded_then_approved(client, factory, upstream):
    hub = make_hub(client, factory, upstream, approve=False)
    url = f"/r1/{hub.service_id}/citizens/040190001234"
    r = client.get(url, headers=hub.headers())
    assert r.status_code == 403 and r.json()["type"] == "Client.AccessDenied"
    req = _request(client, hub)
    assert req.status_code == 201 and req.json()["state"] == "pending"
    assert req.json()["client"] == hub.client_id
    assert _request(client, hub).status_code == 409  # one pending request at a time
    rid = req.json()["id"]
    # Only the provider agency's administrator decides.
    d = f"/api/v1/exchange/access-requests/{rid}/decision"
    assert client.post(d, json={"decision": "approve"}, headers=hub.consumer_admin.headers).status_code == 403
    assert client.post(d, json={"decision": "approve"}, headers=hub.provider.headers).status_code == 403
    assert (
        client.post(
            "/api/v1/exchange/access-requests/nope/decision",
            json={"decision": "approve"},
            headers=hub.provider_admin.headers,
        ).status_code
        == 404
    )
    assert client.post(d, json={"decision": "approve"}, headers=hub.provider_admin.headers).status_code == 200
    assert client.post(d, json={"decision": "refuse"}, headers=hub.provider_admin.headers).status_code == 409
    assert client.get(url, headers=hub.headers()).status_code == 200
    # Revoke: the next call is refused again.
    rv = client.post(f"/api/v1/exchange/access-requests/{rid}/revoke", headers=hub.provider_admin.headers)
    assert rv.status_code == 200 and rv.json()["state"] == "revoked"
    assert client.get(url, headers=hub.headers()).status_code == 403
    log = client.get("/api/v1/exchange/stats", headers=hub.provider_admin.headers).json()
    assert log["calls"] == 3 and log["errors"] == 2


def test_grant_per_operation(client, factory, upstream):
    hub = make_hub(client, factory, upstream, operations=[{"method": "GET", "path": "/citizens/{id}"}])
    assert client.get(f"/r1/{hub.service_id}/citizens/1", headers=hub.headers()).status_code == 200
    # Another operation of the same service, and the same path one level deeper, are refused.
    r = client.post(f"/r1/{hub.service_id}/echo", content=b"{}", headers=hub.headers())
    assert r.status_code == 403 and r.json()["code"] == "access_denied"
    assert client.get(f"/r1/{hub.service_id}/citizens/1/extra", headers=hub.headers()).status_code == 403
    assert client.delete(f"/r1/{hub.service_id}/citizens/1", headers=hub.headers()).status_code == 403


def test_limit_refuse_validity_and_bad_input(client, factory, upstream):
    hub = make_hub(client, factory, upstream, approve=False)
    r = _request(client, hub, operations=[{"method": "GET", "path": "/nope"}])
    assert r.status_code == 422 and r.json()["code"] == "unknown_operation"
    r = _request(client, hub, valid_until=(datetime.now(UTC) - timedelta(days=1)).isoformat())
    assert r.status_code == 422
    r = _request(client, hub, purpose="")
    assert r.status_code == 422
    assert (
        client.get("/api/v1/exchange/access-requests", headers=hub.provider_admin.headers).json()["total"]
        == 0
    )
    soon = datetime.now(UTC) + timedelta(days=30)
    rid = _request(client, hub, valid_until=soon.isoformat()).json()["id"]
    d = f"/api/v1/exchange/access-requests/{rid}/decision"
    r = client.post(d, json={"decision": "limit"}, headers=hub.provider_admin.headers)
    assert r.status_code == 422 and r.json()["code"] == "operations_required"
    r = client.post(
        d,
        json={"decision": "limit", "operations": [{"method": "POST", "path": "/echo"}]},
        headers=hub.provider_admin.headers,
    )
    assert r.status_code == 200 and r.json()["state"] == "limited"
    grants = client.get("/api/v1/exchange/grants", headers=hub.consumer_admin.headers).json()["items"]
    assert [(g["method"], g["path"]) for g in grants] == [("POST", "/echo")]
    assert grants[0]["valid_until"] is not None
    assert client.get(f"/r1/{hub.service_id}/citizens/1", headers=hub.headers()).status_code == 403
    assert client.post(f"/r1/{hub.service_id}/echo", content=b"hi", headers=hub.headers()).status_code == 200
    # Refuse a second request.
    rid2 = _request(client, hub).json()["id"]
    r = client.post(
        f"/api/v1/exchange/access-requests/{rid2}/decision",
        json={"decision": "refuse", "note": "Không đủ căn cứ"},
        headers=hub.provider_admin.headers,
    )
    assert r.json()["state"] == "refused"
    # A stranger's agency does not see these requests.
    stranger = factory.person(("agency_admin", "official"), agency="000.00.02.H41")
    assert client.get(f"/api/v1/exchange/access-requests/{rid}", headers=stranger.headers).status_code == 404


def test_expired_grant_is_not_honoured(client, factory, upstream, db):
    from tinhso.exchange.models import Grant

    hub = make_hub(client, factory, upstream)
    with db.transaction() as s:
        for g in s.query(Grant).all():
            g.valid_until = datetime.now(UTC) - timedelta(seconds=1)
    # No invalidate(): the change above moved the configuration stamp the gateway reads on every call.
    r = client.get(f"/r1/{hub.service_id}/citizens/1", headers=hub.headers())
    assert r.status_code == 403


def test_changes_made_elsewhere_stop_calls_at_once(client, factory, upstream, db):
    """Grants, services, credentials and systems changed by another process (here: straight in the
    database, which this app's caches never hear of) take effect on the very next call."""
    from sqlalchemy import select, update

    from tinhso.exchange import access as access_service
    from tinhso.exchange.models import AccessRequest, Service, bump_stamp
    from tinhso.identity.models import ClientCredential, InformationSystem

    hub = make_hub(client, factory, upstream)
    url = f"/r1/{hub.service_id}/citizens/1"
    for _ in range(2):  # the second call is served from the gateway's in-memory copies
        assert client.get(url, headers=hub.headers()).status_code == 200
    with db.transaction() as s:  # a revocation through the service layer of another process
        rid = s.scalar(select(AccessRequest.id))
        access_service.revoke_request(s, hub.provider_admin.principal, rid)
    r = client.get(url, headers=hub.headers())
    assert r.status_code == 403 and r.json()["code"] == "access_denied"

    other = make_hub(client, factory, upstream, code="citizens2")
    url = f"/r1/{other.service_id}/citizens/1"
    assert client.get(url, headers=other.headers()).status_code == 200
    with db.transaction() as s:  # the service retired
        s.execute(update(Service).where(Service.id == other.service["id"]).values(state="retired"))
        bump_stamp(s.connection())
    assert client.get(url, headers=other.headers()).status_code == 404
    with db.transaction() as s:
        s.execute(update(Service).where(Service.id == other.service["id"]).values(state="published"))
        bump_stamp(s.connection())
    assert client.get(url, headers=other.headers()).status_code == 200
    with db.transaction() as s:  # the consumer's credential revoked (identity module, no stamp involved)
        cred = s.get(ClientCredential, other.consumer.principal.credential_id)
        cred.revoked_at = datetime.now(UTC)
    r = client.get(url, headers=other.headers())
    assert r.status_code == 401 and r.json()["code"] == "credential_revoked"
    fresh = factory.system(TUPHAP, other.consumer_code, scopes=("api", "exchange"))
    headers = {"X-Road-Client": other.client_id, **fresh.headers}
    assert client.get(url, headers=headers).status_code == 200
    with db.transaction() as s:  # the consumer system switched off
        s.execute(
            update(InformationSystem)
            .where(InformationSystem.id == fresh.principal.system_id)
            .values(active=False)
        )
    r = client.get(url, headers=headers)
    assert r.status_code == 403 and r.json()["code"] == "client_mismatch"


def test_direct_grant_by_owner(client, factory, upstream):
    hub = make_hub(client, factory, upstream, approve=False)
    body = {
        "service_id": hub.service["id"],
        "client": f"VN/GOV/{TUPHAP}/{hub.consumer_code}",
        "method": "GET",
        "path": "/citizens/{id}",
    }
    assert (
        client.post("/api/v1/exchange/grants", json=body, headers=hub.consumer_admin.headers).status_code
        == 403
    )
    assert (
        client.post(
            "/api/v1/exchange/grants", json=body | {"client": "bad"}, headers=hub.provider_admin.headers
        ).status_code
        == 400
    )
    g = client.post("/api/v1/exchange/grants", json=body, headers=hub.provider_admin.headers)
    assert g.status_code == 201
    assert client.get(f"/r1/{hub.service_id}/citizens/9", headers=hub.headers()).status_code == 200
    assert (
        client.post(
            f"/api/v1/exchange/grants/{g.json()['id']}/revoke", headers=hub.provider_admin.headers
        ).status_code
        == 200
    )
    assert client.get(f"/r1/{hub.service_id}/citizens/9", headers=hub.headers()).status_code == 403
