"""Client-credentials and password tokens; forged, expired and revoked credentials are refused."""

import base64
import json
import time

from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from tests.factories import PASSWORD
from tinhso.identity import tokens
from tinhso.identity.models import Person
from tinhso.kit.audit import AuditEntry


def _count_audit(db, action, outcome=None):
    with db.transaction() as s:
        stmt = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
        if outcome:
            stmt = stmt.where(AuditEntry.outcome == outcome)
        return s.scalar(stmt)


def test_system_obtains_token_with_basic_auth_and_calls_api(client, factory):
    system = factory.system(scopes=("api", "exchange"))
    resp = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(system.client_id, system.client_secret),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert resp.headers["cache-control"] == "no-store"
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert me["kind"] == "system" and me["agency_code"] == system.principal.agency_code
    assert set(me["scopes"]) == {"api", "exchange"}


def test_system_may_narrow_but_not_widen_its_scopes(client, factory):
    system = factory.system(scopes=("api",))
    form = {
        "grant_type": "client_credentials",
        "client_id": system.client_id,
        "client_secret": system.client_secret,
    }
    assert client.post("/auth/token", data=form | {"scope": "api"}).status_code == 200
    resp = client.post("/auth/token", data=form | {"scope": "api exchange"})
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_scope"


def test_wrong_secret_is_refused_and_audited(client, factory, db):
    system = factory.system()
    resp = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": system.client_id, "client_secret": "wrong"},
    )
    assert resp.status_code == 401
    body = resp.json()
    assert body["code"] == "invalid_client" and body["error"] == "invalid_client"
    assert body["message"]["vi"] and body["message"]["en"] != body["message"]["vi"]
    assert _count_audit(db, "auth.client_token", "failure") == 1


def test_unknown_grant_type(client):
    resp = client.post("/auth/token", data={"grant_type": "implicit"})
    assert resp.status_code == 400 and resp.json()["error"] == "unsupported_grant_type"


def test_password_sign_in_and_lockout_after_repeated_failures(client, factory, db):
    person = factory.person()
    form = {"grant_type": "password", "username": person.username}
    for _ in range(5):
        assert client.post("/auth/token", data=form | {"password": "sai-mat-khau"}).status_code == 401
    locked = client.post("/auth/token", data=form | {"password": PASSWORD})
    assert locked.status_code == 401 and locked.json()["code"] == "account_locked"
    assert "khoá" in locked.json()["message"]["vi"]
    assert _count_audit(db, "auth.sign_in", "failure") == 5
    with db.transaction() as s:
        assert s.get(Person, person.id).locked_until is not None


def test_password_sign_in_succeeds_and_resets_counter(client, factory, db):
    person = factory.person()
    form = {"grant_type": "password", "username": person.username}
    client.post("/auth/token", data=form | {"password": "sai"})
    ok = client.post("/auth/token", data=form | {"password": PASSWORD})
    assert ok.status_code == 200
    with db.transaction() as s:
        assert s.get(Person, person.id).failed_logins == 0
    assert _count_audit(db, "auth.sign_in", "success") == 1


def test_forged_token_signed_by_another_key_is_refused(client, factory):
    person = factory.person(("platform_admin",))
    forger = RSAKey.generate_key(2048, parameters={"kid": "evil"})
    claims = {
        "sub": f"person:{person.id}",
        "aud": "tinhso",
        "exp": int(time.time()) + 600,
        "kind": "person",
        "roles": ["platform_admin"],
    }
    forged = jwt.encode({"alg": "RS256", "kid": "evil"}, claims, forger)
    resp = client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert resp.status_code == 401 and resp.json()["code"] == "invalid_token"


def test_tampered_claims_are_refused(client, factory):
    person = factory.person(("official",))
    header, payload, sig = person.token.split(".")
    import base64
    import json

    data = json.loads(base64.urlsafe_b64decode(payload + "=="))
    data["roles"] = ["platform_admin"]
    payload2 = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    resp = client.get("/api/v1/me", headers={"Authorization": f"Bearer {header}.{payload2}.{sig}"})
    assert resp.status_code == 401


def test_expired_token_is_refused(client, factory, db):
    person = factory.person()
    expired = tokens.issue(db, "http://test", f"person:{person.id}", -10, {"kind": "person"})
    resp = client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert resp.status_code == 401 and resp.json()["code"] == "token_expired"


def test_malformed_authorization_header(client):
    resp = client.get("/api/v1/me", headers={"Authorization": "Basic abc"})
    assert resp.status_code == 401 and resp.json()["code"] == "invalid_authorization"
    assert client.get("/api/v1/me").status_code == 401


def test_revoked_credential_stops_working_at_once(client, factory, platform_admin):
    system = factory.system()
    assert client.get("/api/v1/me", headers=system.headers).status_code == 200
    creds = client.get(
        f"/api/v1/systems/{system.principal.system_id}/credentials", headers=platform_admin.headers
    )
    cred_id = creds.json()[0]["id"]
    revoked = client.post(
        f"/api/v1/systems/{system.principal.system_id}/credentials/{cred_id}/revoke",
        headers=platform_admin.headers,
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    resp = client.get("/api/v1/me", headers=system.headers)
    assert resp.status_code == 401 and resp.json()["code"] == "credential_revoked"
    again = client.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": system.client_id,
            "client_secret": system.client_secret,
        },
    )
    assert again.status_code == 401


def test_rotation_issues_new_secret_once_and_revokes_old(client, factory, platform_admin):
    system = factory.system()
    sid = system.principal.system_id
    cred_id = client.get(f"/api/v1/systems/{sid}/credentials", headers=platform_admin.headers).json()[0]["id"]
    rotated = client.post(
        f"/api/v1/systems/{sid}/credentials/{cred_id}/rotate", headers=platform_admin.headers
    )
    assert rotated.status_code == 201
    new = rotated.json()
    assert new["client_secret"] and new["client_id"] != system.client_id
    listed = client.get(f"/api/v1/systems/{sid}/credentials", headers=platform_admin.headers).json()
    assert all("client_secret" not in c for c in listed)
    ok = client.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": new["client_id"],
            "client_secret": new["client_secret"],
        },
    )
    assert ok.status_code == 200
    old = client.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": system.client_id,
            "client_secret": system.client_secret,
        },
    )
    assert old.status_code == 401


def test_jwks_publishes_the_signing_key(client):
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    assert keys and all("d" not in k for k in keys) and keys[0]["kty"] == "RSA"


def test_key_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(client, factory, db):
    person = factory.person()
    old_token = person.token
    with db.transaction() as s:
        new_kid = tokens.rotate(s)
    tokens.reset_cache()
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    assert new_kid in {k["kid"] for k in keys} and len(keys) >= 2
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {old_token}"}).status_code == 200
    fresh = factory.person()
    header = json.loads(base64.urlsafe_b64decode(fresh.token.split(".")[0] + "=="))
    assert header["kid"] == new_kid
    with db.transaction() as s:
        assert tokens.retire(s, older_than_hours=-1) >= 1
    tokens.reset_cache()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
