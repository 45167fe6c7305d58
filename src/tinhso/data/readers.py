"""Readers for uploaded files: CSV (UTF-8 with or without BOM, UTF-16, Windows-1258), XLSX, JSON / JSON Lines and
XML (defusedxml: no DTDs, no entities). Each yields chunks of rows as Arrow tables of strings whose columns are the
entity's field names, so memory stays bounded whatever the file size."""

from __future__ import annotations

import io
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv

from tinhso.kit.errors import BadRequest
from tinhso.kit.text import fold

FORMATS = ("csv", "xlsx", "json", "xml")


@dataclass
class Chunk:
    table: pa.Table  # string columns, one per entity field
    rows: list[int]  # the file's row number of each row (1 = the header line)
    malformed: list[tuple[int, str]] = field(
        default_factory=list
    )  # (row, text) of rows that could not be parsed
    bytes_done: int = 0
    # (index in this chunk, field, value, rule, message, params) of cells rejected while reading
    cell_errors: list[tuple[int, str, str, str, str, dict[str, Any]]] = field(default_factory=list)


class _Counting(io.RawIOBase):
    """A file wrapper that counts the bytes read (for progress)."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.raw.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        return n


def detect_format(filename: str, declared: str | None = None) -> str:
    fmt = (declared or Path(filename).suffix.lstrip(".")).lower()
    if fmt in ("jsonl", "ndjson"):
        fmt = "json"
    if fmt not in FORMATS:
        raise BadRequest("ingest_format_unknown", "Unsupported file format {format}", format=fmt or filename)
    return fmt


def detect_encoding(head: bytes) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a character cut at the end of the sample
            return "utf-8"
        return "cp1258"


def match_header(headers: list[str], fields: list[dict[str, Any]]) -> dict[str, int]:
    """Field name -> column index, matching names and Vietnamese/English labels without accents or case."""
    wanted: dict[str, str] = {}
    for f in fields:
        for label in (f["name"], f["label_vi"], f["label_en"]):
            wanted[fold(label).replace("_", " ").strip()] = f["name"]
    found: dict[str, int] = {}
    for i, h in enumerate(headers):
        key = fold(unicodedata.normalize("NFC", str(h or ""))).replace("_", " ").strip()
        name = wanted.get(key)
        if name and name not in found:
            found[name] = i
    return found


def _table(columns: dict[str, list[Any]], fields: list[dict[str, Any]], n: int) -> pa.Table:
    arrays = {f["name"]: pa.array(columns.get(f["name"], [None] * n), type=pa.string()) for f in fields}
    return pa.table(arrays)


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return unicodedata.normalize("NFC", str(value))


def read_csv(path: Path, fields: list[dict[str, Any]], chunk_rows: int) -> Iterator[Chunk]:
    with path.open("rb") as fh:
        head = fh.read(1 << 20)
    if not head.strip():
        raise BadRequest("ingest_empty_file", "The file is empty")
    encoding = detect_encoding(head)
    text = head.decode(encoding, errors="ignore")
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    delimiter = max((",", ";", "\t", "|"), key=first.count)
    import csv

    headers = next(csv.reader([first], delimiter=delimiter))
    mapping = match_header(headers, fields)
    if not mapping:
        raise BadRequest("ingest_no_known_columns", "No column of the file matches a field of the entity")
    names = [f"c{i}" for i in range(len(headers))]
    malformed: list[tuple[int, str]] = []

    def on_invalid(row: Any) -> str:
        malformed.append((int(row.number) if row.number is not None else -1, str(row.text)[:500]))
        return "skip"

    raw = path.open("rb")
    counter = _Counting(raw)
    reader = pacsv.open_csv(
        pa.PythonFile(io.BufferedReader(counter, 1 << 20), mode="r"),
        read_options=pacsv.ReadOptions(
            column_names=names, skip_rows=1, encoding=encoding, block_size=8 << 20, use_threads=True
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    next_row = 2
    skipped = sorted(m[0] for m in malformed)
    try:
        for batch in reader:
            if batch.num_rows == 0:
                continue
            for start in range(0, batch.num_rows, chunk_rows):
                part = batch.slice(start, chunk_rows)
                skipped = sorted(m[0] for m in malformed if m[0] >= next_row)
                if not skipped or skipped[0] >= next_row + part.num_rows:
                    rows = list(range(next_row, next_row + part.num_rows))  # no malformed row among them
                    next_row += part.num_rows
                else:
                    rows = []
                    for _ in range(part.num_rows):
                        while skipped and skipped[0] == next_row:
                            skipped.pop(0)
                            next_row += 1
                        rows.append(next_row)
                        next_row += 1
                cols = {f: part.column(mapping[f]) for f in mapping}
                table = pa.table(
                    {
                        f["name"]: cols[f["name"]]
                        if f["name"] in cols
                        else pa.nulls(part.num_rows, pa.string())
                        for f in fields
                    }
                )
                bad, malformed[:] = list(malformed), []
                yield Chunk(table, rows, bad, counter.count)
        if malformed:
            yield Chunk(_table({}, fields, 0), [], list(malformed), counter.count)
    except pa.ArrowInvalid as exc:
        raise BadRequest(
            "ingest_unreadable", "The file cannot be read: {reason}", reason=str(exc)[:300]
        ) from exc
    finally:
        raw.close()


def read_xlsx(path: Path, fields: list[dict[str, Any]], chunk_rows: int) -> Iterator[Chunk]:
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for broken files
        raise BadRequest(
            "ingest_unreadable", "The file cannot be read: {reason}", reason=str(exc)[:300]
        ) from exc
    ws = wb.worksheets[0]
    rows_iter = ws.iter_rows(values_only=True)
    # The header is the row (among the first 10) that names the most fields; rows above it are group headers
    # (merged cells spanning several columns), which are skipped.
    head: list[tuple[Any, ...]] = []
    for _ in range(10):
        try:
            head.append(next(rows_iter))
        except StopIteration:
            break
    if not head:
        raise BadRequest("ingest_empty_file", "The file is empty")
    scores = [len(match_header([_cell(v) or "" for v in r], fields)) for r in head]
    header_index = max(range(len(head)), key=lambda i: scores[i])
    mapping = match_header([_cell(v) or "" for v in head[header_index]], fields)
    if not mapping:
        raise BadRequest("ingest_no_known_columns", "No column of the file matches a field of the entity")
    size = path.stat().st_size
    pending = head[header_index + 1 :]
    row_no = header_index + 2
    columns: dict[str, list[Any]] = {f: [] for f in mapping}
    numbers: list[int] = []
    cell_errors: list[tuple[int, str, str, str, str, dict[str, Any]]] = []
    # Formulas are read as the values the spreadsheet saved with them. A formula saved without its result (files
    # written by programs, not by Excel or LibreOffice) is reported cell by cell, never read as an empty cell.
    formulas: Iterator[tuple[Any, ...]] | None = None
    if _has_formulas(path):
        fwb = load_workbook(path, read_only=True, data_only=False)
        formulas = fwb.worksheets[0].iter_rows(values_only=True)
        for _ in range(header_index + 1):
            next(formulas, None)

    def rows() -> Iterator[tuple[Any, ...]]:
        yield from pending
        yield from rows_iter

    done = 0
    for values in rows():
        written = next(formulas, None) if formulas is not None else None
        blank = values is None or all(v is None or (isinstance(v, str) and not v.strip()) for v in values)
        if blank and not (written and any(isinstance(v, str) and v.startswith("=") for v in written)):
            row_no += 1
            continue
        for name, idx in mapping.items():
            value = values[idx] if idx < len(values) else None
            source = written[idx] if written is not None and idx < len(written) else None
            if value is None and isinstance(source, str) and source.startswith("="):
                cell_errors.append(
                    (
                        len(numbers),
                        name,
                        source[:200],
                        "formula_without_value",
                        "Cell {cell} holds a formula with no saved result; open the file in a spreadsheet "
                        "program, save it and upload it again",
                        {"cell": f"{get_column_letter(idx + 1)}{row_no}"},
                    )
                )
            columns[name].append(_cell(value))
        numbers.append(row_no)
        row_no += 1
        if len(numbers) >= chunk_rows:
            done += len(numbers)
            yield Chunk(
                _table(columns, fields, len(numbers)),
                numbers,
                [],
                min(size, size * done // max(ws.max_row or done, 1)),
                cell_errors,
            )
            columns, numbers, cell_errors = {f: [] for f in mapping}, [], []
    if numbers:
        yield Chunk(_table(columns, fields, len(numbers)), numbers, [], size, cell_errors)
    wb.close()
    if formulas is not None:
        fwb.close()


def _has_formulas(path: Path) -> bool:
    """Whether any worksheet of the XLSX file has a formula element (a quick scan of the zipped XML)."""
    import re
    import zipfile

    pattern = re.compile(rb"<(?:\w+:)?f[ >/]")
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                continue
            with zf.open(name) as fh:
                tail = b""
                while block := fh.read(1 << 20):
                    if pattern.search(tail + block):
                        return True
                    tail = block[-16:]
    return False


def _rows_chunks(
    items: Iterator[tuple[int, Any]], fields: list[dict[str, Any]], chunk_rows: int, size_of: Any
) -> Iterator[Chunk]:
    columns: dict[str, list[Any]] = {f["name"]: [] for f in fields}
    numbers: list[int] = []
    malformed: list[tuple[int, str]] = []
    mapping: dict[str, str] | None = None
    for row_no, obj in items:
        if not isinstance(obj, dict):
            malformed.append((row_no, str(obj)[:500]))
            continue
        if mapping is None:
            keys = list(obj)
            idx = match_header(keys, fields)
            mapping = {name: keys[i] for name, i in idx.items()}
            if not mapping:
                raise BadRequest(
                    "ingest_no_known_columns", "No column of the file matches a field of the entity"
                )
        for f in fields:
            key = mapping.get(f["name"])
            columns[f["name"]].append(_cell(obj.get(key)) if key else None)
        numbers.append(row_no)
        if len(numbers) >= chunk_rows:
            yield Chunk(_table(columns, fields, len(numbers)), numbers, malformed, size_of())
            columns, numbers, malformed = {f["name"]: [] for f in fields}, [], []
    if numbers or malformed:
        yield Chunk(_table(columns, fields, len(numbers)), numbers, malformed, size_of())


def read_json(
    path: Path, fields: list[dict[str, Any]], chunk_rows: int, max_array_bytes: int = 256 << 20
) -> Iterator[Chunk]:
    with path.open("rb") as fh:
        start = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"["):
        if path.stat().st_size > max_array_bytes:
            raise BadRequest(
                "ingest_json_too_large", "A JSON array this large must be sent as JSON Lines instead"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(
                "ingest_unreadable", "The file cannot be read: {reason}", reason=str(exc)[:300]
            ) from exc
        size = path.stat().st_size
        yield from _rows_chunks(((i + 1, o) for i, o in enumerate(data)), fields, chunk_rows, lambda: size)
        return
    raw = path.open("rb")
    counter = _Counting(raw)
    text = io.TextIOWrapper(io.BufferedReader(counter), encoding="utf-8-sig")

    def items() -> Iterator[tuple[int, Any]]:
        for i, line in enumerate(text, start=1):
            if not line.strip():
                continue
            try:
                yield i, json.loads(line)
            except json.JSONDecodeError:
                yield i, line.strip()

    try:
        yield from _rows_chunks(items(), fields, chunk_rows, lambda: counter.count)
    finally:
        raw.close()


def read_xml(path: Path, fields: list[dict[str, Any]], chunk_rows: int) -> Iterator[Chunk]:
    """<rows><row><personal_id>…</personal_id>…</row>…</rows>: each child of the root is a row."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    raw = path.open("rb")
    counter = _Counting(raw)

    def items() -> Iterator[tuple[int, Any]]:
        depth, n = 0, 0
        root = None
        for event, elem in iterparse(io.BufferedReader(counter), events=("start", "end"), forbid_dtd=True):
            if event == "start":
                depth += 1
                if depth == 1:
                    root = elem
                continue
            depth -= 1
            if depth == 1:
                n += 1
                obj = {child.tag: (child.text or "").strip() or None for child in elem}
                obj.update({k: v for k, v in elem.attrib.items() if k not in obj})
                yield n + 1, obj
                elem.clear()
                if root is not None:
                    root.clear()

    try:
        yield from _rows_chunks(items(), fields, chunk_rows, lambda: counter.count)
    except DefusedXmlException as exc:
        raise BadRequest(
            "ingest_xml_forbidden", "The XML file declares a DTD or entities, which are refused for safety"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - ParseError and friends
        if exc.__class__.__name__ == "ParseError":
            raise BadRequest(
                "ingest_unreadable", "The file cannot be read: {reason}", reason=str(exc)[:300]
            ) from exc
        raise
    finally:
        raw.close()


def chunks(path: Path, fmt: str, fields: list[dict[str, Any]], chunk_rows: int = 50_000) -> Iterator[Chunk]:
    reader = {"csv": read_csv, "xlsx": read_xlsx, "json": read_json, "xml": read_xml}[fmt]
    return reader(path, fields, chunk_rows)
