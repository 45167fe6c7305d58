"""Alembic environment: every module's models, one branch per module."""

from __future__ import annotations

from alembic import context

from tinhso.kit.db import Base, make_engine
from tinhso.modules import load_models

load_models()
config = context.config
target_metadata = Base.metadata
prefixes = config.attributes.get("include_prefixes")


def include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001, ANN201
    if name == "alembic_version":
        return False
    if prefixes is None:
        return True
    table = obj.name if type_ == "table" else getattr(getattr(obj, "table", None), "name", name)
    return str(table).startswith(tuple(prefixes))


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    engine = make_engine(url=url)
    with engine.execution_options(tinhso_write=True).connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_object=include_object,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
