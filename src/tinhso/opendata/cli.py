"""`tinhso opendata …`: API tokens and refreshing publications."""

from __future__ import annotations

from typing import Annotated

import typer

cli = typer.Typer(help="Open-data portal (Cổng dữ liệu mở)", no_args_is_help=True)


@cli.command("token")
def token(
    username: Annotated[str, typer.Argument(help="The person the token acts as")],
    name: Annotated[str, typer.Option(help="What the token is for")] = "ckanapi",
    days: Annotated[int, typer.Option(help="Validity in days")] = 365,
) -> None:
    """Issue a CKAN API token for a person and print it (shown once)."""
    from tinhso.identity import repository
    from tinhso.identity.service import principal_for_person
    from tinhso.kit.db import get_database
    from tinhso.opendata import apitokens

    with get_database().transaction() as session:
        person = repository.get_person_by_username(session, username)
        if person is None:
            typer.echo(f"unknown user {username}", err=True)
            raise typer.Exit(1)
        principal = principal_for_person(session, person)
        _, secret = apitokens.issue(session, principal, name, None, days)
    typer.echo(secret)


@cli.command("refresh")
def refresh() -> None:
    """Refresh every publication whose schedule is due."""
    from tinhso.kit.db import get_database
    from tinhso.opendata import publishing

    with get_database().transaction() as session:
        typer.echo(f"{publishing.refresh_due(session, limit=1000)} publication(s) refreshed")
