"""Directory services compatible with the GovStack Information Mediator (X-Road metaservices):
`GET /r1/listClients`, `GET /r1/{member}/listMethods`, `…/allowedMethods`, `…/getOpenAPI?serviceCode=`."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from sqlalchemy import select

from tinhso.exchange import access, catalog
from tinhso.exchange.ids import MemberId, parse_member
from tinhso.exchange.models import Service
from tinhso.identity.models import Agency, InformationSystem
from tinhso.kit.db import Database
from tinhso.kit.errors import DomainError

VISIBLE = ("published", "deprecated")


def list_clients(db: Database, rt: Any, params: Any) -> dict[str, Any]:
    """Members (agencies with systems) and their subsystems (information systems) of this instance."""
    from tinhso.exchange.xroad import GatewayError

    instance = params.get("xRoadInstance") or rt.instance
    if instance != rt.instance:
        raise GatewayError(
            404,
            "Server.ClientProxy.UnknownInstance",
            "unknown_instance",
            "Unknown X-Road instance {instance}",
            instance=instance,
        )
    with db.transaction(write=False) as s:
        rows = s.execute(
            select(InformationSystem.agency_code, InformationSystem.code, InformationSystem.name, Agency.name)
            .join(Agency, Agency.code == InformationSystem.agency_code)
            .where(InformationSystem.active.is_(True))
            .order_by(InformationSystem.agency_code, InformationSystem.code)
        ).all()
    members: list[dict[str, Any]] = []
    seen: set[str] = set()
    for agency, code, name, agency_name in rows:
        if agency not in seen:
            seen.add(agency)
            members.append(
                {
                    "id": {
                        "object_type": "MEMBER",
                        "xroad_instance": instance,
                        "member_class": "GOV",
                        "member_code": agency,
                    },
                    "name": agency_name,
                }
            )
        members.append({"id": MemberId(instance, "GOV", agency, code).as_govstack(), "name": name})
    return {"member": members}


def _endpoints(service: Service, allowed: list[Any] | None) -> list[dict[str, str]]:
    if allowed is None:
        return [{"method": o.method, "path": o.path} for o in catalog.operations(service)]
    return [{"method": g.method, "path": g.path} for g in allowed]


def metaservice(db: Database, rt: Any, client: MemberId | None, segments: list[str], params: Any) -> Any:
    from tinhso.exchange.xroad import GatewayError

    try:
        provider = parse_member("/".join(unquote(s) for s in segments[:4]))
    except DomainError as exc:
        raise GatewayError(400, "Client.BadRequest", "invalid_identifier", exc.message, **exc.params) from exc
    name = unquote(segments[4])
    with db.transaction(write=False) as s:
        services = list(
            s.scalars(
                select(Service)
                .where(
                    Service.agency_code == provider.agency,
                    Service.system_code == provider.system,
                    Service.state.in_(VISIBLE),
                )
                .order_by(Service.code, Service.version)
            )
        )
        if provider.instance != rt.instance:
            services = []
        if name == "getOpenAPI":
            code = params.get("serviceCode")
            if not code:
                raise GatewayError(
                    400, "Client.BadRequest", "service_code_missing", "The serviceCode parameter is required"
                )
            code, _, version = code.partition("/")
            match = [x for x in services if x.code == code and (not version or x.version == version)]
            if not match or not match[-1].openapi:
                raise GatewayError(
                    404,
                    "Server.ServerProxy.UnknownService",
                    "unknown_service",
                    "Unknown service {service}",
                    service=f"{provider}/{code}",
                )
            return match[-1].openapi
        out = []
        for svc in services:
            allowed = None
            if name == "allowedMethods":
                if client is None:
                    raise GatewayError(
                        400,
                        "Client.BadRequest",
                        "client_header_missing",
                        "The X-Road-Client header is required",
                    )
                allowed = access.active_grants(s, str(client), svc.id)
                if not allowed:
                    continue
            out.append(
                {
                    "object_type": "SERVICE",
                    "xroad_instance": provider.instance,
                    "member_class": provider.member_class,
                    "member_code": provider.agency,
                    "subsystem_code": provider.system,
                    "service_code": svc.code,
                    "service_version": svc.version,
                    "service_type": "OPENAPI",
                    "endpoint_list": _endpoints(svc, allowed),
                }
            )
    return {"service": out}
