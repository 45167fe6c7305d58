"""Signed access tokens (JWT, RS256) and the key set published at /.well-known/jwks.json."""

from __future__ import annotations

import threading
import time
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.identity.models import SigningKey
from tinhso.kit.db import Database, new_id
from tinhso.kit.errors import Unauthorized

AUDIENCE = "tinhso"
_lock = threading.Lock()
_cache: dict[str, Any] = {"keys": None, "signing": None}
KEY_RELOAD_SECONDS = 300


def ensure_signing_key(session: Session) -> None:
    """Create the first signing key if there is none (shared by every process through the database)."""
    if session.scalar(select(SigningKey.kid).where(SigningKey.active.is_(True)).limit(1)) is None:
        kid = new_id()[:16]
        key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
        session.add(SigningKey(kid=kid, private_pem=key.as_pem(private=True).decode(), active=True))
        session.flush()


def _load(db: Database) -> None:
    # Read without the write lock: this runs inside requests that may already hold it (SQLite).
    with db.transaction(write=False) as session:
        rows = list(session.scalars(select(SigningKey).order_by(SigningKey.created_at)))
    if not any(r.active for r in rows):
        with db.transaction() as session:
            ensure_signing_key(session)
            rows = list(session.scalars(select(SigningKey).order_by(SigningKey.created_at)))
    keys: list[Any] = [
        RSAKey.import_key(r.private_pem, parameters={"kid": r.kid, "use": "sig", "alg": "RS256"})
        for r in rows
    ]
    active = [k for k, r in zip(keys, rows, strict=True) if r.active]
    _cache["keys"] = KeySet(keys)
    _cache["signing"] = active[-1]
    _cache["loaded_at"] = time.monotonic()


def rotate(session: Session) -> str:
    """Make a new signing key active; older keys stay published so tokens they signed verify until expiry."""
    kid = new_id()[:16]
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
    for old in session.scalars(select(SigningKey).where(SigningKey.active.is_(True))):
        old.active = False
    session.add(SigningKey(kid=kid, private_pem=key.as_pem(private=True).decode(), active=True))
    session.flush()
    return kid


def retire(session: Session, older_than_hours: float) -> int:
    """Stop publishing inactive keys older than the longest token lifetime; returns how many."""
    from datetime import timedelta

    from tinhso.kit.db import utcnow

    cutoff = utcnow() - timedelta(hours=older_than_hours)
    old = list(
        session.scalars(
            select(SigningKey).where(SigningKey.active.is_(False), SigningKey.created_at < cutoff)
        )
    )
    for row in old:
        session.delete(row)
    return len(old)


def prime(db: Database) -> None:
    """Make sure a signing key exists and is loaded (at start-up, before any request holds a lock)."""
    reset_cache()
    _keys(db)


def reset_cache() -> None:
    with _lock:
        _cache["keys"] = None
        _cache["signing"] = None


def _keys(db: Database) -> tuple[KeySet, RSAKey]:
    with _lock:
        # Reload now and then so every process picks up a rotated key (`tinhso rotate-signing-key`).
        if _cache["keys"] is None or time.monotonic() - _cache.get("loaded_at", 0) > KEY_RELOAD_SECONDS:
            _load(db)
        return _cache["keys"], _cache["signing"]


def jwks(db: Database) -> dict[str, Any]:
    keyset, _ = _keys(db)
    return {"keys": [k.as_dict(private=False) for k in keyset.keys]}


def issue(db: Database, issuer: str, subject: str, ttl_seconds: int, claims: dict[str, Any]) -> str:
    """Sign a token for `subject` valid for `ttl_seconds`."""
    _, key = _keys(db)
    now = int(time.time())
    payload = {
        "iss": issuer,
        "sub": subject,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": new_id(),
    } | claims
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}, payload, key)


def decode(db: Database, token: str, audience: str = AUDIENCE) -> dict[str, Any]:
    """Verify signature, expiry and audience; raise Unauthorized with a stable code otherwise."""
    keyset, _ = _keys(db)
    try:
        try:
            tok = jwt.decode(token, keyset, algorithms=["RS256"])
        except JoseError:
            # Another process may have rotated keys: reload once and retry.
            reset_cache()
            keyset, _ = _keys(db)
            tok = jwt.decode(token, keyset, algorithms=["RS256"])
    except (JoseError, ValueError) as exc:
        raise Unauthorized("invalid_token", "The access token is not valid") from exc
    claims = tok.claims
    now = time.time()
    if claims.get("exp") is None or float(claims["exp"]) < now:
        raise Unauthorized("token_expired", "The access token has expired")
    if float(claims.get("nbf", 0)) > now + 30:
        raise Unauthorized("invalid_token", "The access token is not valid")
    aud = claims.get("aud")
    if aud != audience and not (isinstance(aud, list) and audience in aud):
        raise Unauthorized("invalid_token", "The access token is not valid")
    return claims


def signing_key(db: Database) -> RSAKey:
    """The active private key (OpenID Connect signs id_tokens with it; its public half is in the JWKS)."""
    return _keys(db)[1]


def key_set(db: Database) -> KeySet:
    """Every published key, to verify tokens this platform signed."""
    return _keys(db)[0]
