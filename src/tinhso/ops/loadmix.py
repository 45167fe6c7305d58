"""A realistic traffic mix against a running deployment (through its reverse proxy), for load and soak tests.

Actors come from the demo data the deployment was seeded with (`var/demo-credentials.json`): citizens submit
dossiers, officials of Sở Tư pháp move them through their workflow, the TTHC system calls a provider's API
through the exchange gateway, environmental stations post readings, and anonymous visitors read the portal and
search open data. The provider behind the gateway is a stand-in for an agency's system outside the platform,
started here as a small local HTTP server.

`run()` sends requests at a nominal rate (open loop) or as fast as N users go (closed loop) and returns, per
operation, counts, latencies and errors. `RssSampler` records the resident memory of the deployment's
processes, for soak runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tinhso.ops.datacentre import children, free_port

SIGNER_AGENCY = "000.00.05.H41"  # Sở Tư pháp: judicial record certificates
LLTP = "2.000488"
CONSUMER = ("000.00.01.H41", "TTHC")
PROVIDER = ("000.00.15.H41", "DANCU")
TOKEN_REFRESH_SECONDS = 600  # access tokens live 15 minutes

PAGES = ["/", "/thu-tuc", "/opendata", "/opendata/datasets?q=d%C3%A2n+s%E1%BB%91", "/environment"]
SEARCHES = ["dân số", "xã", "cơ quan", "diện tích", "hộ gia đình", "Vinh", "giáo dục", "y tế", "đất đai", ""]
DATASTORE_QUERIES = ["", "Vinh", "Diễn", "phường", "xã", "Nghi"]

# Operation weights of the mix (requests per 100): mostly reads, as on a portal's ordinary morning.
WEIGHTS = {
    "portal_page": 24,
    "opendata_package_search": 12,
    "opendata_datastore_search": 12,
    "dossier_submit": 4,
    "dossier_transition": 18,
    "dossier_queue": 4,
    "dossier_status": 4,
    "exchange_call": 12,
    "sensor_batch": 8,
    "baseline_healthz": 2,
}

UPSTREAM_SERVER = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Provider(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        if self.path.startswith("/citizens/"):
            cid = self.path.split("/")[2].split("?")[0]
            body = json.dumps({"so_dinh_danh": cid, "ho_ten": "Nguyễn Thị Hoa",
                               "noi_thuong_tru": "Xã Diễn Châu, tỉnh Nghệ An"}, ensure_ascii=False).encode()
        elif self.path == "/health":
            body = b'{"status":"ok"}'
        else:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Provider).serve_forever()
"""

OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "Tra cứu dân cư (tải thử)", "version": "1.0"},
    "paths": {
        "/citizens/{id}": {
            "get": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "Công dân"}},
            }
        }
    },
}


class SetupError(RuntimeError):
    pass


def start_provider(port: int | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    """The provider's API behind the gateway (a stand-in for an agency system outside the platform)."""
    port = port or free_port()
    proc = subprocess.Popen([sys.executable, "-c", UPSTREAM_SERVER, str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return url, proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SetupError("the provider stand-in did not start")


def _check(resp: httpx.Response, *ok: int) -> Any:
    if resp.status_code not in ok:
        raise SetupError(
            f"{resp.request.method} {resp.request.url.path}: {resp.status_code} {resp.text[:400]}"
        )
    return resp.json() if resp.content else None


@dataclass
class Actors:
    """Everything the mix needs: bearer headers per actor, device tokens, open-data resources, the service."""

    base_url: str
    passwords: dict[str, str]
    client: tuple[str, str]
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    devices: list[tuple[str, list[str]]] = field(default_factory=list)  # (token, parameters)
    resources: list[str] = field(default_factory=list)
    service_path: str = ""
    x_road_client: str = ""
    personal_ids: dict[str, str] = field(default_factory=dict)
    refreshed_at: float = 0.0

    def login(self, http: httpx.Client) -> None:
        """(Re)issue every actor's access token."""
        for user, password in self.passwords.items():
            tok = _check(
                http.post(
                    "/auth/token", data={"grant_type": "password", "username": user, "password": password}
                ),
                200,
            )
            self.headers[user] = {"Authorization": f"Bearer {tok['access_token']}"}
        tok = _check(
            http.post("/auth/token", data={"grant_type": "client_credentials"}, auth=self.client), 200
        )
        self.headers["TTHC"] = {"Authorization": f"Bearer {tok['access_token']}"}
        self.refreshed_at = time.monotonic()


def prepare(base_url: str, var_dir: Path, provider_url: str) -> Actors:
    """Read the demo credentials, sign the actors in, publish a service with a grant, find open data."""
    from tinhso.environment.demo import DEMO_STATIONS

    creds = json.loads((var_dir / "demo-credentials.json").read_text(encoding="utf-8"))
    people = creds["people"]
    users = ["admin", "congdan", "congdan2", "canbo.tuphap", "tuphap.admin"]
    system = creds["systems"][CONSUMER[1]]
    actors = Actors(
        base_url=base_url,
        passwords={u: people[u]["password"] for u in users},
        client=(system["client_id"], system["client_secret"]),
        personal_ids={"congdan": "040190001234", "congdan2": "040085004321"},
    )
    params = {code: list(p) for code, _n, _k, _c, _la, _lo, p, _o in DEMO_STATIONS}
    for code, entry in sorted(creds.get("environment_devices", {}).items()):
        if code in params:
            actors.devices.append((entry["token"], params[code]))
    if not actors.devices:
        raise SetupError("the deployment has no demo stations (seed it with --demo)")
    with httpx.Client(base_url=base_url, timeout=60, trust_env=False) as http:
        actors.login(http)
        found = _check(http.get("/api/3/action/package_search", params={"rows": 100}), 200)["result"]
        actors.resources = [
            r["id"] for d in found["results"] for r in d.get("resources", []) if r.get("datastore_active")
        ]
        if not actors.resources:
            raise SetupError("no open-data resource has a DataStore table (seed the demo data)")
        admin = actors.headers["admin"]
        code = f"tai{datetime.now(UTC):%H%M%S}{random.randrange(1000):03d}"
        svc = _check(
            http.post(
                "/api/v1/exchange/services",
                headers=admin,
                json={
                    "agency_code": PROVIDER[0],
                    "system_code": PROVIDER[1],
                    "code": code,
                    "title_vi": "Tra cứu công dân (tải thử)",
                    "upstream_url": provider_url,
                    "openapi": OPENAPI,
                    "classification": "personal",
                    "health_path": "/health",
                    "rate_limit_per_minute": 1_000_000,
                },
            ),
            201,
        )
        svc = _check(
            http.post(
                f"/api/v1/exchange/services/{svc['id']}/lifecycle", headers=admin, json={"state": "published"}
            ),
            200,
        )
        req = _check(
            http.post(
                "/api/v1/exchange/access-requests",
                headers=actors.headers["TTHC"],
                json={
                    "service_id": svc["id"],
                    "purpose": "Xác minh nhân thân khi giải quyết thủ tục hành chính",
                    "legal_basis": "Nghị định 47/2024/NĐ-CP",
                    "operations": [{"method": "GET", "path": "/citizens/{id}"}],
                },
            ),
            201,
        )
        _check(
            http.post(
                f"/api/v1/exchange/access-requests/{req['id']}/decision",
                headers=admin,
                json={"decision": "approve"},
            ),
            200,
        )
        actors.service_path = f"/r1/{svc['identifier']}"
        actors.x_road_client = f"VN/GOV/{CONSUMER[0]}/{CONSUMER[1]}"
    return actors


@dataclass
class OpStats:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    samples: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.samples) < 5:
            self.samples.append(what)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(p / 100 * len(v) + 0.5)) - 1))]


@dataclass
class Result:
    seconds: float
    stats: dict[str, OpStats]
    late_starts: int = 0
    dossiers_finished: int = 0

    @property
    def total(self) -> int:
        return sum(len(s.latencies_ms) + s.errors for s in self.stats.values())

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.stats.values())

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for name in sorted(self.stats):
            s = self.stats[name]
            n = len(s.latencies_ms) + s.errors
            out.append(
                {
                    "operation": name,
                    "requests": n,
                    "per_second": round(n / self.seconds, 2) if self.seconds else 0.0,
                    "p50_ms": round(percentile(s.latencies_ms, 50), 1),
                    "p95_ms": round(percentile(s.latencies_ms, 95), 1),
                    "p99_ms": round(percentile(s.latencies_ms, 99), 1),
                    "errors": s.errors,
                    "error_rate": round(s.errors / n, 4) if n else 0.0,
                    "error_samples": s.samples,
                }
            )
        return out

    def table(self) -> str:
        lines = [
            f"{'operation':<28}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
        ]
        for r in self.rows():
            lines.append(
                f"{r['operation']:<28}{r['requests']:>9}{r['per_second']:>8}{r['p50_ms']:>9}"
                f"{r['p95_ms']:>9}{r['p99_ms']:>9}{r['errors']:>8}"
            )
        lines.append(
            f"{'all':<28}{self.total:>9}{round(self.total / self.seconds, 2):>8}{'':>27}{self.errors:>8}"
        )
        return "\n".join(lines)


@dataclass
class Dossier:
    code: str
    version: int
    status: str


# The officials' path through a judicial record certificate: who acts at each status.
NEXT_STEP = {
    "received": ("assign", "canbo.tuphap"),
    "assigned": ("start_review", "canbo.tuphap"),
    "in_review": ("submit_for_signature", "canbo.tuphap"),
    "for_signature": ("sign", "tuphap.admin"),
    "result_ready": ("return_result", "canbo.tuphap"),
}


class Mix:
    """The operations of the mix; each sends one request and records it."""

    def __init__(self, actors: Actors, http: httpx.AsyncClient, seed: int = 4520) -> None:
        self.a = actors
        self.http = http
        self.rng = random.Random(seed)
        self.stats: dict[str, OpStats] = {name: OpStats() for name in WEIGHTS}
        self.ready: deque[Dossier] = deque()
        self.finished = 0
        self.submitted: list[str] = []
        self._tick = 0

    async def _send(self, op: str, method: str, url: str, ok: tuple[int, ...] = (200,), **kw: Any) -> Any:
        stats = self.stats[op]
        t = time.perf_counter()
        try:
            resp = await self.http.request(method, url, **kw)
        except httpx.HTTPError as exc:
            stats.error(f"{method} {url.split('?')[0]}: {type(exc).__name__}")
            return None
        ms = (time.perf_counter() - t) * 1000
        if resp.status_code not in ok:
            stats.error(f"{method} {url.split('?')[0]}: {resp.status_code} {resp.text[:200]}")
            return None
        stats.latencies_ms.append(ms)
        return resp

    async def portal_page(self) -> None:
        await self._send("portal_page", "GET", self.rng.choice(PAGES))

    async def opendata_package_search(self) -> None:
        q = self.rng.choice(SEARCHES)
        await self._send("opendata_package_search", "GET", "/api/3/action/package_search", params={"q": q})

    async def opendata_datastore_search(self) -> None:
        params = {
            "resource_id": self.rng.choice(self.a.resources),
            "q": self.rng.choice(DATASTORE_QUERIES),
            "limit": 20,
        }
        await self._send("opendata_datastore_search", "GET", "/api/3/action/datastore_search", params=params)

    async def dossier_submit(self) -> None:
        user = self.rng.choice(["congdan", "congdan2"])
        form = {
            "applicant_name": "Nguyễn Thị Hoa" if user == "congdan" else "Hồ Văn Bình",
            "personal_id": self.a.personal_ids[user],
            "address": "Phường Vinh Hưng, Nghệ An",
            "sheet_type": 1,
            "copies": 1,
        }
        resp = await self._send(
            "dossier_submit",
            "POST",
            "/api/v1/procedures/dossiers",
            ok=(201,),
            json={"procedure_code": LLTP, "form": form, "channel": 2},
            headers=self.a.headers[user],
        )
        if resp is not None:
            body = resp.json()
            self.ready.append(Dossier(body["code"], body["version"], body["status"]))
            self.submitted.append(body["code"])

    async def dossier_transition(self) -> None:
        if not self.ready:
            await self.dossier_submit()  # nothing waits for an official: a citizen comes in instead
            return
        d = self.ready.popleft()
        action, who = NEXT_STEP[d.status]
        resp = await self._send(
            "dossier_transition",
            "POST",
            f"/api/v1/procedures/dossiers/{d.code}/transitions",
            json={"action": action, "version": d.version, "note": ""},
            headers=self.a.headers[who],
        )
        if resp is None:
            return
        body = resp.json()
        d.version, d.status = body["version"], body["status"]
        if d.status in NEXT_STEP:
            self.ready.appendleft(d)  # the official carries on with the same dossier
        else:
            self.finished += 1

    async def dossier_queue(self) -> None:
        await self._send(
            "dossier_queue",
            "GET",
            "/api/v1/procedures/dossiers",
            params={"page_size": 20},
            headers=self.a.headers["canbo.tuphap"],
        )

    async def dossier_status(self) -> None:
        if not self.submitted:
            await self.portal_page()
            return
        code = self.rng.choice(self.submitted[-200:])
        await self._send("dossier_status", "GET", f"/api/v1/procedures/status/{code}")

    async def exchange_call(self) -> None:
        cid = f"0401{self.rng.randrange(10**8):08d}"
        headers = {**self.a.headers["TTHC"], "X-Road-Client": self.a.x_road_client}
        await self._send("exchange_call", "GET", f"{self.a.service_path}/citizens/{cid}", headers=headers)

    async def sensor_batch(self) -> None:
        from tinhso.environment.simulator import readings_at

        token, parameters = self.a.devices[self._tick % len(self.a.devices)]
        self._tick += 1
        t = datetime.now(UTC).replace(microsecond=(self._tick * 997) % 1_000_000)
        await self._send(
            "sensor_batch",
            "POST",
            "/api/v1/environment/ingest",
            json={"readings": readings_at("LOAD", parameters, t)},
            headers={"Authorization": f"Bearer {token}"},
        )

    async def baseline_healthz(self) -> None:
        await self._send("baseline_healthz", "GET", "/healthz")

    def pick(self) -> Callable[[], Awaitable[None]]:
        name = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        return getattr(self, name)  # type: ignore[no-any-return]


async def _refresher(actors: Actors, stop: asyncio.Event) -> None:
    """Sign the actors in again before their access tokens expire (a long soak outlives them)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=30)
        if time.monotonic() - actors.refreshed_at > TOKEN_REFRESH_SECONDS:
            await asyncio.to_thread(_relogin, actors)


def _relogin(actors: Actors) -> None:
    with httpx.Client(base_url=actors.base_url, timeout=60, trust_env=False) as http:
        actors.login(http)


async def _run(
    actors: Actors,
    seconds: float,
    rate: float | None,
    users: int,
    on_tick: Callable[[float], None] | None,
    stop_when: threading.Event | None,
) -> Result:
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(
        base_url=actors.base_url, timeout=60, limits=limits, trust_env=False
    ) as http:
        mix = Mix(actors, http)
        stop = asyncio.Event()
        refresher = asyncio.create_task(_refresher(actors, stop))
        late = 0
        t0 = time.monotonic()
        end = t0 + seconds
        if rate:  # open loop: arrivals at the nominal rate, at most `users` in flight
            sem = asyncio.Semaphore(users)
            tasks: set[asyncio.Task[None]] = set()

            async def one(op: Callable[[], Awaitable[None]]) -> None:
                try:
                    await op()
                finally:
                    sem.release()

            k = 0
            last_tick = t0
            while True:
                due = t0 + k / rate
                if due >= end or time.monotonic() >= end or (stop_when is not None and stop_when.is_set()):
                    break
                now = time.monotonic()
                if due > now:
                    await asyncio.sleep(due - now)
                elif now - due > 1.0:
                    late += 1
                await sem.acquire()
                task = asyncio.create_task(one(mix.pick()))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                k += 1
                if on_tick and time.monotonic() - last_tick >= 5:
                    last_tick = time.monotonic()
                    on_tick(last_tick - t0)
            if tasks:
                await asyncio.gather(*tasks)
        else:  # closed loop: `users` callers, each sending its next request when the last one answered

            async def user() -> None:
                while time.monotonic() < end and not (stop_when is not None and stop_when.is_set()):
                    await mix.pick()()

            await asyncio.gather(*(user() for _ in range(users)))
        elapsed = time.monotonic() - t0
        stop.set()
        await refresher
    mix.stats = {k: v for k, v in mix.stats.items() if v.latencies_ms or v.errors}
    return Result(seconds=elapsed, stats=mix.stats, late_starts=late, dossiers_finished=mix.finished)


def run(
    actors: Actors,
    seconds: float,
    rate: float | None = None,
    users: int = 32,
    on_tick: Callable[[float], None] | None = None,
    stop_when: threading.Event | None = None,
) -> Result:
    """Drive the mix for `seconds` (or until `stop_when` is set): at `rate` requests per second (open loop),
    or with `users` closed-loop callers when `rate` is None."""
    return asyncio.run(_run(actors, seconds, rate, users, on_tick, stop_when))


def rss_kib(pid: int) -> int:
    """Resident memory of a process (Linux /proc), 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class RssSampler:
    """Samples the resident memory of named processes (a process's children count with it: nginx workers)."""

    pids: dict[str, int]
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)

    def sample(self, at: float) -> dict[str, int]:
        row = {name: rss_kib(pid) + sum(rss_kib(c) for c in children(pid)) for name, pid in self.pids.items()}
        self.samples.append((at, row))
        return row

    def growth(self, baseline_index: int = 0) -> dict[str, dict[str, float]]:
        """Per process: RSS at the baseline sample and at the last, and the growth in per cent."""
        if len(self.samples) <= baseline_index:
            return {}
        base, last = self.samples[baseline_index][1], self.samples[-1][1]
        return {
            name: {
                "start_mib": round(base[name] / 1024, 1),
                "end_mib": round(last[name] / 1024, 1),
                "max_mib": round(max(s[1][name] for s in self.samples) / 1024, 1),
                "growth_pct": round((last[name] - base[name]) / base[name] * 100, 1) if base[name] else 0.0,
            }
            for name in self.pids
        }
