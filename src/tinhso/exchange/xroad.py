"""X-Road REST message protocol pieces shared by the gateway's parts: X-Road style errors, the checks of the
raw request path, the request hash that binds an answer to its request, and the header rules."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import unquote

from tinhso.kit.errors import DomainError
from tinhso.kit.i18n import both

MAX_URI = 2000
HOP_BY_HOP = frozenset(
    {
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
)
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


class GatewayError(Exception):
    """An X-Road style refusal: `type` says where it failed (Client.*, Server.ClientProxy.*, …)."""

    def __init__(
        self,
        status: int,
        type_: str,
        code: str,
        message: str,
        /,
        headers: dict[str, str] | None = None,
        **params: Any,
    ):
        super().__init__(message)
        self.status, self.type, self.code, self.message, self.params = status, type_, code, message, params
        self.headers = headers or {}


def logging_failed() -> GatewayError:
    return GatewayError(
        500,
        "Server.ClientProxy.LoggingFailed",
        "message_log_failed",
        "The message log could not be written; the call was not completed",
    )


def error_body(exc: GatewayError, message_id: str, request_id: str | None) -> bytes:
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
    return json.dumps(body, ensure_ascii=False).encode()


def error_headers(exc: GatewayError, message_id: str, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "content-length": str(len(body)),
        "X-Road-Error": exc.type,
        "X-Road-Id": message_id,
    } | exc.headers


def split_raw(raw_path: str) -> list[str]:
    """Validate the raw request path and split what follows /r1/ into raw (still encoded) segments."""
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
    segments = raw_path[len("/r1/") :].split("/")
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        decoded = unquote(seg) if "%" in seg else seg
        if decoded in (".", "..") or (seg == "" and i < last):
            raise GatewayError(
                400,
                "Client.BadRequest",
                "path_traversal",
                "Dot segments and empty segments are not allowed in the path",
            )
        if not decoded.isprintable() and any(ord(c) < 32 for c in decoded):
            raise GatewayError(400, "Client.BadRequest", "invalid_path", "The path is not valid")
    return segments


def parse_ident(fn: Any, text: str) -> Any:
    try:
        return fn(text)
    except DomainError as exc:
        raise GatewayError(400, "Client.BadRequest", "invalid_identifier", exc.message, **exc.params) from exc


def request_hash(method: str, target: str, client: str, message_id: str, body_sha512: bytes) -> str:
    """Binds an answer to its request: base64 SHA-512 over the request line, client, id and body hash."""
    h = hashlib.sha512()
    h.update(f"{method} {target}\n{client}\n{message_id}\n".encode())
    h.update(body_sha512)
    return base64.b64encode(h.digest()).decode()


class Call:
    """One request to the gateway, as the parts of the gateway see it."""

    __slots__ = (
        "scope",
        "receive",
        "send",
        "app",
        "db",
        "rt",
        "method",
        "raw_path",
        "query",
        "headers",
        "message_id",
        "request_id",
        "rec",
        "start",
        "from_peer",
        "stamp",
        "claims",
    )

    def __init__(self, scope: dict[str, Any], receive: Any, send: Any, rt: Any, start: float):
        self.scope, self.receive, self.send, self.rt, self.start = scope, receive, send, rt, start
        self.app = scope["app"]
        self.db = self.app.state.db
        self.method: str = scope["method"]
        raw = scope.get("raw_path") or scope["path"].encode()
        self.raw_path: str = raw.decode("latin-1").split("?", 1)[0]
        self.query: str = scope.get("query_string", b"").decode("latin-1")
        self.headers: dict[str, str] = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.request_id: str | None = (scope.get("state") or {}).get("request_id")
        self.from_peer = False
        self.stamp: str | None = None
        self.claims: dict[str, Any] | None = None  # the verified token of a local system
        self.message_id: str = ""
        self.rec: Any = None  # the message-log record (msglog.Record) of this call

    @property
    def raw_target(self) -> str:
        return self.raw_path + (f"?{self.query}" if self.query else "")
