"""Admission of a call: who is calling (bearer token of the system named in `X-Road-Client`), which service
it asks for, and whether a grant allows this operation.

The hot path costs one database statement (see `runtime.CHECK`): the credential's revocation and the
system's state are read from their own tables on every call, and grants, services and peers are kept in
memory only as long as the configuration stamp read in that statement is unchanged. Anything not yet in
memory is loaded in a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from sqlalchemy import select

from tinhso.exchange import access, catalog, federation
from tinhso.exchange.ids import MemberId, parse_member, parse_service
from tinhso.exchange.models import Service
from tinhso.exchange.xroad import Call, GatewayError, parse_ident
from tinhso.identity import tokens
from tinhso.kit.errors import DomainError

EXCHANGE_SCOPES = frozenset({"exchange", "*", "exchange:*"})


@dataclass
class Target:
    service: Service | None
    identifier: str
    rest: list[str]  # raw (still percent-encoded) path segments after the service id
    path: str  # decoded path used for rights checks, '/a/b'
    peer: Any = None


_PARSED: dict[tuple[Any, str], Any] = {}


def parsed(fn: Any, text: str) -> Any:
    """A member or service identifier, parsed once per distinct text (refusals are not remembered)."""
    key = (fn, text)
    value = _PARSED.get(key)
    if value is None:
        value = parse_ident(fn, text)
        if len(_PARSED) > 10_000:
            _PARSED.clear()
        _PARSED[key] = value
    return value


async def in_thread(fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def _claims(call: Call, token: str) -> dict[str, Any]:
    rt = call.rt
    result = rt.tokens.peek(token)
    if result is None:

        def load() -> Any:
            try:
                return tokens.decode(call.db, token)
            except DomainError as exc:
                return exc

        result = await in_thread(load)
        rt.tokens.put(token, result)
    if isinstance(result, DomainError):
        raise GatewayError(401, "Client.Unauthorized", result.code, result.message)
    if float(result.get("exp", 0)) < time.time():
        raise GatewayError(401, "Client.Unauthorized", "token_expired", "The access token has expired")
    return result


async def authenticate(call: Call, require_client: bool = True) -> MemberId | None:
    """The calling system, proven by its bearer token; a peer hub's consumer, proven by the peer's token."""
    rt = call.rt
    header = call.headers.get("x-road-client") or call.headers.get("x-govstack-client")
    client = parsed(parse_member, header) if header else None
    if client is None and require_client:
        raise GatewayError(
            400, "Client.BadRequest", "client_header_missing", "The X-Road-Client header is required"
        )
    scheme, _, token = call.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise GatewayError(401, "Client.Unauthorized", "unauthenticated", "A valid credential is required")
    if client is not None and client.instance != rt.instance:
        call.stamp = (await rt.check(call.db, None, None)).stamp
        await in_thread(federation.verify_hub_token, call.db, rt, token, client)
        call.from_peer = True
        return client
    claims = await _claims(call, token)
    if claims.get("kind") != "system" or not claims.get("system_id"):
        raise GatewayError(
            403, "Client.Forbidden", "system_required", "Only information systems may call services"
        )
    if not EXCHANGE_SCOPES.intersection(str(claims.get("scope", "")).split()):
        raise GatewayError(
            403, "Client.Forbidden", "scope_required", "The token lacks the scope {scope}", scope="exchange"
        )
    call.claims = claims
    cred = claims.get("cred")
    found = await rt.check(call.db, cred, claims["system_id"])
    call.stamp = found.stamp
    if cred and not found.credential_live:
        raise GatewayError(
            401, "Client.Unauthorized", "credential_revoked", "The client credential was revoked"
        )
    if client is None:
        return MemberId(rt.instance, "GOV", *found.system) if found.system else None
    if found.system is None or found.system != (client.agency, client.system):
        raise GatewayError(
            403,
            "Client.Forbidden",
            "client_mismatch",
            "The X-Road-Client header does not match the credential",
        )
    return client


def _load_services(db: Any, agency: str, system: str, code: str) -> list[Service]:
    with db.transaction(write=False) as s:
        rows = list(
            s.scalars(
                select(Service).where(
                    Service.agency_code == agency,
                    Service.system_code == system,
                    Service.code == code,
                    Service.state.in_(("published", "deprecated")),
                )
            )
        )
        for r in rows:
            s.expunge(r)
    return rows


async def resolve(call: Call, segments: list[str]) -> Target:
    rt = call.rt
    if len(segments) < 5:
        raise GatewayError(
            400,
            "Client.BadRequest",
            "invalid_identifier",
            "A service identifier has the form INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/VERSION]",
        )
    parts = [unquote(s) for s in segments[:6]]
    sid = parsed(parse_service, "/".join(parts[:5]))
    if sid.member.instance != rt.instance:
        peer = await peer_for(call, sid.member.instance)
        if peer is None:
            raise GatewayError(
                404,
                "Server.ClientProxy.UnknownInstance",
                "unknown_instance",
                "Unknown X-Road instance {instance}",
                instance=sid.member.instance,
            )
        rest = segments[5:]
        return Target(None, str(sid), rest, "/" + "/".join(unquote(s) for s in rest), peer)
    key = (sid.member.agency, sid.member.system, sid.code)
    candidates = rt.services.get(key)
    if candidates is None:
        candidates = await in_thread(_load_services, call.db, *key)
        rt.remember(rt.services, key, candidates, call.stamp)
    if not candidates or sid.member.member_class != "GOV":
        raise GatewayError(
            404,
            "Server.ServerProxy.UnknownService",
            "unknown_service",
            "Unknown service {service}",
            service=str(sid),
        )
    version = parts[5] if len(parts) > 5 else None
    chosen = next((c for c in candidates if c.version == version), None)
    rest = segments[6:] if chosen else segments[5:]
    if chosen is None:
        published = [c for c in candidates if c.state == "published"] or candidates
        chosen = max(published, key=lambda c: [int(x) for x in c.version[1:].split(".")])
    path = "/" + "/".join(unquote(s) for s in rest)
    return Target(chosen, f"{sid.member}/{chosen.code}/{chosen.version}", rest, path)


async def peer_for(call: Call, instance: str) -> Any:
    rt = call.rt
    if instance in rt.peers:
        return rt.peers[instance]
    peer = await in_thread(federation.load_peer, call.db, instance)
    rt.remember(rt.peers, instance, peer, call.stamp)
    return peer


def _load_grants(db: Any, client: str, service_id: str) -> list[Any]:
    with db.transaction(write=False) as s:
        rows = access.active_grants(s, client, service_id)
        for r in rows:
            s.expunge(r)
    return rows


async def check_rights(call: Call, client: MemberId, service: Service, method: str, path: str) -> None:
    rt = call.rt
    key = (str(client), service.id)
    grants = rt.grants.get(key)
    if grants is None:
        grants = await in_thread(_load_grants, call.db, *key)
        rt.remember(rt.grants, key, grants, call.stamp)
    now = time.time()
    live = [g for g in grants if g.valid_until is None or g.valid_until.timestamp() > now]
    if not access.allows(live, method, path):
        raise GatewayError(
            403,
            "Client.AccessDenied",
            "access_denied",
            "The client {client} has no right to {method} {path} of this service",
            client=str(client),
            method=method,
            path=path,
        )


async def admit(call: Call, segments: list[str]) -> tuple[MemberId, Target]:
    """Authenticate the consumer, resolve the service and check the grant for this operation."""
    rec = call.rec
    client = await authenticate(call)
    assert client is not None
    rec.client = str(client)
    target = await resolve(call, segments)
    rec.service = target.identifier
    rec.path = target.path
    if target.peer is None:
        service = target.service
        assert service is not None
        rec.service_pk, rec.provider_agency_code = service.id, service.agency_code
        rec.operation = catalog.operation_of(service, call.method, target.path)
        await check_rights(call, client, service, call.method, target.path)
    return client, target
