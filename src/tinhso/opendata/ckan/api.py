"""The CKAN Action API transport: `/api/3/action/<name>` and `/api/action/<name>`, GET for reads, POST for
everything, CKAN's envelope and error objects. Never redirects (ckanapi does not follow redirects)."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from tinhso.kit.context import principal_var
from tinhso.kit.deps import get_db
from tinhso.kit.errors import DomainError, Forbidden, NotFound, Unauthorized
from tinhso.kit.i18n import gettext
from tinhso.opendata.ckan.actions import ACTIONS, Context
from tinhso.opendata.ckan.auth import principal_of
from tinhso.opendata.config import get_opendata_settings
from tinhso.opendata.errors import SearchQueryError, ValidationFailed
from tinhso.settings import get_settings

log = logging.getLogger("tinhso.opendata.ckan")
router = APIRouter(tags=["open data (CKAN API)"])


def _base_url(request: Request) -> str:
    return (
        get_settings().base_url.rstrip("/")
        if get_settings().environment == "production"
        else str(request.base_url).rstrip("/")
    )


def _help(request: Request, name: str) -> str:
    return f"{_base_url(request)}/api/3/action/help_show?name={name}"


def _bare(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse(message, status_code=status)


def _message(exc: DomainError, lang: str = "en") -> str:
    return gettext(exc.message, lang, **exc.params)


def ckan_error(request: Request, name: str, exc: Exception) -> JSONResponse:
    """CKAN's error object for an exception: the same `__type` strings and statuses as CKAN."""
    error: dict[str, Any]
    if isinstance(exc, ValidationFailed):
        status, error = 409, {"__type": "Validation Error", **exc.fields}
    elif isinstance(exc, SearchQueryError):
        status = 400
        detail = str(exc.params.get("detail", _message(exc)))
        error = {"__type": "Search Query Error", "message": f"Search Query is invalid: {detail}"}
    elif isinstance(exc, NotFound):
        status, error = 404, {"__type": "Not Found Error", "message": f"Not found: {_message(exc)}"}
    elif isinstance(exc, Forbidden | Unauthorized):
        status, error = 403, {"__type": "Authorization Error", "message": f"Access denied: {_message(exc)}"}
    elif isinstance(exc, DomainError):
        status, error = 409, {"__type": "Validation Error", "message": [_message(exc)]}
    else:
        log.exception("action %s failed", name)
        status, error = 500, {"__type": "Internal Server Error", "message": "Internal Server Error"}
    if isinstance(exc, DomainError):
        error["code"] = exc.code
        error["message_vi"] = _message(exc, "vi")
    return JSONResponse({"help": _help(request, name), "success": False, "error": error}, status_code=status)


async def _params(request: Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]] | JSONResponse:
    data: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        data[key] = values[0] if len(values) == 1 else values
    if request.method != "POST":
        return data, files
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        limit = get_opendata_settings().upload_max_bytes
        form = await request.form(max_part_size=limit + 1)
        for key in form:
            parts: list[Any] = list(form.getlist(key))
            for value in parts:
                if isinstance(value, UploadFile):
                    content = await value.read(limit + 1)
                    files[key] = (value.filename or "upload", content)
            plain = [v for v in parts if isinstance(v, str)]
            if plain:
                data[key] = plain[0] if len(plain) == 1 else plain
        return data, files
    body = await request.body()
    if body.strip():
        try:
            parsed = json.loads(body)
        except ValueError:
            return _bare("Bad request - JSON Error: Could not read request body as JSON")
        if not isinstance(parsed, dict):
            return _bare("Bad request - JSON Error: Request data JSON decoded to a non-dictionary")
        data.update(parsed)
    return data, files


@router.get("/api/3", include_in_schema=False)
@router.get("/api", include_in_schema=False)
def api_version() -> dict[str, int]:
    return {"version": 3}


# CKAN's own refusals (clients written for CKAN parse them): a bare string for a malformed call, else
# `{"help", "success": false, "error": {"__type", "message"}}`; the platform's limits answer its Error body.
_CKAN_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "anyOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "required": ["success", "error"],
                        "properties": {"success": {"const": False}, "error": {"type": "object"}},
                    },
                    {"$ref": "#/components/schemas/Error"},
                ]
            }
        }
    }
}
_CKAN_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad request (CKAN)", **_CKAN_ERROR},
    403: {"description": "Authorization Error (CKAN)", **_CKAN_ERROR},
    404: {"description": "Not Found Error (CKAN)", **_CKAN_ERROR},
    409: {"description": "Validation Error (CKAN)", **_CKAN_ERROR},
}


@router.api_route("/api/3/action/{name}", methods=["GET", "POST"], responses=_CKAN_RESPONSES)
@router.api_route("/api/action/{name}", methods=["GET", "POST"], include_in_schema=False)
@router.api_route("/api/3/action/{name}/", methods=["GET", "POST"], include_in_schema=False)
@router.api_route("/api/action/{name}/", methods=["GET", "POST"], include_in_schema=False)
async def call_action(name: str, request: Request) -> JSONResponse:
    """CKAN Action API (see docs/opendata.md): `{"help", "success", "result"}` or `{"…", "error": {"__type"}}`."""
    spec = ACTIONS.get(name)
    if spec is None:
        return _bare(f"Bad request - Action name not known: {name}")
    if spec.write and request.method != "POST":
        return _bare("Bad request - JSON Error: Invalid request. Please use POST method for your request")
    parsed = await _params(request)
    if isinstance(parsed, JSONResponse):
        return parsed
    data, files = parsed
    data.pop("callback", None)
    db = get_db(request)
    base = _base_url(request)

    def run() -> Any:
        with db.transaction(write=spec.write) as session:
            principal = principal_of(session, db, request)
            principal_var.set(principal)
            request.state.principal = principal
            return spec.fn(Context(session, principal, base, files), data)

    try:
        result = await run_in_threadpool(run)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a CKAN error object
        return ckan_error(request, name, exc)
    return JSONResponse({"help": _help(request, name), "success": True, "result": result})
