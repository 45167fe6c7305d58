"""Standardisation of ingested chunks: each chunk's column is standardised and validated against its dictionary
entity, column by column, with Arrow.

A column is dictionary-encoded, so the work is done once per *distinct* value of the chunk and mapped back to the
rows with one `take`. Among the distinct values, those already in a standard form (ids, phones, dates in their usual
forms, names whose syllables are all written as the normaliser writes them) are recognised with Arrow kernels; the
others are looked up among the values already checked (a dict kept across chunks) and only values never seen go
through the kit.vn normalisers, once each. Personal ids and phones, nearly all distinct, are recognised row by row
instead. tests/data/test_fastpath.py checks that the recognisers give what the normalisers give.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from tinhso.data.codelists import codes_of
from tinhso.data.models import Entity
from tinhso.data.readers import Chunk
from tinhso.data.standardise import Standardiser
from tinhso.kit.i18n import gettext
from tinhso.kit.text import nfc
from tinhso.kit.vn.names import is_standard_word
from tinhso.kit.vn.personal_id import PROVINCE_CODES
from tinhso.kit.vn.phone import MOBILE_PREFIXES
from tinhso.kit.vn.result import Check

ARROW_TYPES = {
    "string": pa.string(),
    "code": pa.string(),
    "date": pa.date32(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
}
CACHE_LIMIT = 300_000  # checked values kept per field; past it the field's cache starts again
WORD_LIMIT = 50_000  # standard name syllables remembered
ROW_WISE = ("personal_id", "phone")  # rules whose values are nearly all distinct: recognised row by row
HAMLET = (
    r"(?i)^\s*(?:(?:thôn|xóm|bản|khối|tổ|ấp|đội|làng|khu|cụm|số|thon|xom|ban|khoi|to|ap|doi|lang|cum|so)"
    r"\s[^,]*,\s*)+"
)
PROVINCES = pa.array(sorted(PROVINCE_CODES))
MOBILE = pa.array(sorted(MOBILE_PREFIXES))


@dataclass
class Counts:
    total: int = 0
    accepted: int = 0
    fixed: int = 0
    rejected: int = 0
    cells: int = 0  # non-empty cells
    valid_cells: int = 0
    required_cells: int = 0
    required_filled: int = 0
    governed_cells: int = 0  # non-empty cells under a rule or code list
    conforming_cells: int = 0  # ... already in the standard form
    contradictions: int = 0


class _Known:
    """One field's raw values already checked (value -> position) and their results (aligned)."""

    def __init__(self, kind: pa.DataType):
        self.where: dict[str, int] = {}
        self.values = pa.array([], kind)
        self.bad = pa.array([], pa.bool_())
        self.fixed = pa.array([], pa.bool_())
        self.checks: list[Check] = []

    def add(self, raw: list[str], checks: list[Check]) -> None:
        start = len(self.checks)
        self.where.update(zip(raw, range(start, start + len(raw)), strict=True))
        self.values = pa.concat_arrays([self.values, pa.array([c.value for c in checks], self.values.type)])
        self.bad = pa.concat_arrays([self.bad, pa.array([not c.ok for c in checks], pa.bool_())])
        self.fixed = pa.concat_arrays([self.fixed, pa.array([c.ok and c.fixed for c in checks], pa.bool_())])
        self.checks.extend(checks)


@dataclass
class _Field:
    """One field of a chunk, standardised: per row the value, whether it is refused or was fixed; for the error
    report, per row the index of its distinct value (`codes`) and that value's position among `checks`."""

    values: pa.Array
    bad: pa.Array
    fixed: pa.Array
    codes: pa.Array
    positions: pa.Array
    checks: list[Check]


def blank_to_null(col: pa.Array) -> pa.Array:
    """Empty and whitespace-only cells (Unicode whitespace, as str.strip) become null."""
    blank = pc.or_(pc.equal(col, ""), pc.utf8_is_space(col))
    if not pc.any(blank).as_py():
        return col
    return pc.if_else(blank, pa.scalar(None, pa.string()), col)


def standard_names(parts: pa.Array, words: pa.Array) -> pa.Array:
    """Per name, split on single spaces (`parts`): true when every part is a standard word (kit.vn.names.
    is_standard_word), i.e. normalize_name would return the name unchanged; false otherwise (and for null)."""
    unknown = pc.invert(pc.is_in(pc.list_flatten(parts), value_set=words))
    rows = pc.list_parent_indices(parts).filter(unknown)
    marked = pc.is_in(pa.array(range(len(parts)), pa.int64()), value_set=pc.unique(rows))
    return pc.and_(pc.is_valid(parts), pc.invert(marked))


class Pipeline:
    """Standardises chunks for one entity version."""

    def __init__(self, session: Session, entity: Entity, today: date | None = None):
        self.entity = entity
        self.fields = entity.fields
        lists = {f["codelist"] for f in entity.fields if f.get("codelist")} | {"communes_2025"}
        self.std = Standardiser(entity.fields, {c: codes_of(session, c) for c in lists}, today)
        self.known = {f["name"]: _Known(ARROW_TYPES[f["type"]]) for f in entity.fields}
        self.counts = Counts()
        self.names = {f["name"] for f in entity.fields}
        self.last_keep: pa.Array = pa.array([], pa.bool_())
        self.judged: dict[str, bool] = {}  # name words seen: whether each is in standard form
        self.words_array = pa.array([], pa.string())  # ... those that are

    def _check(self, spec: dict[str, Any], value: str) -> Check:
        stripped = nfc(value.strip())
        found = self.std._check(spec, stripped) if stripped else Check(True, None)
        if found.ok and stripped != value:
            found = Check(True, found.value, True, found.rule, found.message, found.params, found.warning)
        return found

    def _judge_words(self, parts: pa.Array) -> None:
        """Judge the words of these names not seen before (each word once, up to WORD_LIMIT)."""
        judged = self.judged
        if len(judged) >= WORD_LIMIT:
            return
        fresh = [w for w in pc.unique(pc.list_flatten(parts)).to_pylist() if w not in judged]
        if not fresh:
            return
        judged.update((w, is_standard_word(w)) for w in fresh)
        self.words_array = pa.array(sorted(w for w, ok in judged.items() if ok), pa.string())

    def _distinct(self, spec: dict[str, Any], dic: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
        """(value, refused, fixed, position among the field's checks or null) of each distinct raw value."""
        kind = ARROW_TYPES[spec["type"]]
        m = len(dic)
        fast = None if spec.get("rule") in ROW_WISE else self._fast(spec, dic)
        if fast is not None:
            todo = pc.is_null(fast[0])
            rest = dic.filter(todo)
        else:
            rest = dic
        known = self.known[spec["name"]]
        raw = rest.to_pylist()
        where = known.where
        positions = [where.get(v) for v in raw]
        new = [v for v, p in zip(raw, positions, strict=True) if p is None]
        if new:
            if len(where) + len(new) > CACHE_LIMIT:  # bounded memory: start again
                known = self.known[spec["name"]] = _Known(kind)
                new = raw
            checks = [self._check(spec, v) for v in new]
            known.add(new, checks)
            where = known.where
            positions = [where[v] for v in raw]
        pos = pa.array(positions, pa.int64())
        values, bad, fixed = known.values.take(pos), known.bad.take(pos), known.fixed.take(pos)
        if fast is None:
            return values, bad, fixed, pos
        return (
            pc.replace_with_mask(fast[0], todo, values),
            pc.replace_with_mask(pa.repeat(pa.scalar(False), m), todo, bad),
            pc.replace_with_mask(pc.and_(pc.is_valid(fast[0]), fast[1]), todo, fixed),
            pc.replace_with_mask(pa.nulls(m, pa.int64()), todo, pos),
        )

    def _field(self, spec: dict[str, Any], col: pa.Array) -> _Field:
        n = len(col)
        row_fast = self._fast(spec, col) if spec.get("rule") in ROW_WISE and n else None
        rest = pc.if_else(pc.is_null(row_fast[0]), col, None) if row_fast else col
        encoded = pc.dictionary_encode(rest)
        codes = encoded.indices
        values, bad, fixed, positions = self._distinct(spec, encoded.dictionary)
        checks = self.known[spec["name"]].checks
        column = values.take(codes)
        no = pa.repeat(pa.scalar(False), n)
        bad_rows = pc.fill_null(bad.take(codes), False) if pc.any(bad).as_py() else no
        fixed_rows = pc.fill_null(fixed.take(codes), False) if pc.any(fixed).as_py() else no
        if row_fast:
            column = pc.coalesce(row_fast[0], column)
            fixed_rows = pc.or_(fixed_rows, pc.and_(pc.is_valid(row_fast[0]), row_fast[1]))
        return _Field(column, bad_rows, fixed_rows, codes, positions, checks)

    def run(self, chunk: Chunk) -> tuple[pa.Table, list[dict[str, Any]]]:
        """(accepted rows with system columns missing, error report lines)."""
        table, n = chunk.table, chunk.table.num_rows
        c = self.counts
        c.total += n
        reject = pa.repeat(pa.scalar(False), n)
        any_fixed = pa.repeat(pa.scalar(False), n)
        out: dict[str, pa.Array] = {}
        fields: dict[str, _Field] = {}
        for spec in self.fields:
            name = spec["name"]
            col = table.column(name).combine_chunks() if n else pa.array([], pa.string())
            if not isinstance(col, pa.Array):
                col = pa.array(col, pa.string())
            col = blank_to_null(col)
            if spec.get("rule") == "commune" and "address" in self.names and n:
                # A missing commune is taken from the address (2025 or legacy form), when it is unambiguous.
                # Only the administrative part decides the commune: leading hamlet / house parts ("Thôn 2, ...")
                # are dropped so that each distinct place is parsed once, not once per hamlet.
                missing = pc.is_null(col)
                if pc.any(missing).as_py():
                    address = table.column("address").combine_chunks().filter(missing)
                    col = pc.replace_with_mask(col, missing, pc.replace_substring_regex(address, HAMLET, ""))
            result = fields[name] = self._field(spec, col)
            is_null = pc.is_null(col)
            filled = n - int(pc.sum(is_null).as_py() or 0)
            nbad = int(pc.sum(result.bad).as_py() or 0)
            c.cells += filled
            c.valid_cells += filled - nbad
            if spec.get("rule") or spec.get("codelist"):
                c.governed_cells += filled
                c.conforming_cells += filled - nbad - int(pc.sum(result.fixed).as_py() or 0)
            if spec.get("required"):
                c.required_cells += n
                c.required_filled += filled
                result.bad = pc.or_(result.bad, is_null)
            reject = pc.or_(reject, result.bad)
            any_fixed = pc.or_(any_fixed, result.fixed)
            out[name] = result.values
        contradiction = self._contradictions(out, n)
        if contradiction is not None:
            c.contradictions += int(pc.sum(contradiction).as_py() or 0)
            reject = pc.or_(reject, contradiction)
        if chunk.cell_errors:
            marked = [False] * n
            for i, *_ in chunk.cell_errors:
                marked[i] = True
            reject = pc.or_(reject, pa.array(marked, pa.bool_()))
        keep = pc.invert(reject)
        self.last_keep = keep
        accepted = pa.table(out).filter(keep)
        c.accepted += accepted.num_rows
        c.rejected += n - accepted.num_rows
        c.fixed += int(pc.sum(pc.and_(any_fixed, keep)).as_py() or 0)
        report = self._report(table, chunk, reject, fields, contradiction)
        return accepted, report

    def _fast(self, spec: dict[str, Any], col: pa.Array) -> tuple[pa.Array, pa.Array] | None:
        """Vectorised standardisation of the values already in a common, valid form (the rest, and every
        refusal, go through the kit.vn normalisers): (values or null, fixed)."""
        rule, kind = spec.get("rule"), spec["type"]
        null = pa.scalar(None, ARROW_TYPES[kind])
        if rule == "personal_id":
            ok = pc.fill_null(pc.and_(pc.equal(pc.binary_length(col), 12), pc.ascii_is_decimal(col)), False)
            safe = pc.if_else(ok, col, "000000000000")
            g = pc.cast(pc.utf8_slice_codeunits(safe, 3, 4), pa.int64())
            year = pc.add(
                pc.add(pc.multiply(pc.divide(g, 2), 100), 1900),
                pc.cast(pc.utf8_slice_codeunits(safe, 4, 6), pa.int64()),
            )
            known = pc.is_in(pc.utf8_slice_codeunits(safe, 0, 3), value_set=PROVINCES)
            ok = pc.and_(ok, pc.and_(known, pc.less_equal(year, self.std.today.year)))
            return pc.if_else(ok, col, null), pa.repeat(pa.scalar(False), len(col))
        if rule == "phone":
            ok = pc.fill_null(pc.match_substring_regex(col, r"^0[1-9][0-9]{8}$"), False)
            ok = pc.and_(ok, pc.is_in(pc.utf8_slice_codeunits(col, 1, 3), value_set=MOBILE))
            return pc.if_else(
                ok, pc.binary_join_element_wise("+84", pc.utf8_slice_codeunits(col, 1, 10), ""), null
            ), ok
        if rule == "date" or kind == "date":
            # dd/mm/yyyy (how Vietnamese documents write dates) and yyyy-mm-dd are both standard: not "fixed".
            values = pc.coalesce(
                self._fast_date(col, r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$", "%d/%m/%Y", 0, 3),
                self._fast_date(col, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "%Y-%m-%d", 8, 5),
            )
            return values, pa.repeat(pa.scalar(False), len(col))
        if rule == "name":
            parts = pc.split_pattern(col, " ")
            self._judge_words(parts)
            standard = standard_names(parts, self.words_array)
            return pc.if_else(standard, col, null), pa.repeat(pa.scalar(False), len(col))
        return None

    def _fast_date(self, col: pa.Array, pattern: str, fmt: str, day: int, month: int) -> pa.Array:
        ok = pc.fill_null(pc.match_substring_regex(col, pattern), False)
        written = pc.if_else(ok, col, None)
        stamps = pc.strptime(written, format=fmt, unit="s", error_is_null=True)
        # strptime rolls 31/02 over to 02/03: keep only dates whose day and month are the ones written
        same = pc.and_(
            pc.equal(pc.day(stamps), pc.cast(pc.utf8_slice_codeunits(written, day, day + 2), pa.int64())),
            pc.equal(
                pc.month(stamps), pc.cast(pc.utf8_slice_codeunits(written, month, month + 2), pa.int64())
            ),
        )
        parsed = pc.cast(stamps, pa.date32())
        in_range = pc.and_(
            pc.greater_equal(parsed, pa.scalar(date(1880, 1, 1), pa.date32())),
            pc.less_equal(parsed, pa.scalar(self.std.today, pa.date32())),
        )
        keep = pc.fill_null(pc.and_(same, in_range), False)
        return pc.if_else(keep, parsed, pa.scalar(None, pa.date32()))

    def _contradictions(self, out: dict[str, pa.Array], n: int) -> pa.Array | None:
        if not n or not {"personal_id", "birth_date", "sex"} <= set(out):
            return None
        pid = out["personal_id"]
        g = pc.cast(pc.utf8_slice_codeunits(pid, 3, 4), pa.int64(), safe=False)
        yy = pc.cast(pc.utf8_slice_codeunits(pid, 4, 6), pa.int64(), safe=False)
        year = pc.add(pc.add(pc.multiply(pc.divide(g, 2), 100), 1900), yy)
        sex = pc.if_else(pc.equal(pc.bit_wise_and(g, 1), 1), "F", "M")
        born = out["birth_date"]
        year_wrong = pc.fill_null(pc.not_equal(year, pc.year(born)), False)
        sex_wrong = pc.fill_null(pc.not_equal(sex, out["sex"]), False)
        return pc.or_(year_wrong, sex_wrong)

    def _report(
        self,
        table: pa.Table,
        chunk: Chunk,
        reject: pa.Array,
        fields: dict[str, _Field],
        contradiction: pa.Array | None,
    ) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        for row, text in chunk.malformed:
            lines.append(
                self._line(row, "", text, "row_malformed", "The row does not have the file's columns")
            )
            self.counts.total += 1
            self.counts.rejected += 1
        read_errors: dict[tuple[int, str], tuple[str, str, str, dict[str, Any]]] = {
            (i, name): (value, rule, message, params)
            for i, name, value, rule, message, params in chunk.cell_errors
        }
        rows = pc.indices_nonzero(reject) if table.num_rows else pa.array([], pa.uint64())
        if not len(rows):
            return lines
        # the rejected rows' cells as Python values, one column at a time
        columns: dict[str, tuple[list[Any], list[Any], list[Any]]] = {}
        for spec in self.fields:
            name = spec["name"]
            f = fields[name]
            columns[name] = (
                f.bad.take(rows).to_pylist(),
                table.column(name).take(rows).to_pylist(),
                f.positions.take(f.codes.take(rows)).to_pylist(),
            )
        contradicted = contradiction.take(rows).to_pylist() if contradiction is not None else None
        for k, i in enumerate(rows.to_pylist()):
            for spec in self.fields:
                name = spec["name"]
                if (i, name) in read_errors:
                    value, rule, message, params = read_errors[i, name]
                    lines.append(self._line(chunk.rows[i], name, value, rule, message, params))
                    continue
                bad, raws, positions = columns[name]
                if not bad[k]:
                    continue
                position = positions[k]
                check = fields[name].checks[position] if position is not None else None
                if check is None or check.ok:
                    lines.append(
                        self._line(
                            chunk.rows[i],
                            name,
                            raws[k],
                            "required",
                            "Required field {field} is empty",
                            {"field": name},
                        )
                    )
                else:
                    lines.append(
                        self._line(
                            chunk.rows[i],
                            name,
                            raws[k],
                            check.rule or "invalid",
                            check.message or "",
                            check.params,
                        )
                    )
            if contradicted is not None and contradicted[k]:
                lines.append(
                    self._line(
                        chunk.rows[i], "personal_id", columns["personal_id"][1][k], "personal_id_contradiction",
                        "The personal identification number does not match the birth year or sex",
                    )
                )  # fmt: skip
        return lines

    @staticmethod
    def _line(
        row: int, column: str, value: Any, rule: str, message: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        params = params or {}
        return {
            "row": row,
            "field": column,
            "value": value,
            "rule": rule,
            "message_vi": gettext(message, "vi", **params),
            "message_en": gettext(message, "en", **params),
        }


def quality_of(counts: Counts, duplicates: int) -> dict[str, float | None]:
    """The batch's quality scores (0-1); see docs/data.md for the definitions."""

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    scores: dict[str, float | None] = {
        "dung": ratio(counts.valid_cells, counts.cells),
        "du": ratio(counts.required_filled, counts.required_cells),
        "sach": ratio(max(counts.total - duplicates - counts.contradictions, 0), counts.total),
        "song": 1.0,
        "thong_nhat": ratio(counts.conforming_cells, counts.governed_cells),
    }
    present = [v for v in scores.values() if v is not None]
    scores["overall"] = round(sum(present) / len(present), 4) if present else None
    return scores
