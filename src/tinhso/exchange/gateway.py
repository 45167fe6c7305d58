"""The gateway: `/r1/{serviceId}/{path}` following X-Road's REST message protocol.

The consumer names itself in `X-Road-Client` and proves it with its bearer token; the hub checks the
service, the grant for this operation and the rate limit, streams the request to the provider's upstream
(or to a federated hub), streams the answer back, and writes one signed message-log entry. The last bytes
of the answer are held back until that entry is written: if the log cannot be written the call fails
closed (an error for small answers, an aborted connection for streamed ones) and never passes silently.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from tinhso.exchange import access, federation, metrics, msglog
from tinhso.exchange import runtime as rt_mod
from tinhso.exchange.ids import METASERVICES, MemberId, instance_var, parse_member, parse_service
from tinhso.exchange.models import Service
from tinhso.identity import tokens
from tinhso.identity.models import ClientCredential, InformationSystem
from tinhso.kit.db import Database
from tinhso.kit.errors import DomainError
from tinhso.kit.i18n import both

log = logging.getLogger("tinhso.exchange.gateway")
router = APIRouter(include_in_schema=False)

MAX_URI = 2000
BUFFER = 64 * 1024  # answers up to this size are buffered whole; bigger ones stream
KEEP_BODY_MAX = 64 * 1024  # bodies kept in the message log (non-personal services) up to this size
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
}
DROP_REQUEST = HOP_BY_HOP | {
    "host",
    "authorization",
    "cookie",
    "content-length",
    "user-agent",
    "x-request-id",
}
DROP_RESPONSE = HOP_BY_HOP | {"server", "content-length", "set-cookie", "date"}
FORBIDDEN_ENCODINGS = ("%2f", "%5c", "%00", "%2e", "%25")
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class GatewayError(Exception):
    """An X-Road style refusal: `type` says where it failed (Client.*, Server.ClientProxy.*, …)."""

    def __init__(
        self,
        status: int,
        type_: str,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        **params: Any,
    ):
        super().__init__(message)
        self.status, self.type, self.code, self.message, self.params = status, type_, code, message, params
        self.headers = headers or {}


def error_response(exc: GatewayError, message_id: str, request_id: str | None) -> JSONResponse:
    texts = both(exc.message, **exc.params)
    body = {
        "type": exc.type,
        "message": texts["en"],
        "detail": message_id,
        "status": exc.status,
        "code": exc.code,
        "localized": texts,
        "request_id": request_id,
    }
    headers = {"X-Road-Error": exc.type, "X-Road-Id": message_id} | exc.headers
    return JSONResponse(body, status_code=exc.status, headers=headers)


@dataclass
class Target:
    service: Service | None
    identifier: str
    rest: list[str]  # raw (still percent-encoded) path segments after the service id
    path: str  # decoded path used for rights checks, '/a/b'
    peer: Any = None


def split_raw(raw_path: str) -> list[str]:
    """Validate the raw request path and split what follows /r1/ into raw segments."""
    if len(raw_path) > MAX_URI:
        raise GatewayError(414, "Client.BadRequest", "uri_too_long", "The request URI is too long")
    lowered = raw_path.lower()
    if any(bad in lowered for bad in FORBIDDEN_ENCODINGS) or "\\" in raw_path:
        raise GatewayError(
            400,
            "Client.BadRequest",
            "encoded_separator",
            "Encoded separators, dots or NUL are not allowed in the path",
        )
    rest = raw_path[len("/r1/") :]
    segments = rest.split("/")
    for i, seg in enumerate(segments):
        decoded = unquote(seg)
        if decoded in (".", "..") or (seg == "" and i < len(segments) - 1):
            raise GatewayError(
                400,
                "Client.BadRequest",
                "path_traversal",
                "Dot segments and empty segments are not allowed in the path",
            )
        if any(ord(c) < 32 for c in decoded):
            raise GatewayError(400, "Client.BadRequest", "invalid_path", "The path is not valid")
    return segments


def _parse_ident(fn: Any, text: str) -> Any:
    try:
        return fn(text)
    except DomainError as exc:
        raise GatewayError(400, "Client.BadRequest", "invalid_identifier", exc.message, **exc.params) from exc


# ---------------------------------------------------------------- authentication of the consumer


def _claims(db: Database, rt: rt_mod.Runtime, token: str) -> dict[str, Any]:
    def load() -> Any:
        try:
            return tokens.decode(db, token)
        except DomainError as exc:
            return exc

    result = rt.tokens.get(token, load)
    if isinstance(result, DomainError):
        raise GatewayError(401, "Client.Unauthorized", result.code, result.message)
    if float(result.get("exp", 0)) < time.time():
        raise GatewayError(401, "Client.Unauthorized", "token_expired", "The access token has expired")
    return result


def _system_code(db: Database, rt: rt_mod.Runtime, system_id: str) -> tuple[str, str] | None:
    def load() -> tuple[str, str] | None:
        with db.transaction(write=False) as s:
            row = s.execute(
                select(InformationSystem.agency_code, InformationSystem.code, InformationSystem.active).where(
                    InformationSystem.id == system_id
                )
            ).one_or_none()
        return (row.agency_code, row.code) if row and row.active else None

    return rt.systems.get(("sys", system_id), load)


def _credential_revoked(db: Database, rt: rt_mod.Runtime, credential_id: str) -> bool:
    def load() -> bool:
        with db.transaction(write=False) as s:
            revoked = s.scalar(
                select(ClientCredential.revoked_at).where(ClientCredential.id == credential_id)
            )
        return revoked is not None

    return rt.systems.get(("cred", credential_id), load)


def authenticate(
    request: Request, db: Database, rt: rt_mod.Runtime, require_client: bool = True
) -> MemberId | None:
    header = request.headers.get("x-road-client")
    client = _parse_ident(parse_member, header) if header else None
    if client is None and require_client:
        raise GatewayError(
            400, "Client.BadRequest", "client_header_missing", "The X-Road-Client header is required"
        )
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GatewayError(401, "Client.Unauthorized", "unauthenticated", "A valid credential is required")
    token = token.strip()
    if client is not None and client.instance != rt.instance:
        federation.verify_hub_token(db, rt, token, client)
        request.state.from_peer = True
        return client
    claims = _claims(db, rt, token)
    if claims.get("kind") != "system" or not claims.get("system_id"):
        raise GatewayError(
            403, "Client.Forbidden", "system_required", "Only information systems may call services"
        )
    scopes = str(claims.get("scope", "")).split()
    if not {"exchange", "*", "exchange:*"} & set(scopes):
        raise GatewayError(
            403, "Client.Forbidden", "scope_required", "The token lacks the scope {scope}", scope="exchange"
        )
    if claims.get("cred") and _credential_revoked(db, rt, claims["cred"]):
        raise GatewayError(
            401, "Client.Unauthorized", "credential_revoked", "The client credential was revoked"
        )
    found = _system_code(db, rt, claims["system_id"])
    if client is None:
        return MemberId(rt.instance, "GOV", found[0], found[1]) if found else None
    if found is None or found != (client.agency, client.system):
        raise GatewayError(
            403,
            "Client.Forbidden",
            "client_mismatch",
            "The X-Road-Client header does not match the credential",
        )
    return client


# ---------------------------------------------------------------- service resolution and rights


def resolve(db: Database, rt: rt_mod.Runtime, segments: list[str]) -> Target:
    if len(segments) < 5:
        raise GatewayError(
            400,
            "Client.BadRequest",
            "invalid_identifier",
            "A service identifier has the form INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/VERSION]",
        )
    parts = [unquote(s) for s in segments[:6]]
    sid = _parse_ident(parse_service, "/".join(parts[:5]))
    if sid.member.instance != rt.instance:
        peer = federation.peer_for(db, rt, sid.member.instance)
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

    def load() -> list[Service]:
        with db.transaction(write=False) as s:
            rows = list(
                s.scalars(
                    select(Service).where(
                        Service.agency_code == sid.member.agency,
                        Service.system_code == sid.member.system,
                        Service.code == sid.code,
                        Service.state.in_(("published", "deprecated")),
                    )
                )
            )
            for r in rows:
                s.expunge(r)
        return rows

    candidates = rt.services.get((sid.member.agency, sid.member.system, sid.code), load)
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


def check_rights(
    db: Database, rt: rt_mod.Runtime, client: MemberId, service: Service, method: str, path: str
) -> None:
    def load() -> list[Any]:
        with db.transaction(write=False) as s:
            rows = access.active_grants(s, str(client), service.id)
            for r in rows:
                s.expunge(r)
        return rows

    grants = rt.grants.get((str(client), service.id), load)
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


# ---------------------------------------------------------------- the exchange


def admit(
    request: Request, db: Database, rt: rt_mod.Runtime, segments: list[str], rec: msglog.Record
) -> tuple[MemberId, Target]:
    """Authenticate the consumer, resolve the service and check the grant (one hop off the event loop)."""
    client = authenticate(request, db, rt)
    assert client is not None
    rec.client = str(client)
    target = resolve(db, rt, segments)
    rec.service = target.identifier
    rec.path = target.path
    if target.peer is None:
        service = target.service
        assert service is not None
        rec.service_pk, rec.provider_agency_code = service.id, service.agency_code
        from tinhso.exchange.catalog import operation_of

        rec.operation = operation_of(service, request.method, target.path)
        check_rights(db, rt, client, service, request.method, target.path)
    return client, target


class _BodyTooLarge(Exception):
    pass


def request_hash(method: str, target: str, client: str, message_id: str, body_sha512: bytes) -> str:
    """Binds an answer to its request: base64 SHA-512 over the request line, client, id and body hash."""
    h = hashlib.sha512()
    h.update(f"{method} {target}\n{client}\n{message_id}\n".encode())
    h.update(body_sha512)
    return base64.b64encode(h.digest()).decode()


@router.api_route("/r1/{rest:path}", methods=METHODS)
async def gateway(request: Request, rest: str) -> Response:
    start = time.perf_counter()
    db: Database = request.app.state.db
    rt = rt_mod.of(request.app)
    instance_var.set(rt.instance)
    given_id = request.headers.get("x-road-id", "")
    message_id = given_id if 0 < len(given_id) <= 100 and given_id.isprintable() else str(uuid.uuid4())
    request_id = getattr(request.state, "request_id", None)
    raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?", 1)[0]
    query = request.scope.get("query_string", b"").decode("latin-1")
    request.state.raw_target = raw_path + (f"?{query}" if query else "")
    client_hdr = request.headers.get("x-road-client", "-")[:200]
    rec = msglog.Record(
        message_id=message_id,
        request_id=request_id,
        client=client_hdr,
        service="-",
        service_pk=None,
        provider_agency_code=None,
        method=request.method,
        path=raw_path[:2000],
        operation=None,
        status=0,
        error_type=None,
        duration_ms=0.0,
        upstream_ms=None,
        request_bytes=0,
        response_bytes=0,
        request_sha256=hashlib.sha256(b"").hexdigest(),
        response_sha256=hashlib.sha256(b"").hexdigest(),
        user_id=request.headers.get("x-road-userid", "")[:200] or None,
        issue=request.headers.get("x-road-issue", "")[:500] or None,
    )
    try:
        segments = split_raw(raw_path)
        if segments and segments[0] == "listClients" and len(segments) == 1:
            from tinhso.exchange import directory

            await run_in_threadpool(authenticate, request, db, rt, False)
            return JSONResponse(await run_in_threadpool(directory.list_clients, db, rt, request.query_params))
        if len(segments) == 5 and unquote(segments[4]) in METASERVICES:
            from tinhso.exchange import directory

            caller = await run_in_threadpool(authenticate, request, db, rt, False)
            body = await run_in_threadpool(
                directory.metaservice, db, rt, caller, segments, request.query_params
            )
            return JSONResponse(body)
        client, target = await run_in_threadpool(admit, request, db, rt, segments, rec)
        if target.peer is not None:
            return await federation.forward(request, db, rt, rec, target, client, start)
        service = target.service
        assert service is not None
        wait = rt.limiter.take((str(client), service.id), service.rate_limit_per_minute)
        if wait > 0:
            retry = str(max(1, int(wait + 0.999)))
            raise GatewayError(
                429,
                "Client.RateLimited",
                "rate_limited",
                "Too many requests; try again later",
                headers={"Retry-After": retry},
            )
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > service.max_body_bytes):
            raise GatewayError(
                413, "Client.RequestTooLarge", "payload_too_large", "The request body is too large"
            )
        url = (
            service.upstream_url
            + ("/" + "/".join(target.rest) if target.rest else "")
            + (f"?{query}" if query else "")
        )
        return await exchange(request, db, rt, rec, service, url, client, start)
    except GatewayError as exc:
        rec.status, rec.error_type = exc.status, exc.type
        return await _finish_error(db, rec, exc, start, request)


async def _finish_error(
    db: Database, rec: msglog.Record, exc: GatewayError, start: float, request: Request
) -> Response:
    rec.duration_ms = (time.perf_counter() - start) * 1000
    response = error_response(exc, rec.message_id, rec.request_id)
    if getattr(request.state, "from_peer", False):
        # A refusal for a peer hub is signed over the message id (the body may not have been read).
        response.headers["X-Road-Hub-Signature"] = federation.sign_answer(
            db, f"id:{rec.message_id}", exc.status
        )
    rec.response_bytes = len(response.body)
    rec.response_sha256 = hashlib.sha256(response.body).hexdigest()
    try:
        await write_log(request, db, rec)
    except Exception:  # noqa: BLE001 - the refusal stands; say that it could not be logged
        log.exception("message log write failed")
        return error_response(
            GatewayError(
                500,
                "Server.ClientProxy.LoggingFailed",
                "message_log_failed",
                "The message log could not be written; the call was not completed",
            ),
            rec.message_id,
            rec.request_id,
        )
    metrics.observe(rec)
    return response


async def write_log(request: Request, db: Database, rec: msglog.Record) -> None:
    """Append the entry through the application's group-commit writer; raises if it was not written."""
    await asyncio.wrap_future(rt_mod.of(request.app).log_writer(db).submit(rec))


def forward_headers(request: Request, rec: msglog.Record, client: str, service_id: str) -> dict[str, str]:
    connection_named = {
        h.strip().lower() for h in request.headers.get("connection", "").split(",") if h.strip()
    }
    headers = {
        k: v
        for k, v in request.headers.items()
        if k not in DROP_REQUEST and k not in connection_named and not k.startswith("x-road-")
    }
    headers.update({"X-Road-Client": client, "X-Road-Service": service_id, "X-Road-Id": rec.message_id})
    if rec.user_id:
        headers["X-Road-UserId"] = rec.user_id
    if rec.issue:
        headers["X-Road-Issue"] = rec.issue
    if request.headers.get("content-length"):
        headers["Content-Length"] = request.headers["content-length"]
    return headers


def response_headers(upstream: httpx.Response) -> dict[str, str]:
    named = {h.strip().lower() for h in upstream.headers.get("connection", "").split(",") if h.strip()}
    out: dict[str, str] = {}
    for k, v in upstream.headers.multi_items():
        lk = k.lower()
        if lk in DROP_RESPONSE or lk in named or lk.startswith("x-road-"):
            continue
        out[k] = v
    return out


async def exchange(
    request: Request,
    db: Database,
    rt: rt_mod.Runtime,
    rec: msglog.Record,
    service: Service,
    url: str,
    client: MemberId,
    start: float,
    extra_headers: dict[str, str] | None = None,
    timeout: float | None = None,
    limit: int | None = None,
    keep_bodies: bool | None = None,
    peer_key: Any = None,
) -> Response:
    """Stream the request upstream and the answer back; log before the last byte leaves."""
    limit = service.max_body_bytes if limit is None else limit
    keep = (service.classification in ("public", "internal")) if keep_bodies is None else keep_bodies
    sha256_req, sha512_req = hashlib.sha256(), hashlib.sha512()
    kept_req = bytearray()
    seen = 0

    async def body() -> Any:
        nonlocal seen
        async for chunk in request.stream():
            if not chunk:
                continue
            seen += len(chunk)
            if seen > limit:
                raise _BodyTooLarge()
            sha256_req.update(chunk)
            sha512_req.update(chunk)
            if keep and len(kept_req) <= KEEP_BODY_MAX:
                kept_req.extend(chunk)
            yield chunk

    headers = forward_headers(request, rec, str(client), rec.service)
    if extra_headers:
        headers.update(extra_headers)
    http = rt.client()
    has_body = (
        request.method not in ("GET", "HEAD", "OPTIONS")
        or "content-length" in request.headers
        or "transfer-encoding" in request.headers
    )
    upstream_req = http.build_request(
        request.method,
        url,
        headers=headers,
        content=body() if has_body else None,
        timeout=httpx.Timeout(timeout or service.timeout_seconds),
    )
    t_up = time.perf_counter()
    try:
        upstream = await http.send(upstream_req, stream=True)
    except _BodyTooLarge:
        rec.request_bytes = seen
        raise GatewayError(
            413, "Client.RequestTooLarge", "payload_too_large", "The request body is too large"
        ) from None
    except httpx.TimeoutException:
        raise GatewayError(
            504,
            "Server.ServerProxy.ServiceTimeout",
            "provider_timeout",
            "The provider did not answer in time",
        ) from None
    except httpx.HTTPError as exc:
        log.warning("upstream failed", extra={"error": repr(exc), "service": rec.service})
        raise GatewayError(
            502,
            "Server.ServerProxy.NetworkError",
            "provider_unreachable",
            "The provider could not be reached",
        ) from None
    rec.request_bytes = seen
    rec.request_sha256 = sha256_req.hexdigest()
    rec.request_hash = request_hash(
        request.method, request.state.raw_target, str(client), rec.message_id, sha512_req.digest()
    )
    if keep and seen <= KEEP_BODY_MAX:
        rec.request_body = bytes(kept_req)
    rec.retention_days = service.body_retention_days if keep else 0
    rec.status = upstream.status_code
    if peer_key is not None:
        federation.check_peer_answer(peer_key, upstream, rec)
    out_headers = response_headers(upstream)
    out_headers.update(
        {
            "X-Road-Client": str(client),
            "X-Road-Service": rec.service,
            "X-Road-Id": rec.message_id,
            "X-Road-Request-Id": rec.request_id or rec.message_id,
            "X-Road-Request-Hash": rec.request_hash,
        }
    )
    if request.headers.get("x-road-hub-request") == "1" and getattr(request.state, "from_peer", False):
        out_headers["X-Road-Hub-Signature"] = federation.sign_answer(
            db, rec.request_hash, upstream.status_code
        )
    sha256_resp = hashlib.sha256()
    kept_resp = bytearray()
    it = upstream.aiter_raw()
    buffered: list[bytes] = []
    size = 0
    done = False
    try:
        while size <= BUFFER:
            try:
                chunk = await it.__anext__()
            except StopAsyncIteration:
                done = True
                break
            buffered.append(chunk)
            size += len(chunk)
    except httpx.TimeoutException:
        await upstream.aclose()
        raise GatewayError(
            504,
            "Server.ServerProxy.ServiceTimeout",
            "provider_timeout",
            "The provider did not answer in time",
        ) from None
    except httpx.HTTPError:
        await upstream.aclose()
        raise GatewayError(
            502,
            "Server.ServerProxy.NetworkError",
            "provider_unreachable",
            "The provider could not be reached",
        ) from None

    def account(chunk: bytes) -> None:
        sha256_resp.update(chunk)
        if keep and len(kept_resp) <= KEEP_BODY_MAX:
            kept_resp.extend(chunk)

    for c in buffered:
        account(c)
    if done:
        await upstream.aclose()
        payload = b"".join(buffered)
        rec.upstream_ms = (time.perf_counter() - t_up) * 1000
        _complete(rec, size, sha256_resp, kept_resp, keep, start)
        try:
            await write_log(request, db, rec)
        except Exception:  # noqa: BLE001 - fail closed
            log.exception("message log write failed")
            return error_response(
                GatewayError(
                    500,
                    "Server.ClientProxy.LoggingFailed",
                    "message_log_failed",
                    "The message log could not be written; the call was not completed",
                ),
                rec.message_id,
                rec.request_id,
            )
        metrics.observe(rec)
        return Response(payload, status_code=upstream.status_code, headers=out_headers)

    async def stream() -> Any:
        total = size
        held: bytes | None = b"".join(buffered)
        failed: Exception | None = None
        try:
            async for chunk in it:
                account(chunk)
                total += len(chunk)
                if held:
                    yield held
                held = chunk
        except httpx.HTTPError as exc:
            failed = exc
        finally:
            await upstream.aclose()
        rec.upstream_ms = (time.perf_counter() - t_up) * 1000
        if failed is not None:
            rec.status, rec.error_type = 502, "Server.ServerProxy.NetworkError"
        _complete(rec, total, sha256_resp, kept_resp, keep, start)
        # Fail closed: if this raises, the last bytes are never sent and the client sees a broken answer.
        await write_log(request, db, rec)
        metrics.observe(rec)
        if failed is not None:
            raise failed
        if held:
            yield held

    return StreamingResponse(stream(), status_code=upstream.status_code, headers=out_headers)


def _complete(rec: msglog.Record, size: int, sha: Any, kept: bytearray, keep: bool, start: float) -> None:
    rec.response_bytes = size
    rec.response_sha256 = sha.hexdigest()
    if keep and size <= KEEP_BODY_MAX:
        rec.response_body = bytes(kept)
    if rec.status >= 500 and rec.error_type is None:
        rec.error_type = "Server.ServerProxy.ProviderError"
    rec.duration_ms = (time.perf_counter() - start) * 1000
