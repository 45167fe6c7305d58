"""The gateway: `/r1/{serviceId}/{path}` following X-Road's REST message protocol.

Served as a plain ASGI app ahead of the platform's routing (plugin hook `asgi_apps`): the consumer names
itself in `X-Road-Client` and proves it with its bearer token (`admission`); the hub resolves the service,
checks the grant for this operation and the rate limit, streams the request to the provider's upstream or
to a federated hub and the answer back (`forwarding`), and writes one signed message-log entry per call,
refusals included (`msglog`). Under the same prefix: the directory services (`directory`) and the GovStack
Information Mediator pub/sub paths (`govstack`).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

from starlette.datastructures import QueryParams

from tinhso.exchange import admission, federation, forwarding, metrics, msglog
from tinhso.exchange import runtime as rt_mod
from tinhso.exchange.ids import METASERVICES, instance_var
from tinhso.exchange.xroad import (
    Call,
    GatewayError,
    error_body,
    error_headers,
    logging_failed,
    split_raw,
)

log = logging.getLogger("tinhso.exchange.gateway")
ROUTE = SimpleNamespace(path="/r1/{path}")  # the label of the platform's request metrics
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI entry for every request under /r1/."""
    start = time.perf_counter()
    scope["route"] = ROUTE
    rt = rt_mod.of(scope["app"])
    instance_var.set(rt.instance)
    started = False

    async def tracked(message: dict[str, Any]) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    call = Call(scope, receive, tracked, rt, start)
    headers = call.headers
    given_id = headers.get("x-road-id", "")
    call.message_id = given_id if 0 < len(given_id) <= 100 and given_id.isprintable() else str(uuid.uuid4())
    call.rec = msglog.Record(
        message_id=call.message_id,
        request_id=call.request_id,
        client=headers.get("x-road-client", "-")[:200],
        service="-",
        service_pk=None,
        provider_agency_code=None,
        method=call.method,
        path=call.raw_path[:2000],
        operation=None,
        status=0,
        error_type=None,
        duration_ms=0.0,
        upstream_ms=None,
        request_bytes=0,
        response_bytes=0,
        request_sha256=EMPTY_SHA256,
        response_sha256=EMPTY_SHA256,
        user_id=headers.get("x-road-userid", "")[:200] or None,
        issue=headers.get("x-road-issue", "")[:500] or None,
    )
    try:
        await handle(call)
    except GatewayError as exc:
        await refuse(call, exc)
    except Exception:
        if started:
            raise  # the answer is under way: the connection is aborted, the client sees it incomplete
        log.exception("gateway failure")
        await refuse(call, INTERNAL)


INTERNAL = GatewayError(
    500, "Server.ClientProxy.InternalError", "internal_error", "The hub could not complete the call"
)


async def _json(call: Call, body: Any, status: int = 200) -> None:
    import json

    raw = json.dumps(body, ensure_ascii=False, default=str).encode()
    await call.send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())],
        }
    )
    await call.send({"type": "http.response.body", "body": raw})


async def handle(call: Call) -> None:
    segments = split_raw(call.raw_path)
    length = call.headers.get("content-length")
    if length is not None and not length.isdigit():
        raise GatewayError(
            400, "Client.BadRequest", "invalid_length", "The Content-Length header is not valid"
        )
    n = len(segments)
    if n == 1 and segments[0] == "listClients":
        from tinhso.exchange import directory

        await admission.authenticate(call, require_client=False)
        params = QueryParams(call.query)
        await _json(call, await admission.in_thread(directory.list_clients, call.db, call.rt, params))
        return
    if n == 5 and unquote(segments[4]) in METASERVICES:
        from tinhso.exchange import directory

        caller = await admission.authenticate(call, require_client=False)
        params = QueryParams(call.query)
        body = await admission.in_thread(directory.metaservice, call.db, call.rt, caller, segments, params)
        await _json(call, body)
        return
    if n >= 6 and segments[4] in ("pub", "pull", "api") and segments[5] == "v1":
        from tinhso.exchange import govstack

        await govstack.handle(call, segments)
        return
    client, target = await admission.admit(call, segments)
    if target.peer is not None:
        await federation.forward(call, target, client)
        return
    service = target.service
    assert service is not None
    wait = call.rt.limiter.take((str(client), service.id), service.rate_limit_per_minute)
    if wait > 0:
        raise GatewayError(
            429,
            "Client.RateLimited",
            "rate_limited",
            "Too many requests; try again later",
            headers={"Retry-After": str(max(1, int(wait + 0.999)))},
        )
    if length is not None and int(length) > service.max_body_bytes:
        raise GatewayError(
            413, "Client.RequestTooLarge", "payload_too_large", "The request body is too large"
        )
    url = (
        service.upstream_url
        + ("/" + "/".join(target.rest) if target.rest else "")
        + (f"?{call.query}" if call.query else "")
    )
    await forwarding.forward(call, service, url, client)


async def refuse(call: Call, exc: GatewayError) -> None:
    """Answer an X-Road style error, logged like any exchange (unless the log itself failed)."""
    rec = call.rec
    rec.status, rec.error_type = exc.status, exc.type
    rec.duration_ms = (time.perf_counter() - call.start) * 1000
    body = error_body(exc, rec.message_id, rec.request_id)
    headers = error_headers(exc, rec.message_id, body)
    if call.from_peer:
        # A refusal for a peer hub is signed over the message id (the body may not have been read).
        headers["X-Road-Hub-Signature"] = federation.sign_answer(call.db, f"id:{rec.message_id}", exc.status)
    rec.response_bytes = len(body)
    rec.response_sha256 = hashlib.sha256(body).hexdigest()
    if exc.code != "message_log_failed":
        try:
            await forwarding.write_log(call, rec)
        except Exception:  # noqa: BLE001 - the refusal stands; say that it could not be logged
            log.exception("message log write failed")
            exc = logging_failed()
            body = error_body(exc, rec.message_id, rec.request_id)
            headers = error_headers(exc, rec.message_id, body)
        else:
            metrics.observe(rec)
    await call.send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        }
    )
    await call.send({"type": "http.response.body", "body": body})
