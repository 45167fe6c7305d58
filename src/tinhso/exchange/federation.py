"""Federation: calls to services of another instance (e.g. the national hub) travel hub to hub.

The calling hub authenticates itself with a short-lived JWT signed by its Ed25519 hub key (JWS alg Ed25519, RFC 9864), naming
the consumer (`sub`), the issuing instance (`iss`) and the peer (`aud`); the peer knows our public key from
its own peer configuration. The peer answers with `X-Road-Hub-Signature`, its signature over the request
hash and status, which the calling hub verifies with the peer's public key: both sides are authenticated.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from sqlalchemy import select

from tinhso.exchange import msglog
from tinhso.exchange.ids import MemberId
from tinhso.exchange.models import Peer, Service
from tinhso.kit.db import Database, new_id

if TYPE_CHECKING:
    from tinhso.exchange.runtime import Runtime
    from tinhso.exchange.xroad import Call

TOKEN_TTL = 60


def load_peer(db: Database, instance: str) -> Peer | None:
    with db.transaction(write=False) as s:
        row = s.scalar(select(Peer).where(Peer.instance == instance, Peer.active.is_(True)))
        if row is not None:
            s.expunge(row)
    return row


def peer_for(db: Database, rt: Runtime, instance: str) -> Peer | None:
    """The configured peer (from the gateway's copy, valid under the stamp this call has read)."""
    if instance in rt.peers:
        return rt.peers[instance]  # type: ignore[no-any-return]
    peer = load_peer(db, instance)
    rt.remember(rt.peers, instance, peer, rt.stamp)
    return peer


def _signing_key(db: Database) -> tuple[str, OKPKey]:
    kid, private = msglog.hub_key(db)
    from cryptography.hazmat.primitives import serialization

    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return kid, OKPKey.import_key(pem)


def hub_token(db: Database, rt: Runtime, peer: Peer, client: MemberId, message_id: str) -> str:
    kid, key = _signing_key(db)
    now = int(time.time())
    claims = {
        "iss": rt.instance,
        "aud": peer.instance,
        "sub": str(client),
        "iat": now,
        "exp": now + TOKEN_TTL,
        "jti": new_id(),
        "xrid": message_id,
    }
    return jwt.encode({"alg": "Ed25519", "kid": kid, "typ": "hub+jwt"}, claims, key, algorithms=["Ed25519"])


def verify_hub_token(db: Database, rt: Runtime, token: str, client: MemberId) -> None:
    """Accept a consumer of another instance only with a valid token of that instance's hub."""
    from tinhso.exchange.xroad import GatewayError

    peer = peer_for(db, rt, client.instance)
    if peer is None:
        raise GatewayError(
            403,
            "Client.Forbidden",
            "unknown_instance",
            "Unknown X-Road instance {instance}",
            instance=client.instance,
        )
    try:
        key = OKPKey.import_key(peer.public_key_pem)
        tok = jwt.decode(token, key, algorithms=["Ed25519"])
    except (JoseError, ValueError) as exc:
        raise GatewayError(
            401, "Client.Unauthorized", "invalid_hub_token", "The hub token is not valid"
        ) from exc
    c = tok.claims
    if (
        c.get("iss") != client.instance
        or c.get("aud") != rt.instance
        or c.get("sub") != str(client)
        or float(c.get("exp", 0)) < time.time()
        or float(c.get("iat", 0)) > time.time() + 30
    ):
        raise GatewayError(401, "Client.Unauthorized", "invalid_hub_token", "The hub token is not valid")
    jti = str(c.get("jti", ""))
    if not jti or rt.seen_jti.peek(jti):
        raise GatewayError(401, "Client.Unauthorized", "hub_token_replayed", "The hub token was already used")
    rt.seen_jti.put(jti, True, ttl=TOKEN_TTL * 2)


def sign_answer(db: Database, request_hash: str, status: int) -> str:
    kid, sig = msglog.sign(db, f"{request_hash}\n{status}".encode())
    return f"{kid}:{sig}"


def check_peer_answer(peer: Peer, headers: Any, status: int, rec: Any) -> None:
    from tinhso.exchange.xroad import GatewayError

    header = headers.get("x-road-hub-signature", "")
    _, _, sig = header.partition(":")
    try:
        key = msglog.load_public(peer.public_key_pem)
        bound = f"id:{rec.message_id}" if headers.get("x-road-error") else rec.request_hash
        key.verify(base64.b64decode(sig), f"{bound}\n{status}".encode())
    except (InvalidSignature, ValueError):
        raise GatewayError(
            502,
            "Server.ClientProxy.PeerAuthenticationFailed",
            "peer_unauthenticated",
            "The answer of the peer hub could not be authenticated",
        ) from None


async def forward(call: Call, target: Any, client: MemberId) -> None:
    """Send the call on to the peer hub that hosts the service."""
    from tinhso.exchange.forwarding import forward as send_on
    from tinhso.exchange.xroad import GatewayError

    peer: Peer = target.peer
    rt = call.rt
    call.rec.peer = peer.instance
    wait = rt.limiter.take((str(client), f"peer:{peer.instance}"), 6000)
    if wait > 0:
        raise GatewayError(
            429,
            "Client.RateLimited",
            "rate_limited",
            "Too many requests; try again later",
            headers={"Retry-After": str(max(1, int(wait + 0.999)))},
        )
    url = peer.base_url.rstrip("/") + call.raw_target
    via = Service(
        id=None,
        max_body_bytes=call.app.state.settings.max_body_bytes,
        timeout_seconds=30.0,
        classification="personal",
        body_retention_days=0,
        upstream_url=peer.base_url,
    )
    headers = {
        "Authorization": f"Bearer {hub_token(call.db, rt, peer, client, call.rec.message_id)}",
        "X-Road-Hub-Request": "1",
    }
    await send_on(call, via, url, client, extra_headers=headers, peer_key=peer)
