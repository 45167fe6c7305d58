"""The service catalog: registration with a validated OpenAPI 3 document, lifecycle, search, visibility."""

from __future__ import annotations

import functools
import re
from typing import Any

from openapi_spec_validator import validate as validate_openapi
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from tinhso.exchange.ids import RESERVED_CODES, local_member
from tinhso.exchange.models import Service
from tinhso.exchange.schemas import LifecycleChange, Operation, ServiceCreate, ServiceRead, ServiceUpdate
from tinhso.identity import repository as identity_repo
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from tinhso.kit.text import fold

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
VISIBLE_STATES = ("published", "deprecated")
# Which lifecycle moves are allowed (a retired service never comes back: register a new version).
TRANSITIONS = {
    "draft": {"published", "retired"},
    "published": {"deprecated", "retired"},
    "deprecated": {"published", "retired"},
    "retired": set(),
}


def identifier(service: Service) -> str:
    return f"{local_member(service.agency_code, service.system_code)}/{service.code}/{service.version}"


def check_openapi(doc: dict[str, Any] | None) -> None:
    """Refuse anything but a valid OpenAPI 3.x document."""
    if doc is None:
        return
    version = str(doc.get("openapi", ""))
    if not version.startswith("3."):
        raise Unprocessable("openapi_version", "Only OpenAPI 3 documents are accepted")
    try:
        validate_openapi(doc)
    except Exception as exc:  # noqa: BLE001 - the validator raises several types; all mean "invalid"
        first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise Unprocessable(
            "openapi_invalid", "The OpenAPI document is not valid: {error}", error=first
        ) from exc


_OPS_CACHE: dict[tuple[str | None, Any], list[Operation]] = {}


def operations(service: Service) -> list[Operation]:
    """The operations of the service's OpenAPI document (cached per service version of the row)."""
    key = (service.id, service.updated_at)
    if service.id is not None and key in _OPS_CACHE:
        return _OPS_CACHE[key]
    ops = _operations(service.openapi)
    if service.id is not None:
        if len(_OPS_CACHE) > 5000:
            _OPS_CACHE.clear()
        _OPS_CACHE[key] = ops
    return ops


def _operations(openapi: dict[str, Any] | None) -> list[Operation]:
    doc = openapi or {}
    ops = []
    for path, item in sorted((doc.get("paths") or {}).items()):
        if not isinstance(item, dict):
            continue
        for method in HTTP_METHODS:
            if method in item:
                ops.append(Operation(method=method.upper(), path=path))
    return ops


def is_owner(principal: Principal | None, service: Service) -> bool:
    if principal is None:
        return False
    if principal.is_platform_admin:
        return True
    if principal.agency_code != service.agency_code:
        return False
    if principal.is_system:
        return principal.system_id == service.system_id and principal.has_scope("exchange")
    return "agency_admin" in principal.roles


def to_read(service: Service, principal: Principal | None) -> ServiceRead:
    data = {c: getattr(service, c) for c in ServiceRead.model_fields if hasattr(service, c)}
    data["identifier"] = identifier(service)
    data["operations"] = operations(service)
    data["upstream_url"] = service.upstream_url if is_owner(principal, service) else None
    return ServiceRead(**data)


def _search_text(service: Service) -> str:
    parts = [service.title_vi, service.title_en, service.description, service.code, identifier(service)]
    return " ".join(fold(p) for p in parts if p)


def catalog_statement(
    principal: Principal | None,
    q: str | None = None,
    agency_code: str | None = None,
    classification: str | None = None,
    state: str | None = None,
) -> Select[Any]:
    """Published and deprecated services for everyone (secret ones only to signed-in callers), plus the
    caller's own agency's services in any state."""
    stmt = select(Service).order_by(Service.agency_code, Service.system_code, Service.code, Service.version)
    visible: Any = Service.state.in_(VISIBLE_STATES)
    if principal is None:
        visible = visible & (Service.classification != "secret")
    if principal is None or not principal.is_platform_admin:
        own = Service.agency_code == principal.agency_code if principal and principal.agency_code else None
        stmt = stmt.where(or_(visible, own) if own is not None else visible)
    if agency_code:
        stmt = stmt.where(Service.agency_code == agency_code)
    if classification:
        stmt = stmt.where(Service.classification == classification)
    if state:
        stmt = stmt.where(Service.state == state)
    for word in fold(q or "").split():
        stmt = stmt.where(Service.search_text.contains(word, autoescape=True))
    return stmt


def get_visible(session: Session, principal: Principal | None, service_id: str) -> Service:
    service = session.get(Service, service_id)
    if service is None or not (
        is_owner(principal, service)
        or (principal is not None and principal.agency_code == service.agency_code)
        or (service.state in VISIBLE_STATES and (principal is not None or service.classification != "secret"))
    ):
        raise NotFound("service_not_found", "Service {id} not found", id=service_id)
    return service


def get_owned(session: Session, principal: Principal, service_id: str) -> Service:
    service = get_visible(session, principal, service_id)
    if not is_owner(principal, service):
        raise Forbidden("not_service_owner", "Only the provider agency's administrator can do this")
    return service


def register(session: Session, principal: Principal, data: ServiceCreate) -> Service:
    agency = data.agency_code if (data.agency_code and principal.is_platform_admin) else principal.agency_code
    if not agency:
        raise BadRequest("agency_required", "An agency code is required")
    if data.agency_code and data.agency_code != agency:
        raise Forbidden("not_service_owner", "Only the provider agency's administrator can do this")
    system = identity_repo.get_system_by_code(session, agency, data.system_code)
    if system is None:
        raise NotFound("system_not_found", "Information system {code} not found", code=data.system_code)
    probe = Service(agency_code=agency, system_code=system.code, system_id=system.id)
    if not is_owner(principal, probe):
        raise Forbidden("not_service_owner", "Only the provider agency's administrator can do this")
    check_openapi(data.openapi)
    if data.code in RESERVED_CODES:
        raise Unprocessable("reserved_code", "The service code {code} is reserved", code=data.code)
    exists = session.scalar(
        select(Service.id).where(
            Service.agency_code == agency,
            Service.system_code == system.code,
            Service.code == data.code,
            Service.version == data.version,
        )
    )
    if exists:
        raise Conflict(
            "service_exists", "Service {code} {version} already exists", code=data.code, version=data.version
        )
    values = data.model_dump(exclude={"agency_code", "system_code"})
    values["upstream_url"] = str(data.upstream_url).rstrip("/")
    service = Service(agency_code=agency, system_code=system.code, system_id=system.id, **values)
    service.search_text = _search_text(service)
    session.add(service)
    session.flush()
    audit.record(
        session,
        "exchange.service.create",
        object_type="exchange_service",
        object_id=service.id,
        detail={"identifier": identifier(service)},
    )
    return service


def update(session: Session, principal: Principal, service_id: str, data: ServiceUpdate) -> Service:
    service = get_owned(session, principal, service_id)
    changes = data.model_dump(exclude_unset=True)
    if "openapi" in changes:
        check_openapi(changes["openapi"])
    if changes.get("upstream_url") is not None:
        changes["upstream_url"] = str(changes["upstream_url"]).rstrip("/")
    for name, value in changes.items():
        if value is None and name in (
            "title_vi",
            "upstream_url",
            "classification",
            "timeout_seconds",
            "max_body_bytes",
            "rate_limit_per_minute",
            "body_retention_days",
        ):
            continue
        setattr(service, name, value)
    service.search_text = _search_text(service)
    session.flush()
    audit.record(
        session,
        "exchange.service.update",
        object_type="exchange_service",
        object_id=service.id,
        detail={"fields": sorted(changes)},
    )
    return service


def change_state(session: Session, principal: Principal, service_id: str, data: LifecycleChange) -> Service:
    service = get_owned(session, principal, service_id)
    if data.state == service.state:
        return service
    if data.state not in TRANSITIONS[service.state]:
        raise Conflict(
            "invalid_transition", "A {old} service cannot become {new}", old=service.state, new=data.state
        )
    if data.state == "published" and not service.openapi:
        raise Unprocessable("openapi_required", "A service needs an OpenAPI document before it is published")
    old, service.state = service.state, data.state
    session.flush()
    audit.record(
        session,
        "exchange.service.lifecycle",
        object_type="exchange_service",
        object_id=service.id,
        detail={"from": old, "to": data.state},
    )
    return service


_SEGMENT = re.compile(r"\{[^/{}]+\}")


@functools.lru_cache(maxsize=4096)
def template_regex(template: str) -> re.Pattern[str]:
    """'/citizens/{id}' → one segment per {param}; '*' one segment; '**' any remainder."""
    if template == "**":
        return re.compile(r"^/.*$|^$")
    out = []
    for part in template.split("/"):
        if part == "**":
            out.append(".*")
        elif part == "*" or _SEGMENT.fullmatch(part):
            out.append("[^/]+")
        else:
            out.append(re.escape(part))
    return re.compile("^" + "/".join(out) + "$")


def operation_of(service: Service, method: str, path: str) -> str | None:
    """The OpenAPI operation (METHOD /template) a concrete call matches, if any."""
    for op in operations(service):
        if op.method == method and template_regex(op.path).match(path):
            return f"{op.method} {op.path}"
    return None
