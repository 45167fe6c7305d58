"""Demo of the hub: three Nghệ An provider systems with real local upstreams (small ASGI apps started by
the API process in the demo environment), their published services, grants, an event type, and traffic
sent through the real gateway once the upstreams are up."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.exchange.ids import local_member
from tinhso.exchange.models import EventType, Grant, Service, Subscription
from tinhso.kit import democreds
from tinhso.kit.db import utcnow
from tinhso.kit.text import fold

log = logging.getLogger("tinhso.exchange.demo")
CONGAN, VPUB, SNNMT = "000.00.15.H41", "000.00.01.H41", "000.00.06.H41"


def port_base() -> int:
    return int(os.environ.get("TINHSO_EXCHANGE_DEMO_PORT_BASE", "18101"))


def _doc(title: str, paths: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": title, "version": "1.0"}, "paths": paths}


def _get(summary: str, *params: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
            ],
            "responses": {"200": {"description": "OK"}, "404": {"description": "Không tìm thấy"}},
        }
    }


# (agency, system, code, title_vi, title_en, classification, port offset, openapi)
SERVICES = [
    (
        CONGAN,
        "DANCU",
        "citizens",
        "Tra cứu thông tin công dân",
        "Citizen information lookup",
        "personal",
        0,
        _doc(
            "Phân hệ dân cư",
            {
                "/citizens/{id}": _get("Thông tin công dân theo số định danh", "id"),
                "/households/{id}": _get("Thông tin hộ gia đình", "id"),
            },
        ),
    ),
    (
        VPUB,
        "TTHC",
        "dossiers",
        "Tình trạng hồ sơ thủ tục hành chính",
        "Administrative dossier status",
        "internal",
        1,
        _doc(
            "Hệ thống TTHC",
            {"/dossiers/{code}": _get("Tình trạng hồ sơ", "code"), "/procedures": _get("Danh mục thủ tục")},
        ),
    ),
    (
        SNNMT,
        "DATDAI",
        "parcels",
        "Tra cứu thửa đất",
        "Land parcel lookup",
        "internal",
        2,
        _doc(
            "Cơ sở dữ liệu đất đai",
            {"/parcels/{sheet}/{parcel}": _get("Thông tin thửa đất", "sheet", "parcel")},
        ),
    ),
]
GRANTS = [
    ("TTHC", VPUB, CONGAN, "DANCU", "citizens", "GET", "/citizens/{id}"),
    ("TTHC", VPUB, SNNMT, "DATDAI", "parcels", "GET", "/parcels/{sheet}/{parcel}"),
    ("DANCU", CONGAN, VPUB, "TTHC", "dossiers", "*", "**"),
]


def seed_demo(session: Session) -> None:
    from tinhso.identity import repository as identity_repo

    base = port_base()
    for agency, system_code, code, title_vi, title_en, classification, offset, doc in SERVICES:
        system = identity_repo.get_system_by_code(session, agency, system_code)
        if system is None:
            continue
        svc = session.scalar(
            select(Service).where(
                Service.agency_code == agency,
                Service.system_code == system_code,
                Service.code == code,
                Service.version == "v1",
            )
        )
        if svc is None:
            svc = Service(
                agency_code=agency, system_code=system_code, system_id=system.id, code=code, version="v1"
            )
            session.add(svc)
        svc.title_vi, svc.title_en, svc.classification, svc.openapi = title_vi, title_en, classification, doc
        svc.description = f"{title_vi} — dịch vụ chia sẻ qua LGSP Nghệ An (demo)."
        svc.upstream_url, svc.health_path, svc.state = (
            f"http://127.0.0.1:{base + offset}",
            "/health",
            "published",
        )
        svc.search_text = " ".join(
            fold(x)
            for x in (
                title_vi,
                title_en,
                svc.description,
                code,
                f"{local_member(agency, system_code)}/{code}/v1",
            )
        )
        session.flush()
    for client_code, client_agency, agency, system_code, code, method, path in GRANTS:
        svc = session.scalar(
            select(Service).where(
                Service.agency_code == agency, Service.system_code == system_code, Service.code == code
            )
        )
        client = str(local_member(client_agency, client_code))
        if svc is None or session.scalar(
            select(Grant.id).where(Grant.service_id == svc.id, Grant.client == client)
        ):
            continue
        session.add(
            Grant(
                service_id=svc.id,
                client=client,
                method=method,
                path=path,
                valid_until=utcnow() + timedelta(days=365),
            )
        )
    owner = str(local_member(CONGAN, "DANCU"))
    et = session.scalar(
        select(EventType).where(EventType.owner == owner, EventType.code == "resident.changed")
    )
    if et is None:
        et = EventType(
            owner=owner,
            agency_code=CONGAN,
            code="resident.changed",
            title="Thay đổi thông tin cư trú",
            classification="personal",
            schema={
                "type": "object",
                "required": ["personal_id"],
                "properties": {
                    "personal_id": {"type": "string", "pattern": "^[0-9]{12}$"},
                    "commune_code": {"type": "string"},
                },
            },
        )
        session.add(et)
        session.flush()
    subscriber = str(local_member(VPUB, "TTHC"))
    if not session.scalar(
        select(Subscription.id).where(
            Subscription.event_type_id == et.id, Subscription.subscriber == subscriber
        )
    ):
        session.add(
            Subscription(
                event_type_id=et.id,
                subscriber=subscriber,
                subscriber_agency_code=VPUB,
                delivery="pull",
                state="active",
            )
        )
    session.flush()


# ---------------------------------------------------------------- the providers' upstream APIs


def citizens_app() -> Any:
    from fastapi import FastAPI, HTTPException

    app = FastAPI(title="Phân hệ dân cư (demo)")
    people = {
        "040190001234": {
            "ho_ten": "Nguyễn Thị Hoa",
            "ngay_sinh": "1990-03-12",
            "gioi_tinh": "Nữ",
            "noi_thuong_tru": "Xã Diễn Châu, tỉnh Nghệ An",
            "ma_ho": "HO-0001",
        },
        "040085004321": {
            "ho_ten": "Hồ Văn Bình",
            "ngay_sinh": "1985-11-02",
            "gioi_tinh": "Nam",
            "noi_thuong_tru": "Phường Vinh Phú, tỉnh Nghệ An",
            "ma_ho": "HO-0002",
        },
    }

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/citizens/{cid}")
    def citizen(cid: str) -> dict[str, Any]:
        if cid not in people:
            raise HTTPException(404, "Không tìm thấy công dân")
        return {"so_dinh_danh": cid, **people[cid]}

    @app.get("/households/{hid}")
    def household(hid: str) -> dict[str, Any]:
        members = [{"so_dinh_danh": k, "ho_ten": v["ho_ten"]} for k, v in people.items() if v["ma_ho"] == hid]
        if not members:
            raise HTTPException(404, "Không tìm thấy hộ")
        return {"ma_ho": hid, "thanh_vien": members}

    return app


def dossiers_app() -> Any:
    from fastapi import FastAPI, HTTPException

    app = FastAPI(title="Hệ thống TTHC (demo)")
    dossiers = {"000.00.05.H41-260101-0001": "Đã tiếp nhận", "000.00.05.H41-260102-0002": "Đang xử lý"}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/dossiers/{code}")
    def dossier(code: str) -> dict[str, Any]:
        if code not in dossiers:
            raise HTTPException(404, "Không tìm thấy hồ sơ")
        return {"ma_ho_so": code, "trang_thai": dossiers[code]}

    @app.get("/procedures")
    def procedures() -> list[dict[str, str]]:
        return [{"ma": "1.001612", "ten": "Đăng ký khai sinh"}, {"ma": "1.000894", "ten": "Đăng ký kết hôn"}]

    return app


def parcels_app() -> Any:
    from fastapi import FastAPI, HTTPException

    app = FastAPI(title="Cơ sở dữ liệu đất đai (demo)")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/parcels/{sheet}/{parcel}")
    def parcel(sheet: str, parcel: str) -> dict[str, Any]:
        if not (sheet.isdigit() and parcel.isdigit()):
            raise HTTPException(404, "Không tìm thấy thửa đất")
        return {
            "to_ban_do": int(sheet),
            "thua_dat": int(parcel),
            "dien_tich_m2": 150.5 + int(parcel),
            "muc_dich": "ONT",
            "xa": "Xã Diễn Châu",
        }

    return app


def is_seeded(db: Any) -> bool:
    """True when the demo services point at this machine's demo upstreams."""
    try:
        with db.transaction(write=False) as s:
            url = s.scalar(
                select(Service.upstream_url).where(
                    Service.agency_code == CONGAN, Service.system_code == "DANCU", Service.code == "citizens"
                )
            )
    except Exception:  # noqa: BLE001 - not migrated yet: no demo
        return False
    return url == f"http://127.0.0.1:{port_base()}"


def start_upstreams(app: Any) -> None:
    """Serve the three providers' APIs on localhost, then send some real traffic through the gateway."""
    import uvicorn

    servers = []
    for offset, factory in enumerate((citizens_app, dossiers_app, parcels_app)):
        server = uvicorn.Server(
            uvicorn.Config(
                factory(), host="127.0.0.1", port=port_base() + offset, log_level="warning", lifespan="off"
            )
        )
        thread = threading.Thread(target=server.run, name=f"demo-upstream-{offset}", daemon=True)
        thread.start()
        servers.append((server, thread))
    app.state.exchange_upstreams = servers
    threading.Thread(target=_traffic, args=(app,), name="demo-traffic", daemon=True).start()


def stop_upstreams(app: Any) -> None:
    for server, thread in getattr(app.state, "exchange_upstreams", []):
        server.should_exit = True
        thread.join(timeout=5)
    app.state.exchange_upstreams = []


def _traffic(app: Any) -> None:
    """A few real calls through the gateway (in process, through the whole application)."""
    import asyncio

    import httpx

    from tinhso.identity import repository as identity_repo
    from tinhso.identity.auth import access_token_for
    from tinhso.identity.models import ClientCredential
    from tinhso.identity.service import principal_for_system

    time.sleep(2.0)
    db = app.state.db
    creds = democreds.load().get("systems", {})
    with db.transaction(write=False) as s:
        system = identity_repo.get_system_by_code(s, VPUB, "TTHC")
        cred = s.scalar(
            select(ClientCredential).where(
                ClientCredential.client_id == creds.get("TTHC", {}).get("client_id")
            )
        )
        if system is None or cred is None:
            return
        principal = principal_for_system(system, cred)
    token = access_token_for(db, principal)
    client = str(local_member(VPUB, "TTHC"))
    calls = [
        f"/r1/VN/GOV/{CONGAN}/DANCU/citizens/v1/citizens/040190001234",
        f"/r1/VN/GOV/{CONGAN}/DANCU/citizens/v1/citizens/040085004321",
        f"/r1/VN/GOV/{CONGAN}/DANCU/citizens/v1/citizens/000000000000",
        f"/r1/VN/GOV/{CONGAN}/DANCU/citizens/v1/households/HO-0001",
        f"/r1/VN/GOV/{SNNMT}/DATDAI/parcels/v1/parcels/12/345",
        f"/r1/VN/GOV/{SNNMT}/DATDAI/parcels/v1/parcels/7/89",
    ]

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as http:
            for i, path in enumerate(calls * 3):
                await http.get(
                    path,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "X-Road-Client": client,
                        "X-Road-UserId": "VN040190001234",
                        "X-Road-Issue": f"DEMO-{i}",
                    },
                )

    try:
        asyncio.run(run())
    except Exception:  # noqa: BLE001 - demo traffic is best effort; the log shows what happened
        log.exception("demo traffic failed")
