"""The platform's modules, in load order, and the hooks each may provide in `tinhso.<module>.plugin`.

A plugin module may define:
- `routers`: a list of FastAPI routers to mount;
- `cli`: a Typer app, mounted as `tinhso <module> ...`;
- `seed(session, demo: bool)`: reference data (demo=False) and demo data (demo=True);
- `subscribe(bus)`: register event subscribers;
- `startup(app)` / `shutdown(app)`: start and stop background work with the API process;
- `worker(stop_event, db)`: background work run by `tinhso worker` (and the demo process);
- `measures`: {measure_id: fn(session, since, until, agency_code) -> float | None} for the KPI engine;
- `reference_tables`, `body_limit_exempt`, `rate_limit_exempt`: see docs/developing.md.
Importing the plugin must import the module's models, so migrations and create_all see every table.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

MODULES = [
    "identity",
    "reference",
    "audit",
    "web",
    "exchange",
    "data",
    "opendata",
    "procedures",
    "governance",
    "environment",
    "assistant",
]

# Table-name prefixes owned by each migration branch (a branch per module, plus the foundation).
FOUNDATION_PREFIXES = ("kit_", "identity_", "reference_", "audit_", "web_")


def plugins() -> list[tuple[str, ModuleType]]:
    """The plugins of the modules that exist in this build, in load order."""
    found = []
    for name in MODULES:
        if importlib.util.find_spec(f"tinhso.{name}") is None:
            continue
        if importlib.util.find_spec(f"tinhso.{name}.plugin") is None:
            continue
        found.append((name, importlib.import_module(f"tinhso.{name}.plugin")))
    return found


def load_models() -> None:
    """Import every module's models so Base.metadata knows every table."""
    import tinhso.kit.audit  # noqa: F401
    import tinhso.kit.events  # noqa: F401
    import tinhso.kit.ratelimit  # noqa: F401

    plugins()
