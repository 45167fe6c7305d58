"""Real processes for the crash and restart tests.

`Platform` runs `tinhso serve` and `tinhso worker` as child processes against a test database (the layout of
`tinhso.ops.datacentre`, without the proxy) and kills them with SIGKILL. `PrivatePostgres`, `PrivateNats` and
`PrivateMosquitto` are throw-away instances in a temporary directory on a free port, which a test may stop and
start at will; the shared services on the standard ports are never touched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine

from tinhso.kit.db import Database
from tinhso.ops.datacentre import _serve, _tinhso

PORTS = range(18200, 18300)  # the ports these tests may listen on


def free_port() -> int:
    """A free port of this suite's range (servers started by these tests listen there)."""
    import random
    import socket

    start = random.randrange(len(PORTS))  # noqa: S311 - spreading, not a secret
    for i in range(len(PORTS)):
        port = PORTS[(start + i) % len(PORTS)]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18200-18299")


def wait_for(check: Callable[[], Any], timeout: float = 60.0, every: float = 0.1, what: str = "") -> Any:
    """Poll `check` until it returns something truthy; fail with `what` when it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(every)


def database_url(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


class Platform:
    """One API process and one worker on a database; each can be killed (SIGKILL) and started again."""

    def __init__(self, root: Path, db_url: str, **env: str):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            # The test environment: what differs from production is only the warm-up of the assistant's index
            # at start (CPU these tests do not need) and the environment module's MQTT default (set below).
            "TINHSO_ENVIRONMENT": "test",
            "TINHSO_SECRET_KEY": secrets.token_urlsafe(48),
            "TINHSO_DATABASE_URL": db_url,
            "TINHSO_BUS_URL": "inprocess://",
            "TINHSO_ENV_MQTT_ENABLED": "false",
            "TINHSO_RUN_DISPATCHER": "false",
            "TINHSO_LOG_JSON": "true",
            "TINHSO_LOG_LEVEL": "WARNING",
            "TINHSO_OUTBOX_POLL_SECONDS": "0.2",
            # Files (warehouse, uploads, reports) of these processes stay in the test's own directory.
            "TINHSO_VAR_DIR": str(root / "var"),
        } | env
        self.api_port = free_port()
        self.api: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self._worker_log = root / "worker.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, trust_env=False)

    def start_api(self) -> str:
        self.api = _serve(self.env, self.api_port, self.root)
        api = self.api

        def up() -> bool:
            assert api.poll() is None, self.logs()
            try:
                return httpx.get(f"{self.url}/healthz", timeout=5, trust_env=False).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 120, 0.2, what=f"the API on {self.url}")
        return self.url

    def start_worker(self) -> None:
        offset = self._worker_log.stat().st_size if self._worker_log.exists() else 0
        self.worker = subprocess.Popen(
            _tinhso("worker"),
            env=self.env | {"TINHSO_RUN_DISPATCHER": "true"},
            stdout=self._worker_log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for(
            lambda: (
                "worker running" in self._worker_log.read_bytes()[offset:].decode(errors="replace")
                or self.worker is None
                or self.worker.poll() is not None
            ),
            timeout=120,
            what="the worker to start",
        )
        assert self.worker.poll() is None, self.logs()

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes] | None) -> None:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)

    def kill_api(self) -> None:
        self._kill(self.api)
        self.api = None

    def kill_worker(self) -> None:
        self._kill(self.worker)
        self.worker = None

    def stop(self) -> None:
        for proc in (self.api, self.worker):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (self.api, self.worker):
            if proc is None:
                continue
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.api = self.worker = None

    def logs(self) -> str:
        out = []
        for f in sorted(self.root.glob("*.log")):
            out.append(f"--- {f.name}\n{f.read_text(errors='replace')[-4000:]}")
        return "\n".join(out)


@contextlib.contextmanager
def platform(
    root: Path, db: Database, api: bool = True, worker: bool = False, **env: str
) -> Iterator[Platform]:
    p = Platform(root, database_url(db), **env)
    try:
        if api:
            p.start_api()
        if worker:
            p.start_worker()
        yield p
    finally:
        p.stop()


# ------------------------------------------------------------------------------------- holding a lock


@contextlib.contextmanager
def hold_lock(db: Database, sql_pg: str, params: dict[str, Any] | None = None) -> Iterator[Connection]:
    """Block the platform's writers at a known point: on PostgreSQL run `sql_pg` (a row or table lock) in an
    open transaction; on SQLite take the database's write lock. Released (rolled back) on exit."""
    conn = db.engine.connect()
    try:
        conn.begin()  # on SQLite the engine begins writers with BEGIN IMMEDIATE: the write lock is ours
        if db.dialect == "postgresql":
            conn.execute(text(sql_pg), params or {})
        yield conn
    finally:
        with contextlib.suppress(Exception):
            conn.rollback()
        conn.close()


def lock_waiters(db: Database, like: str) -> int:
    """PostgreSQL: how many other sessions wait for a lock while running a statement matching `like`."""
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND pid <> pg_backend_pid() AND query ILIKE :like"
                ),
                {"like": like},
            ).scalar_one()
        )


def wait_blocked(db: Database, like: str, timeout: float = 60.0, settle: float = 1.5) -> None:
    """Wait until a platform process is stuck on the held lock: observed on PostgreSQL; on SQLite (where a
    waiter cannot be seen) give the request `settle` seconds to reach the lock."""
    if db.dialect == "postgresql":
        wait_for(lambda: lock_waiters(db, like) > 0, timeout, what=f"a session blocked on {like}")
    else:
        time.sleep(settle)


# ------------------------------------------------------------------------------------- private services


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries are not installed (/usr/lib/postgresql/*/bin)")
    return found[-1].parent


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb in a temporary directory), stoppable without harm to others."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "pgdata"
        self.port = free_port()
        self.bin = _pg_bin()
        root.mkdir(parents=True, exist_ok=True)
        # The server refuses to run as root; in CI containers the tests run as root.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(root, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as, str(self.bin / tool), *args], check=True, capture_output=True, timeout=120)

    def url(self, name: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "pg.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def crash(self) -> None:
        """Kill the postmaster with SIGKILL (no shutdown checkpoint: the next start replays the WAL)."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(pid), 30, what="the postmaster to die")
        # Its backends notice the postmaster is gone and exit; wait until the port is free again.
        time.sleep(0.5)

    def admin(self) -> Engine:
        return create_engine(self.url(), isolation_level="AUTOCOMMIT")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child still answers kill(0); it is dead for our purpose.
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        return state != "Z"
    return False


class _Server:
    """A broker process on a private port that can be stopped (SIGKILL) and started again."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        command = self.command()
        self.proc = subprocess.Popen(
            command, stdout=(self.root / "server.log").open("ab"), stderr=subprocess.STDOUT
        )
        wait_for(self._listening, 30, what=f"{command[0]} on port {self.port}")

    def _listening(self) -> bool:
        import socket

        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


class PrivateNats(_Server):
    """nats-server with JetStream, its store in the temporary directory (kept across restarts)."""

    def command(self) -> list[str]:
        exe = shutil.which("nats-server") or "/usr/sbin/nats-server"
        return [exe, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.root / "js")]

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


class PrivateMosquitto(_Server):
    """Mosquitto with persistence, so persistent sessions and their queued messages survive a restart."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.conf = self.root / "mosquitto.conf"
        store = Path(tempfile.mkdtemp(prefix="tinhso-mqtt-"))
        if os.geteuid() == 0:
            # Started as root, mosquitto drops to its own user, which must be able to write the store.
            with contextlib.suppress(LookupError, PermissionError):
                shutil.chown(store, "mosquitto")
        self.store = store
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {store}/\nautosave_interval 1\nautosave_on_changes false\n"
            "log_type all\n",
            encoding="utf-8",
        )

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def command(self) -> list[str]:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        return [exe, "-c", str(self.conf)]

    def stop(self) -> None:
        super().stop()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.store, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"
