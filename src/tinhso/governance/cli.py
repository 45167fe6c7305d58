"""`tinhso governance …`: KPI runs, roadmap import, compliance re-runs, overdue reminders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tinhso.kit.db import get_database

cli = typer.Typer(help="Governance: systems registry, roadmap, KPIs", no_args_is_help=True)
console = Console(stderr=True)


@cli.command("kpi-run")
def kpi_run() -> None:
    """Compute every KPI now and store the values."""
    from tinhso.governance import events, kpi
    from tinhso.kit.events import publish

    with get_database().transaction() as session:
        run = kpi.run(session, trigger="cli")
        publish(
            session,
            events.KPI_COMPUTED,
            {
                "run_id": run.id,
                "computed": run.computed,
                "not_measured": run.not_measured,
                "failed": run.failed,
            },
            key="kpi",
        )
        console.print(
            f"KPI: [green]{run.computed} computed[/], {run.not_measured} not measured yet, [red]{run.failed} failed[/]"
        )


@cli.command("roadmap-import")
def roadmap_import(
    file: Annotated[
        Path | None, typer.Argument(help="CSV with the task list (default: the decision's 142 tasks)")
    ] = None,
    report: Annotated[
        bool, typer.Option("--report", help="Print the rejected rows and unmatched agencies")
    ] = False,
) -> None:
    """Import (or re-import) the roadmap's tasks."""
    from tinhso.governance import roadmap

    with get_database().transaction() as session:
        result = (
            roadmap.import_tasks(session, file.read_text("utf-8")) if file else roadmap.load_bundled(session)
        )
    console.print(f"{result.created} created, {result.updated} updated, {len(result.rejected)} rejected")
    if report:
        print(
            json.dumps(
                {"rejected": result.rejected, "unmatched": result.unmatched}, ensure_ascii=False, indent=2
            )
        )


@cli.command("compliance-run")
def compliance_run(
    agency: Annotated[str | None, typer.Option(help="Only this agency's systems")] = None,
) -> None:
    """Re-run the compliance rules on every registered system."""
    from tinhso.governance import service

    with get_database().transaction() as session:
        n = service.recheck_all(session, agency)
    console.print(f"{n} systems checked")


@cli.command("remind")
def remind() -> None:
    """Publish a reminder for each roadmap task that became late."""
    from tinhso.governance import service

    with get_database().transaction() as session:
        n = service.notify_overdue(session)
    console.print(f"{n} reminders")
