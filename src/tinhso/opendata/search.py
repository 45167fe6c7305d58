"""Dataset search behind one interface: accent- and case-insensitive full text over the folded `search_text`
(SQLite FTS5, PostgreSQL `to_tsvector('simple', …)`), filters, facets and stable deep paging.

The text is folded with `tinhso.kit.text.fold` when it is stored and when it is queried, so "dan so" finds
"Dân số" on both databases without any extension. Query words are reduced to letters and digits before they
reach the full-text syntax, so nothing a caller types is ever interpreted as SQL or as FTS operators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    and_,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from tinhso.identity.models import Agency
from tinhso.kit.text import fold
from tinhso.opendata.errors import SearchQueryError
from tinhso.opendata.licenses import ALIASES, resolve
from tinhso.opendata.models import Dataset, DatasetGroup, DatasetTag, Group, Organization, Resource

# Filter fields clients may name (CKAN's Solr field names and a few aliases) → canonical field.
FIELDS = {
    "organization": "organization",
    "owner_org": "organization",
    "groups": "groups",
    "tags": "tags",
    "res_format": "res_format",
    "license_id": "license_id",
    "name": "name",
    "id": "id",
    "metadata_modified": "metadata_modified",
    "metadata_created": "metadata_created",
    "capacity": "capacity",
    "state": "state",
    "dataset_type": "type",
    "type": "type",
    "frequency": "frequency",
}
SORT_FIELDS = {
    "score": "score",
    "metadata_modified": "metadata_modified",
    "metadata_created": "metadata_created",
    "name": "name",
    "title_string": "title",
    "title": "title",
    "id": "id",
}
FACET_FIELDS = ("organization", "groups", "tags", "res_format", "license_id")


@dataclass
class Term:
    field: str
    values: list[str]
    range: tuple[str | None, str | None] | None = None
    negate: bool = False


@dataclass
class Filters:
    """AND of groups; each group is an OR of terms."""

    groups: list[list[Term]] = field(default_factory=list)

    def extend(self, other: Filters) -> Filters:
        self.groups.extend(other.groups)
        return self

    def names(self, name: str) -> set[str]:
        return {t.field for g in self.groups for t in g} & {name}


@dataclass
class SortKey:
    field: str
    descending: bool


@dataclass
class SearchResult:
    ids: list[str]
    count: int
    facets: dict[str, list[tuple[str, str, int]]]  # field -> [(name, display name, count)]


def words_of(text: str) -> list[str]:
    """The folded words of a query: letters and digits only (the rest is punctuation to full text)."""
    return re.findall(r"[0-9a-z]+", fold(text))[:32]


def _parse_when(value: str, end: bool) -> datetime:
    raw = value.strip().upper()
    if raw.startswith("NOW"):
        now = datetime.now(UTC)
        match = re.fullmatch(r"NOW(?:([+-])(\d+)(DAYS?|HOURS?|MONTHS?|YEARS?))?(?:/DAY)?", raw)
        if not match:
            raise SearchQueryError(detail=f"invalid date '{value}'")
        if match.group(1):
            n = int(match.group(2)) * (1 if match.group(1) == "+" else -1)
            unit = match.group(3).rstrip("S")
            days = {"DAY": 1, "HOUR": 1 / 24, "MONTH": 30, "YEAR": 365}[unit]
            now += timedelta(days=n * days)
        return now
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            when = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return when + timedelta(days=1) - timedelta(microseconds=1) if end else when
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SearchQueryError(detail=f"invalid date '{value}'") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _term_condition(term: Term) -> ColumnElement[bool]:
    values = term.values
    cond: ColumnElement[bool]
    if term.field in ("metadata_modified", "metadata_created"):
        column = Dataset.metadata_modified if term.field == "metadata_modified" else Dataset.metadata_created
        low, high = term.range if term.range else (values[0], values[0])
        parts = []
        if low is not None:
            parts.append(column >= _parse_when(low, end=False))
        if high is not None:
            parts.append(column <= _parse_when(high, end=True))
        cond = and_(true(), *parts)
    elif term.range is not None:
        raise SearchQueryError(detail=f"ranges are only supported on dates, not on '{term.field}'")
    elif term.field == "organization":
        cond = Dataset.owner_org.in_(
            select(Organization.agency_code).where(
                or_(Organization.name.in_(values), Organization.agency_code.in_(values))
            )
        )
    elif term.field == "groups":
        cond = Dataset.id.in_(
            select(DatasetGroup.dataset_id)
            .join(Group, Group.id == DatasetGroup.group_id)
            .where(or_(Group.name.in_(values), Group.id.in_(values)))
        )
    elif term.field == "tags":
        cond = Dataset.id.in_(select(DatasetTag.dataset_id).where(DatasetTag.name.in_(values)))
    elif term.field == "res_format":
        cond = Dataset.id.in_(
            select(Resource.dataset_id).where(func.upper(Resource.format).in_([v.upper() for v in values]))
        )
    elif term.field == "license_id":
        cond = Dataset.license_id.in_([ALIASES.get(v, v) for v in values])
    elif term.field == "name":
        cond = Dataset.name.in_(values)
    elif term.field == "id":
        cond = Dataset.id.in_(values)
    elif term.field == "frequency":
        cond = Dataset.frequency.in_([v.upper() for v in values])
    elif term.field == "capacity":
        flags = {v.lower() for v in values}
        if not flags <= {"public", "private"}:
            raise SearchQueryError(detail="capacity is public or private")
        cond = or_(
            Dataset.private.is_(False) if "public" in flags else false(),
            Dataset.private.is_(True) if "private" in flags else false(),
        )
    elif term.field == "state":
        cond = Dataset.state.in_(values)
    elif term.field == "type":
        cond = true() if "dataset" in values else false()
    else:  # pragma: no cover - FIELDS and this function list the same fields
        raise SearchQueryError(detail=f"unknown field '{term.field}'")
    return not_(cond) if term.negate else cond


@dataclass
class Visibility:
    """Which datasets a caller may see: public ones, plus private ones of `private_orgs` (None = every org)."""

    include_private: bool = False
    private_orgs: set[str] | None = field(default_factory=set)
    states: tuple[str, ...] = ("active",)


def _base_conditions(filters: Filters, visibility: Visibility) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if not filters.names("state"):
        conds.append(Dataset.state.in_(visibility.states))
    if visibility.include_private:
        if visibility.private_orgs is None:
            pass
        else:
            conds.append(or_(Dataset.private.is_(False), Dataset.owner_org.in_(visibility.private_orgs)))
    else:
        conds.append(Dataset.private.is_(False))
    for group in filters.groups:
        conds.append(or_(*[_term_condition(t) for t in group]))
    return conds


# PostgreSQL only: a generated, stored `to_tsvector('simple', search_text)` with a GIN index (migration
# opendata_0003); kept out of the ORM model because SQLite has no such column.
SEARCH_VECTOR: Any = literal_column("opendata_dataset.search_vector")


class TextIndex:
    """The full-text part: a filter condition and a score column for the folded words of `q`.

    On SQLite the FTS5 match runs once, as an uncorrelated `rowid IN (…)` list, so the planner never probes
    the index row by row; the score (bm25) is joined only into the page query when sorting by relevance.
    """

    def __init__(self, dialect: str):
        self.dialect = dialect

    def _fts_match(self, words: list[str]) -> str:
        return " ".join(f'"{w}"*' for w in words)

    def condition(self, words: list[str]) -> ColumnElement[bool] | None:
        if not words:
            return None
        if self.dialect == "sqlite":
            matched = sql_text(
                "SELECT rowid FROM opendata_dataset_fts WHERE opendata_dataset_fts MATCH :fts_match"
            ).bindparams(fts_match=self._fts_match(words))
            return literal_column("opendata_dataset.rowid").in_(matched)
        query = func.to_tsquery("simple", " & ".join(f"{w}:*" for w in words))
        return SEARCH_VECTOR.op("@@")(query)

    def with_score(self, stmt: Any, words: list[str]) -> tuple[Any, ColumnElement[Any]]:
        if not words:
            return stmt, literal(0.0, Float)
        if self.dialect == "sqlite":
            fts = (
                sql_text(
                    "SELECT rowid AS rid, -bm25(opendata_dataset_fts) AS score FROM opendata_dataset_fts "
                    "WHERE opendata_dataset_fts MATCH :fts_score"
                )
                .bindparams(fts_score=self._fts_match(words))
                .columns(rid=Integer, score=Float)
                .subquery("fts")
            )
            stmt = stmt.join(fts, fts.c.rid == literal_column("opendata_dataset.rowid"))
            return stmt, fts.c.score
        query = func.to_tsquery("simple", " & ".join(f"{w}:*" for w in words))
        return stmt, func.ts_rank(SEARCH_VECTOR, query)


def search(
    session: Session,
    text: str,
    filters: Filters,
    *,
    sort: list[SortKey],
    rows: int,
    start: int,
    facet_fields: list[str] | None = None,
    facet_limit: int = 50,
    facet_mincount: int = 1,
    visibility: Visibility | None = None,
) -> SearchResult:
    """One page of dataset ids in a stable order (ties broken by id), the total, and the facets."""
    visibility = visibility or Visibility()
    for name in facet_fields or []:
        if name not in FACET_FIELDS:
            raise SearchQueryError(detail=f"cannot facet on '{name}'; use one of {', '.join(FACET_FIELDS)}")
    dialect = session.get_bind().dialect.name
    index = TextIndex(dialect)
    words = words_of(text)
    conds = _base_conditions(filters, visibility)

    base = list(conds)
    text_cond = index.condition(words)
    if text_cond is not None:
        conds.append(text_cond)
    stmt = select(Dataset.id).where(*conds)
    uses_score = any(key.field == "score" for key in sort)
    if uses_score and words and dialect == "sqlite":
        # The bm25 join already restricts to the matches: one FTS5 scan for the page, not two.
        page_stmt, score = index.with_score(select(Dataset.id).where(*base), words)
    elif uses_score:
        page_stmt, score = index.with_score(stmt, words)
    else:
        page_stmt, score = stmt, literal(0.0, Float)
    order = []
    for key in sort:
        column: Any = {
            "score": score,
            "metadata_modified": Dataset.metadata_modified,
            "metadata_created": Dataset.metadata_created,
            "name": Dataset.name,
            "title": Dataset.title,
            "id": Dataset.id,
        }[key.field]
        order.append(column.desc() if key.descending else column.asc())
    order.append(Dataset.id.asc())
    ids = list(session.scalars(page_stmt.order_by(*order).limit(rows).offset(start))) if rows > 0 else []
    count = session.scalar(select(func.count()).select_from(Dataset).where(*conds)) or 0

    facets: dict[str, list[tuple[str, str, int]]] = {}
    if facet_fields:
        matched = select(Dataset.id).where(*conds).scalar_subquery()
        for name in facet_fields:
            facets[name] = _facet(session, name, matched, facet_limit, facet_mincount)
    return SearchResult(ids, count, facets)


def _facet(
    session: Session, name: str, matched: Any, limit: int, mincount: int
) -> list[tuple[str, str, int]]:
    n: Any = func.count().label("n")
    stmt: Any
    if name == "organization":
        stmt = (
            select(Organization.name, Agency.name, n)
            .select_from(Dataset)
            .join(Organization, Organization.agency_code == Dataset.owner_org)
            .join(Agency, Agency.code == Dataset.owner_org)
            .where(Dataset.id.in_(matched))
            .group_by(Organization.name, Agency.name)
        )
    elif name == "groups":
        stmt = (
            select(Group.name, Group.title, n)
            .select_from(DatasetGroup)
            .join(Group, Group.id == DatasetGroup.group_id)
            .where(DatasetGroup.dataset_id.in_(matched))
            .group_by(Group.name, Group.title)
        )
    elif name == "tags":
        stmt = (
            select(DatasetTag.name, DatasetTag.name, n)
            .where(DatasetTag.dataset_id.in_(matched))
            .group_by(DatasetTag.name)
        )
    elif name == "res_format":
        fmt = func.upper(Resource.format)
        stmt = (
            select(fmt, fmt, func.count(func.distinct(Resource.dataset_id)).label("n"))
            .where(Resource.dataset_id.in_(matched), Resource.format.is_not(None), Resource.format != "")
            .group_by(fmt)
        )
        n = stmt.selected_columns[2]
    else:  # license_id
        stmt = (
            select(Dataset.license_id, Dataset.license_id, n)
            .where(Dataset.id.in_(matched), Dataset.license_id.is_not(None))
            .group_by(Dataset.license_id)
        )
    rows = session.execute(
        stmt.having(func.count() >= mincount).order_by(n.desc(), stmt.selected_columns[0]).limit(limit)
    )
    out = []
    for value, display, count in rows:
        if name == "license_id":
            lic = resolve(value)
            display = lic.title if lic else value
        out.append((str(value), str(display), int(count)))
    return out
