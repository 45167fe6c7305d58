"""CKAN's (Solr's) filter-query mini-language, the subset real clients send, parsed into plain terms.

Accepted: `field:value`, `field:"quoted value"`, `field:(a OR b)`, `field:[from TO to]` (`*` = open end),
a leading `+` (required) or `-` (negated), `A OR B` between terms, `AND`, and `*:*`. Anything else is a
Search Query Error that says where the query went wrong.
"""

from __future__ import annotations

import re

from tinhso.opendata.errors import SearchQueryError
from tinhso.opendata.search import FIELDS, SORT_FIELDS, Filters, SortKey, Term

_TERM = re.compile(
    r"""\s*(?:
        (?P<op>OR|AND|\|\||&&)(?=\s|$)
      | (?P<all>\*:\*)
      | (?P<sign>[+-]?)(?P<field>[A-Za-z_][A-Za-z0-9_.]*):
        (?P<value>"(?:[^"\\]|\\.)*"|\([^()]*\)|\[[^\[\]]*\]|[^\s()\[\]"]+)
    )""",
    re.VERBOSE,
)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _values(raw: str) -> tuple[list[str], tuple[str | None, str | None] | None]:
    if raw.startswith("["):
        inner = raw[1:-1].strip()
        parts = re.split(r"\s+TO\s+", inner)
        if len(parts) != 2 or not all(p.strip() for p in parts):
            raise SearchQueryError(detail=f"a range must read [from TO to], got {raw}")
        low, high = (p.strip() for p in parts)
        return [], (None if low == "*" else _unquote(low), None if high == "*" else _unquote(high))
    if raw.startswith("("):
        values = []
        for match in _QUOTED.finditer(raw[1:-1]):
            word = match.group(1) if match.group(1) is not None else match.group(2)
            if match.group(2) in ("OR", "||"):
                continue
            if match.group(2) in ("AND", "&&"):
                raise SearchQueryError(detail="only OR is supported inside parentheses")
            values.append(re.sub(r"\\(.)", r"\1", word))
        if not values:
            raise SearchQueryError(detail=f"empty group {raw}")
        return values, None
    return [_unquote(raw)], None


def parse_fq(text: str | list[str] | None) -> Filters:
    """Parse one `fq` string (or a list of them, CKAN's `fq_list`) into AND-ed groups of OR-ed terms."""
    filters = Filters()
    if not text:
        return filters
    for part in [text] if isinstance(text, str) else text:
        _parse_into(part, filters)
    return filters


def _parse_into(text: str, filters: Filters) -> None:
    pos, pending_or = 0, False
    length = len(text)
    while pos < length:
        if text[pos:].strip() == "":
            break
        match = _TERM.match(text, pos)
        if match is None:
            snippet = text[pos:].strip()[:40]
            raise SearchQueryError(detail=f"cannot parse fq near '{snippet}'")
        pos = match.end()
        if match.group("op"):
            if match.group("op") in ("OR", "||"):
                if not filters.groups:
                    raise SearchQueryError(detail="OR needs a term on its left")
                pending_or = True
            continue
        if match.group("all"):
            pending_or = False
            continue
        field = match.group("field")
        canonical = FIELDS.get(field)
        if canonical is None:
            raise SearchQueryError(detail=f"unknown field '{field}'; use one of {', '.join(sorted(FIELDS))}")
        values, rng = _values(match.group("value"))
        term = Term(canonical, values, rng, match.group("sign") == "-")
        if pending_or:
            filters.groups[-1].append(term)
            pending_or = False
        else:
            filters.groups.append([term])
    if pending_or:
        raise SearchQueryError(detail="OR needs a term on its right")


_Q_FIELD = re.compile(r'(?<!\S)([A-Za-z_][A-Za-z0-9_.]*):("(?:[^"\\]|\\.)*"|\([^()]*\)|\[[^\[\]]*\]|\S+)')


def parse_q(q: str | None) -> tuple[str, Filters]:
    """Split CKAN's `q` into free text and `field:value` filters (`*:*` means everything)."""
    if not q:
        return "", Filters()
    q = q.strip()
    if q in ("*:*", "*"):
        return "", Filters()
    filters = Filters()
    rest: list[str] = []
    last = 0
    for match in _Q_FIELD.finditer(q):
        field = match.group(1)
        if field not in FIELDS:
            continue
        rest.append(q[last : match.start()])
        last = match.end()
        values, rng = _values(match.group(2))
        filters.groups.append([Term(FIELDS[field], values, rng, False)])
    rest.append(q[last:])
    text = " ".join(rest)
    text = re.sub(r"(?<!\S)(AND|OR|&&|\|\|)(?!\S)", " ", text)
    return text.strip(), filters


def parse_sort(sort: str | None) -> list[SortKey]:
    """`field dir, field dir`; CKAN's default is `score desc, metadata_modified desc`."""
    if not sort or not sort.strip():
        sort = "score desc, metadata_modified desc"
    keys = []
    for part in sort.split(","):
        words = part.split()
        if not words or len(words) > 2:
            raise SearchQueryError(detail=f"invalid sort '{part.strip()}'")
        field = SORT_FIELDS.get(words[0])
        direction = words[1].lower() if len(words) == 2 else "asc"
        if field is None:
            raise SearchQueryError(
                detail=f"cannot sort by '{words[0]}'; use one of {', '.join(sorted(SORT_FIELDS))}"
            )
        if direction not in ("asc", "desc"):
            raise SearchQueryError(detail=f"sort direction must be asc or desc, got '{words[1]}'")
        keys.append(SortKey(field, direction == "desc"))
    return keys
