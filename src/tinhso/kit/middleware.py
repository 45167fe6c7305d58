"""Pure ASGI middleware: request ids, body-size limit, security headers, metrics."""

from __future__ import annotations

import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tinhso.kit.context import request_id_var
from tinhso.kit.i18n import both
from tinhso.kit.metrics import LATENCY, REQUESTS

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    # Every script and style is served from our own origin (front-end libraries are vendored at install time).
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        b"script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
        b"form-action 'self'",
    ),
]
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class RequestContextMiddleware:
    """Give every request an id (kept from X-Request-Id if sane), time it and add security headers."""

    def __init__(self, app: ASGIApp, hsts: bool = False):
        self.app = app
        self.headers = SECURITY_HEADERS + ([HSTS] if hsts else [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if 8 <= len(given) <= 64 and given.replace("-", "").isalnum() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        start = time.perf_counter()
        status = {"code": 500}

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                extra = [(b"x-request-id", rid.encode())] + self.headers
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            LATENCY.labels(scope["method"], path).observe(time.perf_counter() - start)
            REQUESTS.labels(scope["method"], path, str(status["code"])).inc()
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """Refuse bodies over the limit with 413 before the application reads them (chunked bodies too)."""

    def __init__(self, app: ASGIApp, max_bytes: int, exempt_prefixes: tuple[str, ...] = ()):
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _too_large(scope, send)
            return
        seen = 0
        too_large = False

        async def _receive() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_large = True
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, _receive, send)
        except _TooLarge:
            await _too_large(scope, send)


class _TooLarge(Exception):
    pass


async def _too_large(scope: Scope, send: Send) -> None:
    await send_error(scope, send, 413, "payload_too_large", "The request body is too large")


async def send_error(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer with the platform's typed error body straight from ASGI middleware (before any route runs)."""
    import json

    body: dict[str, Any] = {
        "status": status,
        "code": code,
        "message": both(message),
        "request_id": scope.get("state", {}).get("request_id"),
    }
    raw = json.dumps(body, ensure_ascii=False).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": raw})


NUL_MESSAGE = "Text must not contain the NUL character (U+0000)"


class RefuseNulMiddleware:
    """Refuse text input carrying the NUL character (U+0000) with 422 `nul_character`: PostgreSQL stores it in
    neither text nor JSONB, and no field of the platform needs it. Checks the path, the query string and JSON or
    form bodies (files and other binary bodies are left alone); a body is read only when it may hold one."""

    def __init__(self, app: ASGIApp, exempt_prefixes: tuple[str, ...] = ()):
        self.app = app
        self.exempt = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
            await send_error(scope, send, 422, "nul_character", NUL_MESSAGE)
            return
        ctype = dict(scope.get("headers") or []).get(b"content-type", b"").split(b";")[0].strip().lower()
        is_json = ctype == b"application/json" or ctype.endswith(b"+json")
        if not (is_json or ctype == b"application/x-www-form-urlencoded"):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _carries_nul(body, is_json):
            await send_error(scope, send, 422, "nul_character", NUL_MESSAGE)
            return
        replayed = False

        async def _replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, _replay, send)


def _carries_nul(body: bytes, is_json: bool) -> bool:
    if b"\x00" in body:
        return True
    if not is_json:
        return b"%00" in body
    if b"\\u0000" not in body:
        return False
    import json

    try:
        value = json.loads(body)
    except ValueError:
        return False  # the application answers invalid JSON itself
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class PrefixAppsMiddleware:
    """Serve some path prefixes with plain ASGI apps ahead of routing (a module's hot data path, such as the
    exchange gateway's `/r1/`): they skip routing and dependency resolution and do their own authentication,
    limits and errors. Every other request goes on to the application."""

    def __init__(self, app: ASGIApp, apps: dict[str, ASGIApp]):
        self.app = app
        self.apps = tuple(apps.items())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            for prefix, target in self.apps:
                if path.startswith(prefix):
                    await target(scope, receive, send)
                    return
        await self.app(scope, receive, send)
