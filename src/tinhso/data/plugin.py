"""Data module hooks."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tinhso.data import models as _models  # noqa: F401
from tinhso.data.codelists import load_codelists
from tinhso.data.dictionary import load_entities

reference_tables = ("data_codelist",)


def seed(session: Session, demo: bool) -> None:
    if not demo:
        load_codelists(session)
        load_entities(session)
