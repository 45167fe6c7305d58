"""`tinhso data ...`: ingest a file into the warehouse, generate a synthetic population."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

cli = typer.Typer(help="Dữ liệu dùng chung / shared data: ingestion, synthetic data", no_args_is_help=True)
synth_cli = typer.Typer(help="Synthetic data", no_args_is_help=True)
cli.add_typer(synth_cli, name="synth")
console = Console(stderr=True)


@cli.command()
def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, XLSX, JSON or XML file")],
    entity: Annotated[str, typer.Option(help="Dictionary entity, e.g. citizen")],
    source: Annotated[str, typer.Option(help="Source name (system or agency the file came from)")],
    chunk_rows: Annotated[int, typer.Option(help="Rows per chunk")] = 100_000,
) -> None:
    """Standardise, validate and load a file into the warehouse, with an error report of rejected rows."""
    from tinhso.data.ingest import ingest_file
    from tinhso.kit.db import get_database
    from tinhso.kit.errors import DomainError
    from tinhso.kit.i18n import gettext

    db = get_database()
    try:
        from tinhso.data import dictionary

        with db.transaction(write=False) as session:
            dictionary.latest(session, entity)
    except DomainError as exc:
        console.print(f"[red]{gettext(exc.message, 'vi', **exc.params)}[/] ({exc.code})")
        raise typer.Exit(2) from exc
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TextColumn("{task.fields[rows]} rows"),
        TimeRemainingColumn(), console=console,
    ) as bar:  # fmt: skip
        task = bar.add_task(f"{entity} ← {file.name}", total=file.stat().st_size, rows=0)

        def progress(done: int, total: int, rows: int) -> None:
            bar.update(task, completed=done, total=total, rows=rows)

        try:
            batch, reused = ingest_file(db, file, entity, source, progress=progress, chunk_rows=chunk_rows)
        except DomainError as exc:
            console.print(f"[red]{gettext(exc.message, 'vi', **exc.params)}[/] ({exc.code})")
            raise typer.Exit(2) from exc
        bar.update(task, completed=file.stat().st_size)
    if reused:
        console.print(f"[yellow]Tệp này đã được nạp (lô {batch.id}); không thay đổi gì / already loaded[/]")
    console.print(
        f"lô/batch {batch.id}: {batch.rows_total} dòng/rows, {batch.rows_accepted} nhận/accepted, "
        f"{batch.rows_fixed} sửa/fixed, {batch.rows_rejected} loại/rejected"
    )
    console.print(f"chất lượng/quality: {batch.quality}")
    if batch.error_report:
        from tinhso.data.ingest import reports_dir

        console.print(f"báo cáo lỗi/error report: {reports_dir() / batch.error_report}")


@synth_cli.command("citizens")
def synth_citizens(
    count: Annotated[int, typer.Option(help="Rows")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 1,
    dup_rate: Annotated[float, typer.Option(help="Share of duplicate rows")] = 0.02,
    error_rate: Annotated[float, typer.Option(help="Share of rows with an injected error")] = 0.05,
    out: Annotated[Path, typer.Option(help="Output CSV")] = Path("citizens.csv"),
) -> None:
    """Generate a synthetic Nghệ An population and its ground truth (OUT.truth.csv)."""
    from tinhso.data.synth import write_citizens

    truth = write_citizens(out, count, seed, dup_rate, error_rate)
    console.print(f"{count} dòng/rows → {out}; ground truth → {truth}")


@cli.command()
def link(
    table: Annotated[str, typer.Option(help="Warehouse table of people")] = "citizen",
    threshold: Annotated[float, typer.Option(help="Match probability for clustering")] = 0.9,
    truth: Annotated[Path | None, typer.Option(help="Ground-truth CSV from `synth citizens`")] = None,
) -> None:
    """Link duplicate people (Splink on DuckDB) into golden records: TABLE_links, TABLE_golden."""
    from tinhso.data import linkage, warehouse
    from tinhso.kit.db import get_database

    db = get_database()
    with console.status("Đang liên kết bản ghi / linking records…"):
        result = linkage.link_table(db, table, match_threshold=threshold)
    console.print(result)
    if truth is not None:
        path = warehouse.path_for_engine(db.engine)
        with warehouse.reader(path) as cur:
            people = linkage._input(cur, table)
        with warehouse.reader(path) as cur:
            links = cur.sql(f"SELECT * FROM {warehouse.quote(table + '_links')}").to_arrow_table()
        console.print(linkage.evaluate(people, links, truth))
