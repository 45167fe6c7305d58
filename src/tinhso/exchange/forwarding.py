"""Forwarding: the request streams to the provider's upstream (or a peer hub) over a pooled connection, the
answer streams back, and the message-log entry is written before the last bytes leave.

Answers up to `BUFFER` are read whole, logged, then sent (if the log fails the client gets `500
LoggingFailed` instead). Larger answers stream with their last chunk held back until the entry is written;
if that fails the connection is aborted, so no client receives a complete answer that was not logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

import aiohttp
from multidict import CIMultiDict

from tinhso.exchange import federation, metrics, msglog
from tinhso.exchange.ids import MemberId
from tinhso.exchange.models import Service
from tinhso.exchange.xroad import (
    DROP_REQUEST,
    DROP_RESPONSE,
    Call,
    GatewayError,
    logging_failed,
    request_hash,
)

log = logging.getLogger("tinhso.exchange.gateway")

BUFFER = 64 * 1024  # answers up to this size are buffered whole; bigger ones stream
KEEP_BODY_MAX = 64 * 1024  # bodies kept in the message log (non-personal services) up to this size
_TIMEOUTS: dict[float, aiohttp.ClientTimeout] = {}


class _BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The consumer went away while its request body was being read."""


def timeout_for(seconds: float) -> aiohttp.ClientTimeout:
    """Connect and read timeouts (between chunks) of `seconds`; no cap on a long, steady answer."""
    t = _TIMEOUTS.get(seconds)
    if t is None:
        t = _TIMEOUTS[seconds] = aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)
    return t


def timed_out(message: str = "The provider did not answer in time") -> GatewayError:
    return GatewayError(504, "Server.ServerProxy.ServiceTimeout", "provider_timeout", message)


def unreachable() -> GatewayError:
    return GatewayError(
        502, "Server.ServerProxy.NetworkError", "provider_unreachable", "The provider could not be reached"
    )


def upstream_headers(call: Call, client: str) -> CIMultiDict[str]:
    """The consumer's headers minus hop-by-hop ones (and those named in Connection), credentials, cookies
    and any X-Road-* it sent; the hub's own X-Road-* headers added."""
    named = {h.strip().lower() for h in call.headers.get("connection", "").split(",") if h.strip()}
    out: CIMultiDict[str] = CIMultiDict()
    for k, v in call.scope["headers"]:
        name = k.decode("latin-1")
        if name in DROP_REQUEST or name in named or name.startswith(("x-road-", "x-govstack-")):
            continue
        out.add(name, v.decode("latin-1"))
    rec = call.rec
    out["X-Road-Client"] = client
    out["X-Road-Service"] = rec.service
    out["X-Road-Id"] = rec.message_id
    if rec.user_id:
        out["X-Road-UserId"] = rec.user_id
    if rec.issue:
        out["X-Road-Issue"] = rec.issue
    if "content-length" in call.headers:
        out["Content-Length"] = call.headers["content-length"]
    return out


def answer_headers(upstream: aiohttp.ClientResponse) -> list[tuple[bytes, bytes]]:
    raw = upstream.raw_headers
    named = {h.strip().lower() for h in upstream.headers.get("connection", "").split(",") if h.strip()}
    out = []
    for k, v in raw:
        name = k.decode("latin-1").lower()
        if name in DROP_RESPONSE or name in named or name.startswith("x-road-"):
            continue
        out.append((name.encode("latin-1"), v))
    return out


async def write_log(call: Call, rec: msglog.Record) -> None:
    """Append the entry through the application's group-commit writer; raises if it was not written."""
    await call.rt.log_writer(call.db).submit(rec)


async def forward(
    call: Call,
    service: Service,
    url: str,
    client: MemberId,
    extra_headers: dict[str, str] | None = None,
    timeout: float | None = None,
    limit: int | None = None,
    keep_bodies: bool | None = None,
    peer_key: Any = None,
) -> None:
    """Send the call upstream and its answer back; raises GatewayError only before anything was sent."""
    rec = call.rec
    limit = service.max_body_bytes if limit is None else limit
    keep = (service.classification in ("public", "internal")) if keep_bodies is None else keep_bodies
    sha256_req, sha512_req = hashlib.sha256(), hashlib.sha512()
    kept_req = bytearray()
    seen = 0
    too_large = False

    def account_request(chunk: bytes) -> None:
        nonlocal seen, too_large
        seen += len(chunk)
        if seen > limit:
            too_large = True
            raise _BodyTooLarge()
        sha256_req.update(chunk)
        sha512_req.update(chunk)
        if keep and len(kept_req) <= KEEP_BODY_MAX:
            kept_req.extend(chunk)

    async def stream_body() -> Any:
        while True:
            msg = await call.receive()
            if msg["type"] == "http.disconnect":
                raise ClientGone()
            chunk = msg.get("body", b"")
            if chunk:
                account_request(chunk)
                yield chunk
            if not msg.get("more_body"):
                return

    async def read_whole() -> bytes:
        return b"".join([chunk async for chunk in stream_body()])

    headers = upstream_headers(call, str(client))
    if extra_headers:
        headers.update(extra_headers)
    length = call.headers.get("content-length")
    data: Any = None
    try:
        if length is not None and int(length) <= BUFFER:
            data = await read_whole()  # small bodies: one write upstream
        elif length is not None or "transfer-encoding" in call.headers:
            data = stream_body()
        elif call.method not in ("GET", "HEAD", "OPTIONS", "DELETE"):
            data = await read_whole()
    except _BodyTooLarge:
        rec.request_bytes = seen
        raise GatewayError(
            413, "Client.RequestTooLarge", "payload_too_large", "The request body is too large"
        ) from None
    http = call.rt.client()
    t_up = time.perf_counter()
    try:
        upstream = await http.request(
            call.method,
            url,
            headers=headers,
            data=data,
            allow_redirects=False,
            timeout=timeout_for(timeout or service.timeout_seconds),
        )
    except Exception as exc:  # noqa: BLE001 - mapped to the X-Road fault it means
        if too_large:
            rec.request_bytes = seen
            raise GatewayError(
                413, "Client.RequestTooLarge", "payload_too_large", "The request body is too large"
            ) from None
        if isinstance(exc, asyncio.TimeoutError):
            raise timed_out() from None
        if isinstance(exc, aiohttp.ClientError | OSError | ClientGone):
            log.warning("upstream failed", extra={"error": repr(exc), "service": rec.service})
            raise unreachable() from None
        raise
    rec.request_bytes = seen
    rec.request_sha256 = sha256_req.hexdigest()
    rec.request_hash = request_hash(
        call.method, call.raw_target, str(client), rec.message_id, sha512_req.digest()
    )
    if keep and seen <= KEEP_BODY_MAX:
        rec.request_body = bytes(kept_req)
    rec.retention_days = service.body_retention_days if keep else 0
    rec.status = upstream.status
    try:
        if peer_key is not None:
            federation.check_peer_answer(peer_key, upstream.headers, upstream.status, rec)
        await _answer(call, upstream, client, keep, t_up)
    finally:
        upstream.release()


async def _answer(
    call: Call, upstream: aiohttp.ClientResponse, client: MemberId, keep: bool, t_up: float
) -> None:
    rec = call.rec
    out = answer_headers(upstream)
    out += [
        (b"x-road-client", str(client).encode()),
        (b"x-road-service", rec.service.encode()),
        (b"x-road-id", rec.message_id.encode()),
        (b"x-road-request-id", (rec.request_id or rec.message_id).encode()),
        (b"x-road-request-hash", (rec.request_hash or "").encode()),
    ]
    if call.from_peer and call.headers.get("x-road-hub-request") == "1":
        signature = federation.sign_answer(call.db, rec.request_hash or "", upstream.status)
        out.append((b"x-road-hub-signature", signature.encode()))
    sha256_resp = hashlib.sha256()
    kept_resp = bytearray()
    content = upstream.content
    buffered: list[bytes] = []
    size = 0
    done = False
    try:
        while size <= BUFFER:
            chunk = await content.readany()
            if not chunk:
                done = True
                break
            buffered.append(chunk)
            size += len(chunk)
    except TimeoutError:
        raise timed_out() from None
    except aiohttp.ClientError:
        raise unreachable() from None

    def account(chunk: bytes) -> None:
        sha256_resp.update(chunk)
        if keep and len(kept_resp) <= KEEP_BODY_MAX:
            kept_resp.extend(chunk)

    for c in buffered:
        account(c)
    send = call.send
    if done:
        payload = b"".join(buffered)
        rec.upstream_ms = (time.perf_counter() - t_up) * 1000
        _complete(call, size, sha256_resp, kept_resp, keep)
        try:
            await write_log(call, rec)
        except Exception:  # noqa: BLE001 - fail closed
            log.exception("message log write failed")
            raise logging_failed() from None
        metrics.observe(rec)
        if call.method == "HEAD" and "content-length" in upstream.headers:
            out.append((b"content-length", upstream.headers["content-length"].encode()))
        else:
            out.append((b"content-length", str(size).encode()))
        await send({"type": "http.response.start", "status": upstream.status, "headers": out})
        await send({"type": "http.response.body", "body": payload})
        return

    await send({"type": "http.response.start", "status": upstream.status, "headers": out})
    total = size
    held = b"".join(buffered)
    failed: Exception | None = None
    try:
        while True:
            chunk = await content.readany()
            if not chunk:
                break
            account(chunk)
            total += len(chunk)
            if held:
                await send({"type": "http.response.body", "body": held, "more_body": True})
            held = chunk
    except (TimeoutError, aiohttp.ClientError) as exc:
        failed = exc
    rec.upstream_ms = (time.perf_counter() - t_up) * 1000
    if failed is not None:
        rec.status, rec.error_type = 502, "Server.ServerProxy.NetworkError"
    _complete(call, total, sha256_resp, kept_resp, keep)
    # Fail closed: if this raises, the last bytes are never sent and the client sees a broken answer.
    await write_log(call, rec)
    metrics.observe(rec)
    if failed is not None:
        raise failed
    await send({"type": "http.response.body", "body": held})


def _complete(call: Call, size: int, sha: Any, kept: bytearray, keep: bool) -> None:
    rec = call.rec
    rec.response_bytes = size
    rec.response_sha256 = sha.hexdigest()
    if keep and size <= KEEP_BODY_MAX:
        rec.response_body = bytes(kept)
    if rec.status >= 500 and rec.error_type is None:
        rec.error_type = "Server.ServerProxy.ProviderError"
    rec.duration_ms = (time.perf_counter() - call.start) * 1000
