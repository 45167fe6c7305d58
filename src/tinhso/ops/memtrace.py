"""A diagnostic switch for memory growth in a long-running process (`tinhso worker`): with
`TINHSO_MEMTRACE_MINUTES=N` the process traces its Python allocations (tracemalloc) and every N minutes appends
to `<TINHSO_VAR_DIR>/memtrace-<pid>.txt` its resident memory, glibc's heap figures (bytes in use and free), the
source lines whose allocations grew most since the first report and the object types whose counts grew most.
Off by default: tracing slows allocation-heavy code.

Reading it: Python lines growing with the RSS point at a cache or a collection; an RSS that grows while the
traced memory and glibc's bytes in use stay flat (its free bytes growing instead) is heap fragmentation.
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

ENV = "TINHSO_MEMTRACE_MINUTES"


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_size_t)
        for n in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def heap() -> dict[str, int]:
    """glibc's main figures in bytes: heap obtained from the system, in use, free inside it, mmapped chunks."""
    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return {}
    fn.restype = _Mallinfo2
    m = fn()
    return {"heap": m.arena, "in_use": m.uordblks, "free": m.fordblks, "mmapped": m.hblkhd}


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def type_counts() -> Counter[str]:
    return Counter(type(o).__qualname__ for o in gc.get_objects())


def snapshot() -> tracemalloc.Snapshot:
    return tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]
    )


def report(base: tracemalloc.Snapshot, base_types: Counter[str], started: float, top: int = 25) -> str:
    snap = snapshot()
    current, peak = tracemalloc.get_traced_memory()
    lines = [
        f"== {(time.monotonic() - started) / 60:.1f} min  rss {rss_kib() / 1024:.1f} MiB  "
        f"traced {current / 2**20:.1f} MiB (peak {peak / 2**20:.1f})  "
        + "  ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in heap().items()),
        "-- lines whose allocations grew most since the first report:",
    ]
    lines += [f"  {s}" for s in snap.compare_to(base, "lineno")[:top]]
    types = type_counts()
    types.subtract(base_types)
    lines.append("-- object types whose counts grew most since the first report:")
    lines += [f"  {n}: {c:+d}" for n, c in types.most_common(15)]
    return "\n".join(lines) + "\n"


def start_from_env(var_dir: Path, stop: threading.Event) -> threading.Thread | None:
    """Start tracing and reporting if TINHSO_MEMTRACE_MINUTES is set to a positive number of minutes."""
    minutes = float(os.environ.get(ENV) or 0)
    if minutes <= 0:
        return None
    tracemalloc.start()
    out = var_dir / f"memtrace-{os.getpid()}.txt"
    started = time.monotonic()

    def loop() -> None:
        if stop.wait(minutes * 60):
            return
        base, base_types = snapshot(), type_counts()
        with out.open("a", encoding="utf-8") as f:
            f.write(report(base, base_types, started))
        while not stop.wait(minutes * 60):
            with out.open("a", encoding="utf-8") as f:
                f.write(report(base, base_types, started))

    t = threading.Thread(target=loop, name="memtrace", daemon=True)
    t.start()
    return t
