"""The vectorised fast path of ingestion gives exactly what the kit.vn normalisers give, value by value."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pyarrow as pa

from tinhso.data import dictionary
from tinhso.data.ingest import Pipeline


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
    return {"birth_date": dates, "personal_id": pids, "phone": phones}


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
            check = pipeline.std._check(specs[name], value)
            assert check.ok and check.value == got, (name, value, got, check)
        assert handled > 40


def test_hamlet_parts_do_not_change_the_commune(tmp_path) -> None:  # noqa: ANN001
    """Ingestion drops leading hamlet / house parts of an address before looking up its commune."""
    import csv

    import pyarrow.compute as pc

    from tinhso.data.ingest import HAMLET
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
    """Loading in small chunks with a tiny cache of checked values gives what one big chunk gives."""
    from tinhso.data import ingest, warehouse_api
    from tinhso.data.synth import write_citizens

    path = tmp_path / "dan.csv"
    write_citizens(path, 400, seed=8, dup_rate=0.05, error_rate=0.2)
    whole, _ = ingest.ingest_file(data_db, path, "citizen", "whole", chunk_rows=10_000)
    monkeypatch.setattr(ingest, "CACHE_LIMIT", 12)
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
