"""Request-scoped dependencies shared by every module: the database session owned by the request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from tinhso.kit.db import Database


def get_db(request: Request) -> Database:
    return request.app.state.db


def _write_session(request: Request) -> Iterator[Session]:
    # The request owns the transaction: commit when the handler returns, roll back on any error.
    with get_db(request).transaction(write=True) as session:
        yield session


def _read_session(request: Request) -> Iterator[Session]:
    with get_db(request).transaction(write=False) as session:
        yield session


# scope="function": commit (or roll back) before the response is sent, so a client never sees success for a
# write that is not yet durable (FastAPI runs request-scoped teardown after the response).
SessionDep = Annotated[Session, Depends(_write_session, scope="function")]
"""The default: safe for reads and writes (on SQLite it takes the write lock up front)."""

ReadSessionDep = Annotated[Session, Depends(_read_session, scope="function")]
"""For public read-only endpoints that never write, not even an audit entry (lets SQLite readers run together)."""

DatabaseDep = Annotated[Database, Depends(get_db)]
