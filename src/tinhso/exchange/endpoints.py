"""Exchange management API under /api/v1/exchange: catalog, access rights, peers, pub/sub, stats."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sqlalchemy import select

from tinhso.exchange import access, catalog, monitor, msglog, pubsub, pubsub_delivery
from tinhso.exchange import runtime as rt_mod
from tinhso.exchange.ids import instance_var
from tinhso.exchange.models import EventType, Peer
from tinhso.exchange.schemas import (
    AccessDecision,
    AccessRequestCreate,
    AccessRequestRead,
    DeliveryRead,
    EventRead,
    EventTypeCreate,
    EventTypeRead,
    GrantCreate,
    GrantRead,
    LifecycleChange,
    PeerCreate,
    PeerRead,
    PublishRequest,
    ServiceCreate,
    ServiceRead,
    ServiceUpdate,
    SubscriptionCreate,
    SubscriptionRead,
)
from tinhso.identity.auth import CurrentPrincipal, OptionalPrincipal, require_roles
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.db import utcnow
from tinhso.kit.deps import DatabaseDep, SessionDep
from tinhso.kit.errors import BadRequest, Conflict, Forbidden
from tinhso.kit.pagination import Page, PageDep, paginate


async def _instance(request: Request) -> None:
    instance_var.set(rt_mod.of(request.app).instance)


router = APIRouter(prefix="/api/v1/exchange", tags=["exchange"], dependencies=[Depends(_instance)])
AdminDep = Annotated[Principal, require_roles("agency_admin")]


def _invalidate(request: Request) -> None:
    rt_mod.of(request.app).invalidate()


# ---------------------------------------------------------------- hub


@router.get("/hub", operation_id="exchange_hub", summary="This hub's instance and public key (for peers)")
def hub(request: Request, db: DatabaseDep) -> dict[str, Any]:
    kid, _ = msglog.hub_key(db)
    return {
        "instance": rt_mod.of(request.app).instance,
        "member_class": "GOV",
        "key_id": kid,
        "public_key_pem": msglog.public_pem(db),
    }


# ---------------------------------------------------------------- catalog


@router.get("/services", operation_id="exchange_list_services", response_model=Page[ServiceRead])
def list_services(
    session: SessionDep,
    principal: OptionalPrincipal,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="Accent-insensitive search")] = None,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
    classification: Annotated[str | None, Query(pattern="^(public|internal|personal|secret)$")] = None,
    state: Annotated[str | None, Query(pattern="^(draft|published|deprecated|retired)$")] = None,
) -> Page[ServiceRead]:
    rows, total = paginate(
        session, catalog.catalog_statement(principal, q, agency_code, classification, state), page
    )
    return Page(
        items=[catalog.to_read(r, principal) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.post(
    "/services", operation_id="exchange_register_service", response_model=ServiceRead, status_code=201
)
def register_service(session: SessionDep, principal: CurrentPrincipal, data: ServiceCreate) -> ServiceRead:
    return catalog.to_read(catalog.register(session, principal, data), principal)


@router.get("/services/{service_id}", operation_id="exchange_get_service", response_model=ServiceRead)
def get_service(session: SessionDep, principal: OptionalPrincipal, service_id: str) -> ServiceRead:
    return catalog.to_read(catalog.get_visible(session, principal, service_id), principal)


@router.get("/services/{service_id}/openapi", operation_id="exchange_service_openapi")
def service_openapi(session: SessionDep, principal: OptionalPrincipal, service_id: str) -> dict[str, Any]:
    return catalog.get_visible(session, principal, service_id).openapi or {}


@router.patch("/services/{service_id}", operation_id="exchange_update_service", response_model=ServiceRead)
def update_service(
    request: Request, session: SessionDep, principal: CurrentPrincipal, service_id: str, data: ServiceUpdate
) -> ServiceRead:
    out = catalog.to_read(catalog.update(session, principal, service_id, data), principal)
    _invalidate(request)
    return out


@router.post(
    "/services/{service_id}/lifecycle", operation_id="exchange_service_lifecycle", response_model=ServiceRead
)
def service_lifecycle(
    request: Request, session: SessionDep, principal: CurrentPrincipal, service_id: str, data: LifecycleChange
) -> ServiceRead:
    out = catalog.to_read(catalog.change_state(session, principal, service_id, data), principal)
    _invalidate(request)
    return out


# ---------------------------------------------------------------- access rights


@router.post(
    "/access-requests",
    operation_id="exchange_request_access",
    response_model=AccessRequestRead,
    status_code=201,
)
def request_access(session: SessionDep, principal: CurrentPrincipal, data: AccessRequestCreate) -> Any:
    return access.request_access(session, principal, data)


@router.get(
    "/access-requests", operation_id="exchange_list_access_requests", response_model=Page[AccessRequestRead]
)
def list_access_requests(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    state: Annotated[str | None, Query(pattern="^(pending|approved|limited|refused|revoked)$")] = None,
) -> Any:
    rows, total = paginate(session, access.requests_statement(principal, state), page)
    return Page(
        items=[AccessRequestRead.model_validate(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.get(
    "/access-requests/{request_id}",
    operation_id="exchange_get_access_request",
    response_model=AccessRequestRead,
)
def get_access_request(session: SessionDep, principal: CurrentPrincipal, request_id: str) -> Any:
    return access.get_request(session, principal, request_id)[0]


@router.post(
    "/access-requests/{request_id}/decision",
    operation_id="exchange_decide_access",
    response_model=AccessRequestRead,
)
def decide_access(
    request: Request, session: SessionDep, principal: AdminDep, request_id: str, data: AccessDecision
) -> Any:
    out = access.decide(session, principal, request_id, data)
    _invalidate(request)
    return out


@router.post(
    "/access-requests/{request_id}/revoke",
    operation_id="exchange_revoke_access",
    response_model=AccessRequestRead,
)
def revoke_access(request: Request, session: SessionDep, principal: AdminDep, request_id: str) -> Any:
    out = access.revoke_request(session, principal, request_id)
    _invalidate(request)
    return out


@router.get("/grants", operation_id="exchange_list_grants", response_model=Page[GrantRead])
def list_grants(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    service_id: Annotated[str | None, Query(max_length=32)] = None,
) -> Any:
    rows, total = paginate(session, access.grants_statement(principal, service_id), page)
    return Page(
        items=[GrantRead.model_validate(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.post("/grants", operation_id="exchange_create_grant", response_model=GrantRead, status_code=201)
def create_grant(request: Request, session: SessionDep, principal: AdminDep, data: GrantCreate) -> Any:
    out = access.create_grant(session, principal, data)
    _invalidate(request)
    return out


@router.post("/grants/{grant_id}/revoke", operation_id="exchange_revoke_grant", response_model=GrantRead)
def revoke_grant(request: Request, session: SessionDep, principal: AdminDep, grant_id: str) -> Any:
    out = access.revoke_grant(session, principal, grant_id)
    _invalidate(request)
    return out


# ---------------------------------------------------------------- federation peers (platform admin)


def _platform_admin(principal: Principal) -> None:
    if not principal.is_platform_admin:
        raise Forbidden("role_required", "This needs one of the roles: {roles}", roles="platform_admin")


@router.get("/peers", operation_id="exchange_list_peers", response_model=list[PeerRead])
def list_peers(session: SessionDep, principal: CurrentPrincipal) -> Any:
    _platform_admin(principal)
    return list(session.scalars(select(Peer).order_by(Peer.instance)))


@router.post("/peers", operation_id="exchange_add_peer", response_model=PeerRead, status_code=201)
def add_peer(request: Request, session: SessionDep, principal: CurrentPrincipal, data: PeerCreate) -> Any:
    _platform_admin(principal)
    if data.instance == rt_mod.of(request.app).instance:
        raise BadRequest("peer_is_self", "A peer cannot have this hub's own instance code")
    try:
        msglog.load_public(data.public_key_pem)
    except ValueError as exc:
        raise BadRequest("invalid_public_key", "The public key must be an Ed25519 key in PEM form") from exc
    if session.scalar(select(Peer.id).where(Peer.instance == data.instance)):
        raise Conflict("peer_exists", "Peer {instance} already exists", instance=data.instance)
    peer = Peer(
        instance=data.instance, base_url=str(data.base_url).rstrip("/"), public_key_pem=data.public_key_pem
    )
    session.add(peer)
    session.flush()
    audit.record(
        session,
        "exchange.peer.create",
        object_type="exchange_peer",
        object_id=peer.id,
        detail={"instance": peer.instance, "base_url": peer.base_url},
    )
    _invalidate(request)
    return peer


# ---------------------------------------------------------------- pub/sub


@router.post(
    "/event-types", operation_id="exchange_create_event_type", response_model=EventTypeRead, status_code=201
)
def create_event_type(session: SessionDep, principal: CurrentPrincipal, data: EventTypeCreate) -> Any:
    return pubsub.create_event_type(session, principal, data)


@router.get("/event-types", operation_id="exchange_list_event_types", response_model=Page[EventTypeRead])
def list_event_types(session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Any:
    rows, total = paginate(session, select(EventType).order_by(EventType.owner, EventType.code), page)
    return Page(
        items=[EventTypeRead.model_validate(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.get("/event-types/{event_type_id}", operation_id="exchange_get_event_type")
def get_event_type(session: SessionDep, principal: CurrentPrincipal, event_type_id: str) -> dict[str, Any]:
    et = pubsub.get_event_type(session, event_type_id)
    return EventTypeRead.model_validate(et).model_dump() | {"schema": et.schema}


@router.post("/event-types/{event_type_id}/events", operation_id="exchange_publish", status_code=201)
def publish(
    session: SessionDep,
    principal: CurrentPrincipal,
    event_type_id: str,
    data: PublishRequest,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=100)
    ] = None,
) -> dict:
    """Publish an event. With an `Idempotency-Key` (the same namespace as the gateway's X-Road-Id), a retry
    answers with the event the first attempt stored instead of publishing it again."""
    event = pubsub.publish(session, principal, event_type_id, data, idempotency_key)
    return {"id": event.id, "sequence": event.seq}


@router.get("/events/{event_id}", operation_id="exchange_event_status")
def event_status(session: SessionDep, principal: CurrentPrincipal, event_id: str) -> dict[str, Any]:
    event, et, deliveries = pubsub_delivery.event_status(session, principal, event_id)
    read = EventRead(
        id=event.id,
        sequence=event.seq,
        event_type=et.code,
        publisher=event.publisher,
        key=event.key,
        published_at=event.published_at,
        event=event.payload,
    )
    return read.model_dump() | {
        "deliveries": [DeliveryRead.model_validate(d).model_dump() for d in deliveries]
    }


@router.post(
    "/subscriptions", operation_id="exchange_subscribe", response_model=SubscriptionRead, status_code=201
)
def subscribe(session: SessionDep, principal: CurrentPrincipal, data: SubscriptionCreate) -> Any:
    return pubsub.subscribe(session, principal, data)


@router.get(
    "/subscriptions", operation_id="exchange_list_subscriptions", response_model=Page[SubscriptionRead]
)
def list_subscriptions(session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Any:
    rows, total = paginate(session, pubsub.subscriptions_statement(principal), page)
    return Page(
        items=[SubscriptionRead.model_validate(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.post(
    "/subscriptions/{sub_id}/approve",
    operation_id="exchange_approve_subscription",
    response_model=SubscriptionRead,
)
def approve_subscription(session: SessionDep, principal: CurrentPrincipal, sub_id: str) -> Any:
    return pubsub.decide_subscription(session, principal, sub_id, True)


@router.post(
    "/subscriptions/{sub_id}/refuse",
    operation_id="exchange_refuse_subscription",
    response_model=SubscriptionRead,
)
def refuse_subscription(session: SessionDep, principal: CurrentPrincipal, sub_id: str) -> Any:
    return pubsub.decide_subscription(session, principal, sub_id, False)


@router.delete(
    "/subscriptions/{sub_id}", operation_id="exchange_cancel_subscription", response_model=SubscriptionRead
)
def cancel_subscription(session: SessionDep, principal: CurrentPrincipal, sub_id: str) -> Any:
    return pubsub.cancel_subscription(session, principal, sub_id)


@router.get(
    "/subscriptions/{sub_id}/pull",
    operation_id="exchange_pull",
    responses={204: {"description": "Nothing to deliver"}},
)
def pull(session: SessionDep, principal: CurrentPrincipal, sub_id: str) -> Any:
    item = pubsub_delivery.pull(session, principal, sub_id)
    return item if item is not None else Response(status_code=204)


@router.delete("/subscriptions/{sub_id}/pull/{event_id}", operation_id="exchange_ack", status_code=204)
def ack(session: SessionDep, principal: CurrentPrincipal, sub_id: str, event_id: str) -> Response:
    pubsub_delivery.ack(session, principal, sub_id, event_id)
    return Response(status_code=204)


@router.get(
    "/subscriptions/{sub_id}/deliveries",
    operation_id="exchange_list_deliveries",
    response_model=Page[DeliveryRead],
)
def list_deliveries(
    session: SessionDep,
    principal: CurrentPrincipal,
    sub_id: str,
    page: PageDep,
    state: Annotated[str | None, Query(pattern="^(pending|delivered|dead|expired|cancelled)$")] = None,
) -> Any:
    rows, total = paginate(
        session, pubsub_delivery.deliveries_statement(session, principal, sub_id, state), page
    )
    return Page(
        items=[DeliveryRead.model_validate(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.post(
    "/deliveries/{delivery_id}/redeliver", operation_id="exchange_redeliver", response_model=DeliveryRead
)
def redeliver(session: SessionDep, principal: CurrentPrincipal, delivery_id: int) -> Any:
    return pubsub_delivery.redeliver(session, principal, delivery_id)


# ---------------------------------------------------------------- monitoring


@router.get("/stats", operation_id="exchange_stats")
def stats(
    session: SessionDep,
    principal: CurrentPrincipal,
    since: datetime | None = None,
    until: datetime | None = None,
    service: Annotated[str | None, Query(max_length=300)] = None,
) -> dict[str, Any]:
    """Traffic, errors, latency percentiles, bytes and provider availability; agencies see their own services."""
    until = until or utcnow()
    since = since or until - timedelta(hours=24)
    if since >= until:
        raise BadRequest("invalid_window", "'since' must be before 'until'")
    agency = None if (principal.is_platform_admin or "leader" in principal.roles) else principal.agency_code
    return monitor.stats(session, since, until, agency, service)
