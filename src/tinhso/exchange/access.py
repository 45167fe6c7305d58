"""Access rights: requests with purpose, legal basis and validity; owner decisions; grants per operation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from tinhso.exchange import catalog
from tinhso.exchange.ids import local_instance, parse_member
from tinhso.exchange.models import AccessRequest, Grant, Service, bump_stamp
from tinhso.exchange.schemas import AccessDecision, AccessRequestCreate, GrantCreate, Operation
from tinhso.identity import repository as identity_repo
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.db import utcnow
from tinhso.kit.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable

ANY = Operation(method="*", path="**")


def caller_member(session: Session, principal: Principal, client: str | None) -> tuple[str, str]:
    """The member id the caller acts for: its own system, or (admins) one of its agency's systems."""
    if client:
        mid = parse_member(client)
        if mid.instance != local_instance():
            if not principal.is_platform_admin:
                raise Forbidden(
                    "foreign_client", "Only the platform administrator may act for another instance"
                )
            return str(mid), mid.agency
        if not principal.is_platform_admin and mid.agency != principal.agency_code:
            raise Forbidden("not_your_system", "You may only act for your own agency's systems")
        system = identity_repo.get_system_by_code(session, mid.agency, mid.system)
        if system is None:
            raise NotFound("system_not_found", "Information system {code} not found", code=mid.system)
        if principal.is_system and principal.system_id != system.id:
            raise Forbidden("not_your_system", "You may only act for your own agency's systems")
        return str(mid), mid.agency
    if not principal.is_system:
        raise BadRequest("client_required", "Name the client system (member id)")
    system = identity_repo.get_system(session, principal.system_id or "")
    if system is None:
        raise NotFound("system_not_found", "Information system {code} not found", code=principal.system_id)
    from tinhso.exchange.ids import local_member

    return str(local_member(system.agency_code, system.code)), system.agency_code


def _check_ops(service: Service, ops: list[Operation]) -> None:
    known = {(o.method, o.path) for o in catalog.operations(service)}
    for op in ops:
        if op.path == "**" or op.method == "*":
            continue
        if (op.method, op.path) not in known:
            raise Unprocessable(
                "unknown_operation",
                "The service has no operation {method} {path}",
                method=op.method,
                path=op.path,
            )


def request_access(session: Session, principal: Principal, data: AccessRequestCreate) -> AccessRequest:
    service = catalog.get_visible(session, principal, data.service_id)
    if service.state != "published":
        raise Conflict("service_not_published", "Access can only be requested to a published service")
    client, agency = caller_member(session, principal, data.client)
    if data.valid_until is not None and data.valid_until <= utcnow():
        raise Unprocessable("validity_in_past", "The validity must end in the future")
    _check_ops(service, data.operations)
    pending = session.scalar(
        select(AccessRequest.id).where(
            AccessRequest.service_id == service.id,
            AccessRequest.client == client,
            AccessRequest.state == "pending",
        )
    )
    if pending:
        raise Conflict("request_pending", "An access request of this client is already pending")
    req = AccessRequest(
        service_id=service.id,
        client=client,
        client_agency_code=agency,
        purpose=data.purpose,
        legal_basis=data.legal_basis,
        operations=[o.model_dump() for o in data.operations],
        valid_until=data.valid_until,
    )
    session.add(req)
    session.flush()
    audit.record(
        session,
        "exchange.access.request",
        object_type="exchange_access_request",
        object_id=req.id,
        purpose=data.purpose,
        detail={"service": service.id, "client": client},
    )
    return req


def requests_statement(principal: Principal, state: str | None = None) -> Select[Any]:
    """Requests the caller made (its agency) or must decide (its agency owns the service)."""
    stmt = select(AccessRequest).join(Service, Service.id == AccessRequest.service_id)
    if not principal.is_platform_admin:
        stmt = stmt.where(
            or_(
                AccessRequest.client_agency_code == principal.agency_code,
                Service.agency_code == principal.agency_code,
            )
        )
    if state:
        stmt = stmt.where(AccessRequest.state == state)
    return stmt.order_by(AccessRequest.created_at.desc())


def get_request(session: Session, principal: Principal, request_id: str) -> tuple[AccessRequest, Service]:
    req = session.get(AccessRequest, request_id)
    service = session.get(Service, req.service_id) if req else None
    if (
        req is None
        or service is None
        or not (
            principal.is_platform_admin
            or principal.agency_code in (req.client_agency_code, service.agency_code)
        )
    ):
        raise NotFound("access_request_not_found", "Access request not found")
    return req, service


def _owner_admin(principal: Principal, service: Service) -> None:
    if not (
        principal.is_platform_admin
        or (
            not principal.is_system
            and principal.agency_code == service.agency_code
            and "agency_admin" in principal.roles
        )
    ):
        raise Forbidden("not_service_owner", "Only the provider agency's administrator can do this")


def decide(session: Session, principal: Principal, request_id: str, data: AccessDecision) -> AccessRequest:
    req, service = get_request(session, principal, request_id)
    _owner_admin(principal, service)
    if req.state != "pending":
        raise Conflict("already_decided", "The request was already decided ({state})", state=req.state)
    asked = [Operation(**o) for o in req.operations] or [ANY]
    if data.valid_until is not None and data.valid_until <= utcnow():
        raise Unprocessable("validity_in_past", "The validity must end in the future")
    valid_until = data.valid_until or req.valid_until
    if req.valid_until is not None and valid_until is not None and valid_until > req.valid_until:
        valid_until = req.valid_until
    if data.decision == "refuse":
        req.state = "refused"
    else:
        ops = asked
        if data.decision == "limit":
            if not data.operations:
                raise Unprocessable("operations_required", "Limiting needs the operations to grant")
            _check_ops(service, data.operations)
            ops = data.operations
        req.state = "approved" if data.decision == "approve" else "limited"
        req.valid_until = valid_until
        for op in ops:
            session.add(
                Grant(
                    service_id=service.id,
                    request_id=req.id,
                    client=req.client,
                    method=op.method,
                    path=op.path,
                    valid_until=valid_until,
                )
            )
    req.decided_by, req.decided_at, req.decision_note = principal.id, utcnow(), data.note
    session.flush()
    audit.record(
        session,
        f"exchange.access.{req.state}",
        object_type="exchange_access_request",
        object_id=req.id,
        purpose=req.purpose,
        detail={"service": service.id, "client": req.client},
    )
    return req


def revoke_request(session: Session, principal: Principal, request_id: str) -> AccessRequest:
    req, service = get_request(session, principal, request_id)
    _owner_admin(principal, service)
    if req.state not in ("approved", "limited"):
        raise Conflict("not_granted", "Only a granted request can be revoked")
    now = utcnow()
    req.state = "revoked"
    session.execute(
        update(Grant).where(Grant.request_id == req.id, Grant.revoked_at.is_(None)).values(revoked_at=now)
    )
    bump_stamp(session.connection())  # a bulk update passes no mapper event: say so to the gateways
    session.flush()
    audit.record(
        session,
        "exchange.access.revoked",
        object_type="exchange_access_request",
        object_id=req.id,
        detail={"service": service.id, "client": req.client},
    )
    return req


def create_grant(session: Session, principal: Principal, data: GrantCreate) -> Grant:
    """A direct grant by the owner (e.g. to a member of a federated instance)."""
    service = catalog.get_visible(session, principal, data.service_id)
    _owner_admin(principal, service)
    client = str(parse_member(data.client))
    op = Operation(method=data.method, path=data.path)
    _check_ops(service, [op])
    grant = Grant(
        service_id=service.id, client=client, method=op.method, path=op.path, valid_until=data.valid_until
    )
    session.add(grant)
    session.flush()
    audit.record(
        session,
        "exchange.grant.create",
        object_type="exchange_grant",
        object_id=grant.id,
        detail={"service": service.id, "client": client, "method": op.method, "path": op.path},
    )
    return grant


def grants_statement(principal: Principal, service_id: str | None = None) -> Select[Any]:
    stmt = select(Grant).join(Service, Service.id == Grant.service_id).order_by(Grant.created_at.desc())
    if not principal.is_platform_admin:
        mine = Grant.client.like(f"%/{principal.agency_code}/%")
        stmt = stmt.where(or_(Service.agency_code == principal.agency_code, mine))
    if service_id:
        stmt = stmt.where(Grant.service_id == service_id)
    return stmt


def revoke_grant(session: Session, principal: Principal, grant_id: str) -> Grant:
    grant = session.get(Grant, grant_id)
    service = session.get(Service, grant.service_id) if grant else None
    if grant is None or service is None:
        raise NotFound("grant_not_found", "Grant not found")
    _owner_admin(principal, service)
    if grant.revoked_at is None:
        grant.revoked_at = utcnow()
        session.flush()
        audit.record(
            session,
            "exchange.grant.revoke",
            object_type="exchange_grant",
            object_id=grant.id,
            detail={"service": service.id, "client": grant.client},
        )
    return grant


def active_grants(session: Session, client: str, service_id: str) -> list[Grant]:
    now = utcnow()
    return list(
        session.scalars(
            select(Grant).where(
                Grant.client == client,
                Grant.service_id == service_id,
                Grant.revoked_at.is_(None),
                or_(Grant.valid_until.is_(None), Grant.valid_until > now),
            )
        )
    )


def allows(grants: list[Grant], method: str, path: str) -> bool:
    for g in grants:
        if g.method not in ("*", method) and not (g.method == "GET" and method == "HEAD"):
            continue
        if catalog.template_regex(g.path).match(path):
            return True
    return False
