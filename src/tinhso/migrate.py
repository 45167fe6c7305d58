"""Schema migrations (Alembic): one branch per module, all upgraded together to `heads`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from tinhso.settings import get_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("version_locations", str(MIGRATIONS / "versions"))
    cfg.set_main_option("sqlalchemy.url", url or get_settings().effective_database_url)
    return cfg


def upgrade(url: str | None = None) -> None:
    command.upgrade(alembic_config(url), "heads")


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(conn: Connection) -> set[str]:
    """Every revision applied: the stored heads and all they stand on, dependencies included."""
    stored = MigrationContext.configure(conn).get_current_heads()
    rmap = ScriptDirectory.from_config(alembic_config()).revision_map
    nodes = rmap._get_ancestor_nodes(rmap.get_revisions(stored), include_dependencies=True)
    return {r.revision for r in nodes if r is not None}


def all_revisions() -> set[str]:
    return {r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


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
