"""Typed errors: every refusal has a status, a stable code and a message in Vietnamese and English."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from tinhso.kit.i18n import both

log = logging.getLogger("tinhso.errors")


class DomainError(Exception):
    """A refusal the caller can act on; `message` is an English msgid translated through the catalogs."""

    status = 400
    code = "bad_request"
    message = "The request cannot be processed"

    def __init__(self, code: str | None = None, message: str | None = None, /, **params: Any):
        self.code = code or self.code
        self.message = message or self.message
        self.params = params
        super().__init__(f"{self.code}: {self.message.format(**params) if params else self.message}")

    def body(self, request_id: str | None) -> dict[str, Any]:
        return {
            "status": self.status,
            "code": self.code,
            "message": both(self.message, **self.params),
            "request_id": request_id,
        }


class BadRequest(DomainError):
    status = 400


class Unauthorized(DomainError):
    status = 401
    code = "unauthenticated"
    message = "A valid credential is required"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    message = "You are not allowed to do this"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    message = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    message = "The resource was changed by someone else"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"
    message = "The request body is too large"


class Unprocessable(DomainError):
    status = 422
    code = "validation_error"
    message = "The data is not valid"


class TooManyRequests(DomainError):
    status = 429
    code = "rate_limited"
    message = "Too many requests; try again later"


class ServiceUnavailable(DomainError):
    status = 503
    code = "unavailable"
    message = "The service is temporarily unavailable"


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def error_response(status: int, code: str, message: str, request: Request, **extra: Any) -> JSONResponse:
    body = {"status": status, "code": code, "message": both(message), "request_id": request_id_of(request)}
    body.update(extra)
    return JSONResponse(body, status_code=status)


_HTTP_CODES = {
    401: ("unauthenticated", "A valid credential is required"),
    403: ("forbidden", "You are not allowed to do this"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "This method is not allowed here"),
    413: ("payload_too_large", "The request body is too large"),
    415: ("unsupported_media_type", "Unsupported content type"),
}


ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "description": "Every refusal: HTTP status, stable code, message in Vietnamese and English.",
    "required": ["status", "code", "message", "request_id"],
    "properties": {
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "message": {
            "type": "object",
            "required": ["vi", "en"],
            "properties": {"vi": {"type": "string"}, "en": {"type": "string"}},
        },
        "request_id": {"type": ["string", "null"]},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
# The refusals any operation may answer (credential, agency isolation, missing object, stale write, body and
# rate limits, invalid data); documented once here instead of on every route.
DOCUMENTED_ERRORS = {
    "400": "Bad request",
    "401": "A valid credential is required",
    "403": "Not allowed",
    "404": "Not found",
    "409": "Conflict",
    "413": "Request body too large",
    "422": "Invalid data",
    "429": "Too many requests (see Retry-After)",
}


def document_errors(schema: dict[str, Any]) -> None:
    """Add the shared Error body to every operation of an OpenAPI document, for each refusal status."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, description in DOCUMENTED_ERRORS.items():
                current = responses.get(status)
                # FastAPI's own 422 body ({"detail": [...]}) is not what the platform answers.
                if current is None or "HTTPValidationError" in str(current.get("content", "")):
                    responses[status] = {"description": description, "content": content}
    components = schema["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)


def install_error_handlers(app: FastAPI) -> None:
    """Turn every error into the platform's typed JSON error body."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        return JSONResponse(exc.body(request_id_of(request)), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()
        ]
        return error_response(422, "validation_error", "The data is not valid", request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = _HTTP_CODES.get(exc.status_code, ("http_error", "The request cannot be processed"))
        return JSONResponse(
            {
                "status": exc.status_code,
                "code": code,
                "message": both(message),
                "request_id": request_id_of(request),
            },
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(sa_exc.TimeoutError)
    async def _pool_exhausted(request: Request, exc: sa_exc.TimeoutError) -> JSONResponse:
        # Every pooled connection is busy (overload): tell the caller to come back rather than a bare 500.
        log.warning("database connection pool exhausted", extra={"request_id": request_id_of(request)})
        response = error_response(503, "database_busy", "The service is busy; try again shortly", request)
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(sa_exc.OperationalError)
    async def _database_unavailable(request: Request, exc: sa_exc.OperationalError) -> JSONResponse:
        # The database is restarting, unreachable or locked for longer than the busy timeout.
        log.warning("database unavailable: %s", exc.orig, extra={"request_id": request_id_of(request)})
        response = error_response(
            503, "database_unavailable", "The service is temporarily unavailable; try again shortly", request
        )
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"request_id": request_id_of(request)})
        return error_response(500, "internal_error", "An unexpected error occurred", request)
