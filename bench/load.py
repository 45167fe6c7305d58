"""Load and soak of the data-centre deployment: two API processes and a worker behind nginx, on PostgreSQL,
NATS JetStream and Mosquitto, seeded with the demo data, driven by a realistic mix (tinhso.ops.loadmix):
portal pages, open-data search (CKAN package_search, datastore_search), dossier submissions and their
workflow transitions, exchange gateway calls to a provider's API, sensor readings, and /healthz as the
baseline (the cheapest request through the proxy).

    .venv/bin/python bench/load.py                     # nominal rate (8 req/s) 120 s, then capacity 60 s
    .venv/bin/python bench/load.py --small             # nominal rate 20 s (CI)
    .venv/bin/python bench/load.py --soak-minutes 30   # nominal rate for 30 minutes, RSS of every process

Reports per operation: requests, throughput, p50/p95/p99 and errors; the soak adds each process's resident
memory at the start (after a warm-up), at the end and its growth. Goals (issue 10): 0 errors at the nominal
rate; memory growth ≤ 10 % over the soak. Exits 1 when a goal is missed. Everything runs on this machine,
load generator included: read latencies against the baseline row and the load average printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy

from tinhso.ops import loadmix, memtrace
from tinhso.ops.datacentre import start

PG_ADMIN = os.environ.get(
    "TINHSO_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


class PrivateCluster:
    """A PostgreSQL cluster of the bench's own (initdb in a temporary directory): the deployment's connection
    pools (up to 30 per API process) must not crowd other users of a shared server."""

    def __init__(self, root: Path, port: int) -> None:
        self.data, self.port = root / "pgdata", port
        self.bin = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1].parent
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # never as root
        root.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            shutil.chown(root, "postgres")
        self._tool("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=300"
        self._tool("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(root / "pg.log"), "-w", "start")

    def _tool(self, name: str, *args: str) -> None:
        subprocess.run(
            [*self.run_as, str(self.bin / name), *args], check=True, capture_output=True, timeout=300
        )

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        self._tool("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def phase(name: str, result: loadmix.Result) -> dict[str, Any]:
    print(f"\n== {name}: {result.seconds:.0f} s, load average {loadavg()}")
    print(result.table())
    if result.late_starts:
        print(f"({result.late_starts} arrivals started more than 1 s late: the generator fell behind)")
    for row in result.rows():
        for s in row["error_samples"]:
            print(f"  error {row['operation']}: {s}")
    return {
        "seconds": round(result.seconds, 1),
        "load_average_end": loadavg(),
        "requests": result.total,
        "errors": result.errors,
        "dossiers_finished": result.dossiers_finished,
        "operations": result.rows(),
    }


def main() -> int:  # noqa: PLR0915
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="CI size: 20 s at the nominal rate")
    ap.add_argument(
        "--rate", type=float, default=None, help="nominal requests per second (default 8; 6 small)"
    )
    ap.add_argument(
        "--seconds", type=float, default=None, help="nominal phase length (default 120; 20 small)"
    )
    ap.add_argument("--users", type=int, default=16, help="closed-loop callers in the capacity phase")
    ap.add_argument("--capacity-seconds", type=float, default=60, help="0 skips the capacity phase")
    ap.add_argument("--soak-minutes", type=float, default=0, help="run a soak instead of the load phases")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument(
        "--pg-admin-url",
        default=None,
        help="use this PostgreSQL server (default: a private cluster on --pg-port)",
    )
    ap.add_argument("--pg-port", type=int, default=18310, help="port of the private cluster")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    rate = args.rate or (6.0 if args.small else 8.0)
    seconds = args.seconds or (20.0 if args.small else 120.0)

    # Every simulated visitor comes from this machine's address: lift the per-address request budget (the
    # per-credential budgets stay, and every actor of the mix keeps below them at the nominal rate).
    os.environ.setdefault("TINHSO_RATE_LIMIT_PER_ADDRESS", "1000000")
    tmp = Path(tempfile.mkdtemp(prefix="tinhso-load-"))
    tmp.chmod(0o755)  # the private cluster runs as the postgres user
    report: dict[str, Any] = {"load_average_start": loadavg(), "cpus": os.cpu_count(), "rate": rate}
    cluster = provider = dep = None
    name = f"tinhso_load_{uuid.uuid4().hex[:8]}"
    ok = True
    try:
        cluster = None if args.pg_admin_url else PrivateCluster(tmp / "pg", args.pg_port)
        admin_url = args.pg_admin_url or (cluster.admin_url if cluster else "")
        admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        url = admin_url.rsplit("/", 1)[0].replace("+psycopg", "") + f"/{name}"
        t = time.monotonic()
        dep = start(Path(tmp) / "dc", url, seed_demo=True)
        print(f"deployment up in {time.monotonic() - t:.0f} s at {dep.url} (APIs {dep.api_ports})")
        provider_url, provider = loadmix.start_provider()
        actors = loadmix.prepare(dep.url, Path(dep.env["TINHSO_VAR_DIR"]), provider_url)
        loadmix.run(actors, 5, rate=rate, users=args.users)  # warm-up: connections, caches, JIT of plans
        assert dep.worker is not None and dep.nginx is not None
        pids = {f"api-{p}": proc.pid for p, proc in zip(dep.api_ports, dep.apis, strict=True)}
        pids |= {"worker": dep.worker.pid, "nginx": dep.nginx.pid}
        if args.soak_minutes:
            sampler = loadmix.RssSampler(pids)
            sampler.sample(0)
            every = 30.0 if args.soak_minutes >= 5 else 5.0
            state = {"next": every}

            def tick(at: float) -> None:
                if at >= state["next"]:
                    state["next"] += every
                    row = sampler.sample(at)
                    print(
                        f"  {at / 60:5.1f} min  rss MiB "
                        + " ".join(f"{k}={v / 1024:.0f}" for k, v in row.items())
                    )

            result = loadmix.run(actors, args.soak_minutes * 60, rate=rate, users=64, on_tick=tick)
            sampler.sample(result.seconds)
            report["soak"] = phase(f"soak at {rate:g} req/s", result)
            # Growth is judged from the first sample after a warm-up (a tenth of the soak, at most 3 min):
            # caches fill and pools open in the first minutes; growth after that is what leaks look like.
            warm = next(
                (i for i, (at, _) in enumerate(sampler.samples) if at >= min(180, args.soak_minutes * 6)),
                0,
            )
            report["soak"]["rss_from_warm"] = sampler.growth(warm)
            report["soak"]["rss_from_start"] = sampler.growth(0)
            report["soak"]["rss_samples"] = sampler.samples
            print(f"\nresident memory (from {sampler.samples[warm][0] / 60:.1f} min to the end):")
            for proc_name, g in report["soak"]["rss_from_warm"].items():
                print(
                    f"  {proc_name:<12}{g['start_mib']:>8} MiB -> {g['end_mib']:>8} MiB "
                    f"(max {g['max_mib']}) {g['growth_pct']:+.1f} %"
                )
            grown = [n for n, g in report["soak"]["rss_from_warm"].items() if g["growth_pct"] > 10]
            ok = result.errors == 0 and not grown
        else:
            nominal = loadmix.run(actors, seconds, rate=rate, users=64)
            report["nominal"] = phase(f"nominal rate {rate:g} req/s", nominal)
            ok = nominal.errors == 0
            if args.capacity_seconds and not args.small:
                capacity = loadmix.run(actors, args.capacity_seconds, rate=None, users=args.users)
                report["capacity"] = phase(f"capacity, {args.users} closed-loop callers", capacity)
    finally:
        if provider is not None:
            provider.terminate()
            provider.wait(timeout=10)
        if dep is not None:
            dep.stop()
        if cluster is not None:
            cluster.stop()
        elif args.pg_admin_url:
            admin = sqlalchemy.create_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        if ok and not os.environ.get(memtrace.ENV):
            shutil.rmtree(tmp, ignore_errors=True)
        else:  # keep the processes' logs (nginx error.log, api-*.log, var/memtrace-*.txt) for the diagnosis
            shutil.rmtree(tmp / "pg", ignore_errors=True)
            print(f"logs kept in {tmp / 'dc'}")
    report["load_average_end"] = loadavg()
    print(f"\nload average: start {report['load_average_start']}, end {report['load_average_end']}")
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print("goals met" if ok else "GOAL MISSED: errors at the nominal rate or memory growth above 10 %")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
