"""`tinhso exchange …` commands."""

from __future__ import annotations

import typer
from rich.console import Console

cli = typer.Typer(help="LGSP/LDOP exchange hub: message log, deliveries", no_args_is_help=True)
console = Console(stderr=True)


@cli.command("verify-log")
def verify_log() -> None:
    """Verify the signed, hash-chained message log; exit 1 naming the first broken entry."""
    from tinhso.exchange import msglog
    from tinhso.kit.db import get_database

    with get_database().transaction(write=False) as session:
        result = msglog.verify(session)
    if result.ok:
        console.print(f"[green]OK[/]: {result.checked} entries, chain and signatures intact")
        return
    console.print(
        f"[red]BROKEN[/] at entry {result.broken_seq}: {result.reason} ({result.checked} verified before it)"
    )
    raise typer.Exit(1)


@cli.command("probe")
def probe() -> None:
    """Probe every published provider's upstream once and print the result."""
    import httpx

    from tinhso.exchange import monitor
    from tinhso.kit.db import get_database

    with httpx.Client(trust_env=False) as http:
        up = monitor.probe_all(get_database(), http)
    console.print(f"{up} provider(s) answered")


@cli.command("hub-key")
def hub_key() -> None:
    """Print this hub's Ed25519 public key (give it to peers)."""
    from tinhso.exchange import msglog
    from tinhso.kit.db import get_database

    print(msglog.public_pem(get_database()), end="")
