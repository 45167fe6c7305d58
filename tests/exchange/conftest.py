"""Exchange test helpers: a real local upstream (a provider's API served by Uvicorn) and a published service."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.conftest import free_port
from tests.factories import CONGAN, TUPHAP, Actor, Factory

OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "Tra cứu dân cư", "version": "1.0"},
    "paths": {
        "/citizens/{id}": {
            "get": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "Công dân"}},
            }
        },
        "/echo": {"post": {"responses": {"200": {"description": "echo"}}}},
        "/slow": {"get": {"responses": {"200": {"description": "slow"}}}},
        "/big": {"get": {"responses": {"200": {"description": "big"}}}},
        "/redirect": {"get": {"responses": {"302": {"description": "moved"}}}},
    },
}


def upstream_app(seen: list[dict[str, Any]]) -> FastAPI:
    """A provider's API: remembers the headers it received, echoes, sleeps and streams on demand."""
    app = FastAPI()

    @app.get("/citizens/{cid}")
    async def citizen(cid: str, request: Request) -> Any:
        seen.append({"path": request.url.path, "headers": dict(request.headers)})
        return JSONResponse(
            {"id": cid, "ho_ten": "Nguyễn Thị Hoa"},
            headers={"X-Upstream": "1", "Connection": "close, X-Secret-Hop", "X-Secret-Hop": "x"},
        )

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        body = await request.body()
        seen.append({"path": "/echo", "headers": dict(request.headers), "body": body})
        return Response(body, media_type=request.headers.get("content-type", "application/octet-stream"))

    @app.get("/slow")
    async def slow(s: float = 2.0) -> Any:
        await asyncio.sleep(s)
        return {"ok": True}

    @app.get("/big")
    async def big(n: int = 1_000_000) -> StreamingResponse:
        async def gen() -> Any:
            left = n
            while left > 0:
                k = min(65536, left)
                yield b"x" * k
                left -= k

        return StreamingResponse(gen(), media_type="application/octet-stream")

    @app.get("/redirect")
    async def redirect() -> Response:
        return Response(status_code=302, headers={"Location": "http://example.invalid/"})

    @app.get("/health")
    async def health() -> Any:
        return {"status": "ok"}

    return app


def serve(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture(scope="session")
def upstream() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    url, server, thread = serve(upstream_app(seen))
    yield url, seen
    server.should_exit = True
    thread.join(timeout=5)


@dataclass
class Hub:
    provider: Actor  # the DANCU system of Công an tỉnh
    provider_admin: Actor
    consumer: Actor  # a system of Sở Tư pháp
    consumer_admin: Actor
    consumer_code: str
    service: dict[str, Any]
    upstream_url: str
    seen: list[dict[str, Any]]

    @property
    def client_id(self) -> str:
        return f"VN/GOV/{TUPHAP}/{self.consumer_code}"

    @property
    def service_id(self) -> str:
        return self.service["identifier"]

    def headers(self, **extra: str) -> dict[str, str]:
        return {"X-Road-Client": self.client_id, **self.consumer.headers, **extra}


def make_hub(
    client: Any,
    factory: Factory,
    upstream: tuple[str, list[dict[str, Any]]],
    *,
    operations: list[dict[str, str]] | None = None,
    approve: bool = True,
    **service: Any,
) -> Hub:
    url, seen = upstream
    provider = factory.system(CONGAN, "DANCU", scopes=("api", "exchange"))
    provider_admin = factory.person(("agency_admin", "official"), agency=CONGAN)
    code = "HOTICH"
    consumer = factory.system(TUPHAP, code, scopes=("api", "exchange"))
    consumer_admin = factory.person(("agency_admin", "official"), agency=TUPHAP)
    body = {
        "system_code": "DANCU",
        "code": "citizens",
        "title_vi": "Tra cứu thông tin công dân",
        "title_en": "Citizen lookup",
        "upstream_url": url,
        "openapi": OPENAPI,
        "classification": "personal",
        "health_path": "/health",
    } | service
    r = client.post("/api/v1/exchange/services", json=body, headers=provider_admin.headers)
    assert r.status_code == 201, r.text
    svc = r.json()
    r = client.post(
        f"/api/v1/exchange/services/{svc['id']}/lifecycle",
        json={"state": "published"},
        headers=provider_admin.headers,
    )
    assert r.status_code == 200, r.text
    svc = r.json()
    if approve:
        r = client.post(
            "/api/v1/exchange/access-requests",
            headers=consumer.headers,
            json={
                "service_id": svc["id"],
                "purpose": "Xác minh nhân thân khi đăng ký hộ tịch",
                "legal_basis": "Luật Hộ tịch 2014, Điều 16",
                "operations": operations or [],
            },
        )
        assert r.status_code == 201, r.text
        r = client.post(
            f"/api/v1/exchange/access-requests/{r.json()['id']}/decision",
            json={"decision": "approve"},
            headers=provider_admin.headers,
        )
        assert r.status_code == 200, r.text
    return Hub(provider, provider_admin, consumer, consumer_admin, code, svc, url, seen)


@pytest.fixture
def hub(client: Any, factory: Factory, upstream: Any) -> Hub:
    return make_hub(client, factory, upstream)


@dataclass
class Receiver:
    """A subscriber's webhook: records what it receives; answers 503 while `failing`."""

    url: str
    received: list[dict[str, Any]]
    failing: bool = False


def receiver_app(state: Receiver) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        if state.failing:
            return Response(status_code=503)
        state.received.append({"body": await request.body(), "headers": dict(request.headers)})
        return Response(status_code=204)

    return app


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver("", [])
    url, server, thread = serve(receiver_app(state))
    state.url = url + "/hook"
    yield state
    server.should_exit = True
    thread.join(timeout=5)
