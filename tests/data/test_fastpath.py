"""The vectorised fast path of ingestion gives exactly what the kit.vn normalisers give, value by value, and a
whole load with it gives exactly what a load without it gives."""

from __future__ import annotations

import csv
import random
import unicodedata
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from tinhso.data import dictionary
from tinhso.data.pipeline import Pipeline, blank_to_null


def _samples(seed: int = 4) -> dict[str, list[str | None]]:
    rng = random.Random(seed)
    dates: list[str | None] = [
        None,
        "31/02/2000",
        "29/02/2001",
        "00/00/1990",
        "2030-01-01",
        "1800-01-01",
        "1990-13-01",
    ]
    for _ in range(300):
        d = date(1900, 1, 1) + timedelta(days=rng.randrange(46000))
        dates.append(d.strftime(rng.choice(["%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%-d/%-m/%Y"])))
    pids: list[str | None] = ["040190001234", "099190001234", "040990001234", "12345", "040 190 001234", None]
    pids += [
        f"0{rng.choice(['40', '38', '01', '99'])}{rng.randrange(10)}{rng.randrange(100):02d}{rng.randrange(10**6):06d}"
        for _ in range(300)
    ]  # noqa: E501
    phones: list[str | None] = [
        "0912345678",
        "0951234567",
        "+84912345678",
        "01681234567",
        "0238 384 4555",
        None,
    ]
    phones += [f"0{rng.randrange(10)}{rng.randrange(10)}{rng.randrange(10**7):07d}" for _ in range(300)]
    from tinhso.data.synth import GIVEN_F, GIVEN_M, MIDDLE_F, SURNAMES

    names: list[str | None] = [None, "Nguyễn  Văn An", " Nguyễn Văn An", "Nguyễn Văn An ", "Lê Thuỷ", "Lê Thủy",
                               "Lò Văn H'Mông", "Lò Văn H'mông", "Khơ-Mú", "Nguyễn Văn 3", "Hồ\u00a0Văn Bình",
                               "Hồ\tVăn Bình", "Hồ Văn  ", "A", "Đ", "Ngô Quý", "Ngô QUý", "Giữa", "Người"]  # fmt: skip
    for _ in range(300):
        name = " ".join(
            rng.choice([s for s, _ in SURNAMES] + MIDDLE_F + GIVEN_M + GIVEN_F)
            for _ in range(rng.randint(1, 4))
        )
        form = rng.random()
        if form < 0.1:
            name = name.upper()
        elif form < 0.2:
            name = unicodedata.normalize("NFD", name)
        elif form < 0.25:
            name = name.lower()
        names.append(name)
    return {"birth_date": dates, "personal_id": pids, "phone": phones, "full_name": names}


def test_fast_path_matches_normalisers(data_db) -> None:  # noqa: ANN001
    with data_db.transaction() as session:
        entity = dictionary.latest(session, "citizen")
        pipeline = Pipeline(session, entity)
    specs = {f["name"]: f for f in entity.fields}
    for name, values in _samples().items():
        fast = pipeline._fast(specs[name], pa.array(values, pa.string()))
        assert fast is not None
        handled = 0
        for value, got in zip(values, fast[0].to_pylist(), strict=True):
            if got is None:
                continue  # left to the normaliser
            handled += 1
            check = pipeline._check(specs[name], value)
            assert check.ok and check.value == got, (name, value, got, check)
            if name == "full_name":
                assert check.fixed is False and not fast[1][values.index(value)].as_py(), value
        assert handled > 40


def test_hamlet_parts_do_not_change_the_commune(tmp_path) -> None:  # noqa: ANN001
    """Ingestion drops leading hamlet / house parts of an address before looking up its commune."""
    import csv

    import pyarrow.compute as pc

    from tinhso.data.pipeline import HAMLET
    from tinhso.data.synth import write_citizens
    from tinhso.kit.vn.address import to_commune_2025

    out = tmp_path / "dan.csv"
    write_citizens(out, 600, seed=3, dup_rate=0.0, error_rate=0.0)
    addresses = sorted({r["address"] for r in csv.DictReader(out.open(encoding="utf-8")) if r["address"]})
    addresses += [
        "Xóm 3, Xã Diễn Kỷ, Huyện Diễn Châu, Tỉnh Nghệ An",
        "Số 12 Lê Lợi, Phường Vinh Phú, Nghệ An",
    ]
    reduced = pc.replace_substring_regex(pa.array(addresses), HAMLET, "").to_pylist()
    assert sum(a != r for a, r in zip(addresses, reduced, strict=True)) > len(addresses) // 2
    for full, short in list(zip(addresses, reduced, strict=True))[::3]:
        a, b = to_commune_2025(full), to_commune_2025(short)
        assert (a.ok, a.value, a.rule, a.fixed) == (b.ok, b.value, b.rule, b.fixed), (full, short)


def test_checked_values_are_reused_across_chunks_and_bounded(data_db, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """Loading in small chunks with a tiny cache of checked values, committed to DuckDB in parts, gives what one
    big chunk gives."""
    from tinhso.data import ingest, pipeline, warehouse_api
    from tinhso.data.synth import write_citizens

    path = tmp_path / "dan.csv"
    write_citizens(path, 400, seed=8, dup_rate=0.05, error_rate=0.2)
    whole, _ = ingest.ingest_file(data_db, path, "citizen", "whole", chunk_rows=10_000)
    monkeypatch.setattr(pipeline, "CACHE_LIMIT", 12)
    monkeypatch.setattr(ingest, "COMMIT_ROWS", 50)  # and a DuckDB commit every few chunks
    small, _ = ingest.ingest_file(data_db, path, "citizen", "small", chunk_rows=37)
    for a in ("rows_accepted", "rows_fixed", "rows_rejected", "quality"):
        assert getattr(whole, a) == getattr(small, a), a
    assert whole.rows_rejected > 10
    report = (ingest.reports_dir() / whole.error_report).read_text(encoding="utf-8-sig")
    assert report == (ingest.reports_dir() / small.error_report).read_text(encoding="utf-8-sig")
    with data_db.transaction() as s:
        rows = warehouse_api.read_rows(s, "citizen", limit=1000)
    from collections import Counter

    counts = Counter(tuple(sorted(r.items())) for r in rows)
    assert len(rows) == 2 * whole.rows_accepted and all(n % 2 == 0 for n in counts.values())


def test_blank_cells_are_the_ones_str_strip_empties() -> None:
    """Every Unicode whitespace character (as str.isspace) makes a blank cell, alone or repeated; others do not."""
    chars = [chr(i) for i in range(0x110000) if not 0xD800 <= i <= 0xDFFF]
    values = [*chars, *(c * 3 for c in chars if c.isspace()), "", " a ", "\u200b", None]
    got = pc.is_null(blank_to_null(pa.array(values, pa.string()))).to_pylist()
    assert got == [v is None or not v.strip() for v in values]
    assert sum(got) > 50


def _messy_file(path: Path, rows: int, seed: int) -> None:
    """Synthetic citizens, then cells made blank, padded, decomposed (NFD), doubly spaced or cased otherwise."""
    from tinhso.data.synth import write_citizens

    write_citizens(path, rows, seed=seed, dup_rate=0.05, error_rate=0.4)
    rng = random.Random(seed)
    table = list(csv.DictReader(path.open(encoding="utf-8")))
    blanks = ["", " ", "\t", "\u00a0", "\u3000 "]
    forms = [
        lambda v: rng.choice(blanks),
        lambda v: rng.choice(blanks) + v + rng.choice(blanks),
        lambda v: unicodedata.normalize("NFD", v),
        lambda v: v.replace(" ", "  "),
        lambda v: v.replace(" ", "\u00a0"),
        lambda v: v.lower(),
        lambda v: v + "1",
    ]
    for row in table:
        for key in row:
            if rng.random() < 0.25:
                row[key] = rng.choice(forms)(row[key])
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, list(table[0]))
        writer.writeheader()
        writer.writerows(table)


def test_load_with_and_without_the_fast_path_is_the_same(data_db, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """Every column through the normalisers (no fast path) gives the same table, counts, scores and error report."""
    from tinhso.data import ingest, warehouse

    path = tmp_path / "dan.csv"
    _messy_file(path, 1500, seed=11)
    fast, _ = ingest.ingest_file(data_db, path, "citizen", "fast", chunk_rows=400)
    monkeypatch.setattr(Pipeline, "_fast", lambda self, spec, col: None)
    slow, _ = ingest.ingest_file(data_db, path, "citizen", "slow", chunk_rows=400)
    for a in ("rows_total", "rows_accepted", "rows_fixed", "rows_rejected", "quality"):
        assert getattr(fast, a) == getattr(slow, a), a
    assert fast.rows_rejected > 100 and fast.rows_fixed > 300
    reports = [(ingest.reports_dir() / b.error_report).read_text(encoding="utf-8-sig") for b in (fast, slow)]
    assert reports[0] == reports[1]
    with warehouse.reader(warehouse.path_for_engine(data_db.engine)) as cur:
        columns = ", ".join(f'"{f}"' for f in (*(r[0] for r in cur.execute("DESCRIBE citizen").fetchall()),)
                            if f not in ("_batch_id", "_source", "_ingested_at"))  # fmt: skip
        tables = [
            cur.execute(f"SELECT {columns} FROM citizen WHERE _source = ? ORDER BY _row", [source]).fetchall()
            for source in ("fast", "slow")
        ]
    assert len(tables[0]) == fast.rows_accepted and tables[0] == tables[1]
