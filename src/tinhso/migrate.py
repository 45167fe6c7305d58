"""Schema migrations (Alembic): one branch per module, all upgraded together to `heads`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from sqlalchemy.engine import Connection

from tinhso.settings import get_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def version_locations() -> list[Path]:
    """The platform's migrations, then any extra directories of TINHSO_MIGRATION_DIRS."""
    extra = [Path(p) for p in get_settings().migration_dirs.split(os.pathsep) if p.strip()]
    return [MIGRATIONS / "versions", *extra]


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("version_path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in version_locations()))
    cfg.set_main_option("sqlalchemy.url", url or get_settings().effective_database_url)
    return cfg


def upgrade(url: str | None = None, targets: Sequence[str] = ("heads",)) -> None:
    """Upgrade to each target in turn (`heads`, a revision, `<branch>@<revision>`); never downgrades."""
    cfg = alembic_config(url)
    for target in targets:
        command.upgrade(cfg, target)


def known_scripts() -> ScriptDirectory:
    """The migrations this process's code knows, read once: a release installed over the running one (new files
    on disk) must not change what a running process reports until it restarts."""
    return _scripts(tuple(str(p) for p in version_locations()))


@lru_cache(maxsize=4)
def _scripts(locations: tuple[str, ...]) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revisions() -> set[str]:
    return set(known_scripts().get_heads())


def current_revisions(conn: Connection) -> set[str]:
    """Every revision applied: the stored heads and all they stand on, dependencies included."""
    return applied_revisions(conn)[0]


def applied_revisions(conn: Connection) -> tuple[set[str], set[str]]:
    """(every applied revision this code knows, stored heads it does not know).

    Unknown heads mean the database is ahead of this code: a newer release's migrations were applied while
    this one still serves (expand, migrate, contract). What they stand on cannot be told from here.
    """
    stored = MigrationContext.configure(conn).get_current_heads()
    rmap = known_scripts().revision_map
    known = [r for r in stored if _known(rmap, r)]
    nodes = rmap._get_ancestor_nodes(rmap.get_revisions(known), include_dependencies=True)
    return {r.revision for r in nodes if r is not None}, set(stored) - set(known)


def _known(rmap: Any, revision: str) -> bool:
    try:
        return rmap.get_revision(revision) is not None
    except ResolutionError:
        return False


def contract_revisions() -> set[str]:
    """Revisions that only remove what older code read (their module says `contract = True`). They are applied
    after every process runs the release that no longer reads it; running code never waits for them."""
    script = known_scripts()
    return {r.revision for r in script.walk_revisions() if getattr(r.module, "contract", False) is True}


def all_revisions() -> set[str]:
    return {r.revision for r in known_scripts().walk_revisions()}


def make_migration(module: str, message: str, url: str | None = None) -> None:
    """Autogenerate the next migration of one module's branch, looking only at that module's tables."""
    from tinhso.modules import FOUNDATION_PREFIXES

    cfg = alembic_config(url)
    branch = "foundation" if module == "foundation" else module
    prefixes = FOUNDATION_PREFIXES if module == "foundation" else (f"{module}_",)
    cfg.attributes["include_prefixes"] = prefixes
    script = ScriptDirectory.from_config(cfg)
    existing = [r for r in script.walk_revisions() if branch in (r.branch_labels or ())]
    labelled = {label for r in script.walk_revisions() for label in (r.branch_labels or ())}
    number = len([r for r in script.walk_revisions() if r.revision.startswith(f"{branch}_")]) + 1
    kwargs: dict = {"message": message, "autogenerate": True, "rev_id": f"{branch}_{number:04d}"}
    if branch in labelled or existing:
        kwargs["head"] = f"{branch}@head"
    else:
        kwargs["head"] = "base"
        kwargs["branch_label"] = branch
        if branch != "foundation":
            kwargs["depends_on"] = [script.get_revisions("foundation@head")[0].revision]
    command.revision(cfg, **kwargs)
