"""Governance fixtures: the roadmap's tasks (emptied after each test like any non-reference table)."""

from __future__ import annotations

import pytest

from tinhso.governance import roadmap
from tinhso.kit.db import Database


@pytest.fixture
def tasks(db: Database) -> Database:
    with db.transaction() as session:
        report = roadmap.load_bundled(session)
    assert report.created + report.updated == 142
    return db
