"""A data-centre deployment on one machine: N API processes and one worker on PostgreSQL, NATS JetStream and
MQTT, behind nginx. The operator guide describes the same layout with systemd; tests start it with `start()`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

NGINX_CONF = """worker_processes 2;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log {root}/access.log;
  client_body_temp_path {root}/client_body;
  proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fastcgi;
  uwsgi_temp_path {root}/uwsgi;
  scgi_temp_path {root}/scgi;
  # The application enforces its own body limits (per exchange service, per upload).
  client_max_body_size 0;
  upstream tinhso {{
{servers}
    keepalive 32;
    # Below uvicorn's 5 s: nginx never reuses a connection the server is closing (a POST is not resent).
    keepalive_timeout 4s;
  }}
  server {{
    listen 127.0.0.1:{port};
    # Prometheus scrapes each process, not the public entry (the processes refuse the public as well).
    location = /metrics {{
      return 404;
    }}
    location / {{
      proxy_pass http://tinhso;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_read_timeout 120s;
      # A process that is restarting is skipped: requests go to the other one.
      proxy_next_upstream error timeout http_502 http_503;
      proxy_next_upstream_tries 3;
    }}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Deployment:
    """The running processes of one deployment."""

    root: Path
    env: dict[str, str]
    proxy_port: int
    api_ports: list[int]
    apis: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker: subprocess.Popen[bytes] | None = None
    nginx: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def nginx_conf(self) -> Path:
        return self.root / "nginx" / "nginx.conf"

    def write_proxy_conf(self, down: frozenset[int] = frozenset()) -> None:
        """nginx's configuration: every API process as an upstream, those in `down` taken out."""
        servers = "\n".join(
            f"    server 127.0.0.1:{p} max_fails=0{' down' if p in down else ''};" for p in self.api_ports
        )
        self.nginx_conf.parent.mkdir(exist_ok=True)
        self.nginx_conf.write_text(
            NGINX_CONF.format(root=self.nginx_conf.parent, servers=servers, port=self.proxy_port),
            encoding="utf-8",
        )

    def reload_proxy(self, down: frozenset[int] = frozenset()) -> None:
        """Reload nginx with `down` taken out, and wait until its old workers have finished every request they
        had (a graceful reload: new requests go to the new workers at once)."""
        assert self.nginx is not None
        before = set(children(self.nginx.pid))
        self.write_proxy_conf(down)
        self.nginx.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            now = set(children(self.nginx.pid))
            if now and not now & before:
                return
            time.sleep(0.1)
        raise TimeoutError("nginx did not finish reloading")

    def restart_api(self, index: int) -> None:
        """Replace one API process (a rolling restart) without failing a request: drain it from nginx first
        (a process that stops closes connections nginx may just have sent a request on, and nginx does not
        resend a POST), restart it, and put it back once it answers."""
        port = self.api_ports[index]
        self.reload_proxy(down=frozenset({port}))
        old = self.apis[index]
        old.send_signal(signal.SIGTERM)
        old.wait(timeout=60)
        self.apis[index] = _serve(self.env, port, self.root)
        _wait_http(f"http://127.0.0.1:{port}/readyz")
        self.reload_proxy()

    def stop(self) -> None:
        procs = [p for p in [self.nginx, self.worker, *self.apis] if p is not None]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def children(pid: int) -> list[int]:
    """Child processes of a process (Linux /proc): nginx's workers."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _tinhso(*args: str) -> list[str]:
    return [sys.executable, "-m", "tinhso.cli", *args]


def _serve(env: dict[str, str], port: int, root: Path) -> subprocess.Popen[bytes]:
    log = (root / f"api-{port}.log").open("ab")
    return subprocess.Popen(
        _tinhso("serve", "--host", "127.0.0.1", "--port", str(port)),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_http(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            resp = httpx.get(url, timeout=5)
            if resp.status_code == 200:
                return
            last = f"{resp.status_code} {resp.text[:500]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s (last: {last})")


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def start(
    root: Path,
    database_url: str,
    bus_url: str = "nats://127.0.0.1:4222",
    mqtt_url: str = "mqtt://127.0.0.1:1883",
    api_count: int = 2,
    seed_demo: bool = False,
) -> Deployment:
    """Migrate and seed the database, then start the API processes, the worker and nginx."""
    nginx = nginx_binary()
    if nginx is None:
        raise RuntimeError("nginx is not installed (apt-get install -y nginx)")
    root.mkdir(parents=True, exist_ok=True)
    proxy_port = free_port()
    env = {
        # Two malloc arenas instead of eight per core: with one arena per thread the worker's RSS kept growing
        # as free space inside its arenas (docs/operations.md, soak); the environment may override it.
        "MALLOC_ARENA_MAX": "2",
        **os.environ,
        "TINHSO_ENVIRONMENT": "production",
        "TINHSO_SECRET_KEY": secrets.token_urlsafe(48),
        "TINHSO_DATABASE_URL": database_url,
        "TINHSO_BUS_URL": bus_url,
        "TINHSO_MQTT_URL": mqtt_url,
        "TINHSO_VAR_DIR": str(root / "var"),
        "TINHSO_BASE_URL": f"http://127.0.0.1:{proxy_port}",
        # The worker process delivers events; API processes only write them to the outbox.
        "TINHSO_RUN_DISPATCHER": "false",
        "TINHSO_LOG_JSON": "true",
    }
    subprocess.run(_tinhso("migrate"), env=env, check=True, capture_output=True, timeout=300)
    subprocess.run(
        _tinhso("seed", *(["--demo"] if seed_demo else [])),
        env=env,
        check=True,
        capture_output=True,
        timeout=900,
    )
    # Once more right before the processes start: a no-op unless the installed code gained a migration while
    # the seed ran (the processes would then report it missing and never become ready).
    subprocess.run(_tinhso("migrate"), env=env, check=True, capture_output=True, timeout=300)
    dep = Deployment(
        root=root, env=env, proxy_port=proxy_port, api_ports=[free_port() for _ in range(api_count)]
    )
    try:
        dep.apis = [_serve(env, port, root) for port in dep.api_ports]
        # Only the worker ingests MQTT: a plain subscription, which Mosquitto restores after a restart of its own.
        worker_env = {**env, "TINHSO_RUN_DISPATCHER": "true", "TINHSO_ENV_MQTT_SHARED_SUBSCRIPTION": "false"}
        dep.worker = subprocess.Popen(
            _tinhso("worker"),
            env=worker_env,
            stdout=(root / "worker.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        for port in dep.api_ports:
            _wait_http(f"http://127.0.0.1:{port}/healthz")
        dep.write_proxy_conf()
        dep.nginx = subprocess.Popen(
            [nginx, "-p", str(dep.nginx_conf.parent), "-c", str(dep.nginx_conf), "-g", "daemon off;"],
            stdout=(root / "nginx.out").open("ab"),
            stderr=subprocess.STDOUT,
        )
        _wait_http(f"{dep.url}/readyz")
    except BaseException:
        dep.stop()
        raise
    return dep
