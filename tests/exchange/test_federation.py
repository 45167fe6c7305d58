"""Federation: a second, independent hub (the national instance VNX) on its own database and server;
calls travel consumer → province hub → national hub → provider, with mutual authentication."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from tests.conftest import _VAR, free_port
from tests.exchange.conftest import OPENAPI
from tests.factories import TUPHAP
from tinhso.app import create_app
from tinhso.exchange import msglog
from tinhso.exchange.models import Grant, MessageLog, Peer, Service
from tinhso.identity.models import InformationSystem
from tinhso.kit.db import Database, make_engine, new_id
from tinhso.migrate import upgrade
from tinhso.modules import plugins
from tinhso.settings import get_settings

NATIONAL = "000.00.00.H41"


def _serve(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture
def national(upstream) -> Iterator[tuple[str, Database]]:
    """The peer hub: its own SQLite database, its own Uvicorn, instance code VNX."""
    url = f"sqlite:///{_VAR / f'national-{new_id()[:8]}.db'}"
    upgrade(url)
    db = Database(make_engine(url=url))
    for _, plugin in plugins():
        if hasattr(plugin, "seed"):
            with db.transaction() as session:
                plugin.seed(session, False)
    with db.transaction() as s:
        system = InformationSystem(code="CSDLQG", agency_code=NATIONAL, name="CSDL quốc gia về dân cư (thử)")
        s.add(system)
        s.flush()
        s.add(
            Service(
                agency_code=NATIONAL,
                system_code="CSDLQG",
                system_id=system.id,
                code="citizens",
                version="v1",
                title_vi="Tra cứu dân cư quốc gia",
                upstream_url=upstream[0],
                openapi=OPENAPI,
                classification="personal",
                state="published",
            )
        )
    app = create_app(get_settings(), db)
    app.state.exchange_instance = "VNX"
    base, server, thread = _serve(app)
    yield base, db
    server.should_exit = True
    thread.join(timeout=10)
    db.dispose()


def test_call_travels_hub_to_hub(client, factory, db, national, live_server):
    nat_url, nat_db = national
    consumer = factory.system(TUPHAP, "HOTICH", scopes=("api", "exchange"))
    client_id = f"VN/GOV/{TUPHAP}/HOTICH"
    # Each hub knows the other's address and Ed25519 public key.
    with nat_db.transaction() as s:
        s.add(Peer(instance="VN", base_url=live_server, public_key_pem=msglog.public_pem(db)))
        svc = s.scalar(select(Service))
        s.add(Grant(service_id=svc.id, client=client_id, method="GET", path="/citizens/{id}"))
    admin = factory.person(("platform_admin", "official"), agency="000.00.02.H41")
    nat_key = httpx.get(f"{nat_url}/api/v1/exchange/hub").json()
    assert nat_key["instance"] == "VNX"
    r = client.post(
        "/api/v1/exchange/peers",
        headers=admin.headers,
        json={"instance": "VNX", "base_url": nat_url, "public_key_pem": nat_key["public_key_pem"]},
    )
    assert r.status_code == 201, r.text
    assert (
        client.post(
            "/api/v1/exchange/peers",
            headers=admin.headers,
            json={"instance": "VN", "base_url": nat_url, "public_key_pem": nat_key["public_key_pem"]},
        ).status_code
        == 400
    )
    assert (
        client.post(
            "/api/v1/exchange/peers",
            headers=consumer.headers,
            json={"instance": "VNY", "base_url": nat_url, "public_key_pem": nat_key["public_key_pem"]},
        ).status_code
        == 403
    )

    service = f"VNX/GOV/{NATIONAL}/CSDLQG/citizens/v1"
    headers = {"X-Road-Client": client_id, "X-Road-Id": "fed-1", **consumer.headers}
    r = httpx.get(f"{live_server}/r1/{service}/citizens/040190001234", headers=headers, timeout=20)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "040190001234"
    assert r.headers["x-road-id"] == "fed-1"
    # Both hubs logged the exchange, each in its own signed chain.
    with db.transaction(write=False) as s:
        mine = s.scalars(select(MessageLog)).all()
        assert [(e.peer, e.status, e.message_id) for e in mine] == [("VNX", 200, "fed-1")]
        assert msglog.verify(s).ok
    with nat_db.transaction(write=False) as s:
        theirs = s.scalars(select(MessageLog)).all()
        assert [(e.client, e.status, e.message_id) for e in theirs] == [(client_id, 200, "fed-1")]
        assert msglog.verify(s).ok
    # An operation without a grant at the national hub is refused there, and the refusal comes back.
    r = httpx.post(f"{live_server}/r1/{service}/echo", headers=headers, content=b"{}", timeout=20)
    assert r.status_code == 403 and r.json()["type"] == "Client.AccessDenied"
    # Calling the national hub directly with a forged hub token fails.
    r = httpx.get(
        f"{nat_url}/r1/{service}/citizens/1",
        headers={"X-Road-Client": client_id, "Authorization": "Bearer abc.def.ghi"},
        timeout=20,
    )
    assert r.status_code == 401 and r.json()["code"] == "invalid_hub_token"
    # If the national hub's answer cannot be authenticated, the province hub does not pass it on.
    with db.transaction() as s:
        s.scalar(select(Peer).where(Peer.instance == "VNX")).public_key_pem = _other_key()
    client.app.state.exchange.invalidate()  # the live server serves this same application
    r = httpx.get(f"{live_server}/r1/{service}/citizens/040190001234", headers=headers, timeout=20)
    assert r.status_code == 502 and r.json()["type"] == "Server.ClientProxy.PeerAuthenticationFailed"


def _other_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
