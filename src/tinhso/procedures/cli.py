"""`tinhso procedures ...`: deadline sweep, portal sync, the 766 index, catalog import and export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

cli = typer.Typer(
    help="Thủ tục hành chính: hồ sơ, hạn xử lý, đồng bộ DVCQG, chỉ số 766", no_args_is_help=True
)


@cli.command()
def sweep() -> None:
    """Warn about dossiers due soon, mark overdue ones, send pending national-portal sync records."""
    from tinhso.kit.db import get_database
    from tinhso.procedures.tasks import run_once

    typer.echo(json.dumps(run_once(get_database())))


@cli.command("index766")
def index766_cmd(
    period: Annotated[str, typer.Argument(help="2026-03 or 2026-Q1")],
    group_by: Annotated[str, typer.Option(help="province, agency or commune")] = "province",
    xlsx: Annotated[Path | None, typer.Option(help="also write an XLSX file")] = None,
) -> None:
    """Compute the Decision 766 index for a period."""
    from tinhso.kit.db import get_database
    from tinhso.procedures import index766

    with get_database().transaction(write=False) as session:
        results = index766.compute(session, period, group_by)
    for r in results:
        typer.echo(f"{r['key']:<16} {r['name'][:48]:<48} {int(r['dossiers']):>8} {r['score']}")
    if xlsx is not None:
        xlsx.write_bytes(index766.to_xlsx(results))


@cli.command("import-catalog")
def import_catalog(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Import procedures from a JSON or CSV file (all rows valid, or nothing changes)."""
    from tinhso.kit.db import get_database
    from tinhso.procedures import catalog

    text = path.read_text(encoding="utf-8-sig")
    rows = catalog.parse_csv(text) if path.suffix.lower() == ".csv" else json.loads(text)
    with get_database().transaction() as session:
        typer.echo(f"imported {catalog.import_rows(session, rows)}")


@cli.command("export-catalog")
def export_catalog(path: Annotated[Path, typer.Argument(dir_okay=False)]) -> None:
    """Export the catalog as JSON or CSV (by the file's extension)."""
    from tinhso.kit.db import get_database
    from tinhso.procedures import catalog

    with get_database().transaction(write=False) as session:
        rows = catalog.export_rows(session)
    if path.suffix.lower() == ".csv":
        path.write_text(catalog.to_csv(rows), encoding="utf-8")
    else:
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    typer.echo(f"exported {len(rows)}")
