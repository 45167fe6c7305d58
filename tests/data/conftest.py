"""Data module fixtures: the dictionary's entities, and an emptied warehouse after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tinhso.data import warehouse
from tinhso.data.dictionary import load_entities
from tinhso.kit.db import Database


@pytest.fixture
def data_db(db: Database) -> Iterator[Database]:
    with db.transaction() as session:
        load_entities(session)
    yield db
    path = warehouse.path_for_engine(db.engine)
    with warehouse.writer(path) as wh:
        cur = wh.con
        for (name,) in cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='main'"
        ).fetchall():
            cur.execute(f'DROP TABLE "{name}"')
