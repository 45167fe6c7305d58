"""The `tinhso` command: serve, demo, worker, migrate, seed, audit, backup, restore and each module's commands."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

from tinhso.kit.db import get_database
from tinhso.modules import plugins
from tinhso.settings import get_settings

app = typer.Typer(help="tỉnh số — the digital-province platform", no_args_is_help=True, add_completion=False)
audit_app = typer.Typer(help="Audit log", no_args_is_help=True)
dev_app = typer.Typer(help="Developer tools", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(dev_app, name="dev")
console = Console(stderr=True)


@app.command()
def migrate(
    target: Annotated[
        list[str] | None,
        typer.Option(
            metavar="REVISION",
            help="Upgrade only to this revision (repeatable; e.g. procedures_0003); default: heads",
        ),
    ] = None,
) -> None:
    """Apply every module's schema migrations (or up to the given revisions: expand before contract)."""
    from tinhso.migrate import upgrade

    upgrade(targets=target or ["heads"])
    console.print("[green]Cơ sở dữ liệu đã cập nhật / database is up to date[/]")


@app.command()
def seed(demo: Annotated[bool, typer.Option(help="Also load the demo data")] = False) -> None:
    """Load reference data (communes, agencies, roles, …) and, with --demo, the demo data."""
    db = get_database()
    loaded = [(n, p) for n, p in plugins() if hasattr(p, "seed")]
    phases = [False, True] if demo else [False]
    with Progress(console=console) as progress:
        task = progress.add_task("seed", total=len(loaded) * len(phases))
        for phase in phases:
            for name, plugin in loaded:
                progress.update(task, description=f"{'demo' if phase else 'seed'}: {name}")
                with db.transaction() as session:
                    plugin.seed(session, phase)
                progress.advance(task)
    from tinhso.kit.events import wait_until_dispatched

    wait_until_dispatched(db, timeout=60)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Serve the portal and APIs."""
    import uvicorn

    uvicorn.run("tinhso.asgi:app", host=host, port=port, workers=workers, proxy_headers=True, log_config=None)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    serve_: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve after loading")] = True,
) -> None:
    """Migrate, load Nghệ An's demo data and serve it on http://HOST:PORT."""
    migrate()
    seed(demo=True)
    from tinhso.kit import democreds

    console.print(f"[bold]Tài khoản demo / demo accounts:[/] {democreds.path().resolve()}", soft_wrap=True)
    console.print(
        f"[bold]Đăng nhập / sign in:[/] http://{host}:{port}/signin  (admin, canbo.tuphap, congdan, …)"
    )
    if serve_:
        serve(host=host, port=port)


@app.command()
def worker() -> None:
    """Run background work: event delivery and each module's jobs, until SIGTERM."""
    from tinhso.kit.events import Dispatcher, bus

    settings = get_settings()
    db = get_database()
    # The worker delivers the outbox, so it needs the modules' subscribers and external bus (as the app does).
    for _, plugin in plugins():
        if hasattr(plugin, "subscribe"):
            plugin.subscribe(bus)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from tinhso.ops.memtrace import start_from_env

    start_from_env(settings.var_dir, stop)  # off unless TINHSO_MEMTRACE_MINUTES is set (docs/operations.md)
    dispatcher = Dispatcher(db, settings.outbox_poll_seconds)
    dispatcher.start()
    threads = []
    for name, plugin in plugins():
        if hasattr(plugin, "worker"):
            t = threading.Thread(target=plugin.worker, args=(stop, db), name=f"worker-{name}", daemon=True)
            t.start()
            threads.append(t)
    console.print("worker running")
    stop.wait()
    dispatcher.stop()
    for t in threads:
        t.join(timeout=10)


@app.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Argument(help="Username of the platform administrator")],
    full_name: Annotated[str, typer.Option(help="Full name")] = "Quản trị nền tảng",
    agency: Annotated[str, typer.Option(help="Agency code")] = "000.00.02.H41",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin")
    ] = False,
) -> None:
    """Create (or reset) a platform administrator: the first account of a new installation."""
    from tinhso.identity.admin import ensure_platform_admin

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Mật khẩu / password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        console.print("[red]Mật khẩu cần ít nhất 10 ký tự / the password needs at least 10 characters[/]")
        raise typer.Exit(2)
    with get_database().transaction() as session:
        ensure_platform_admin(session, username, full_name, agency, password)
    console.print(f"[green]{username}[/]: platform administrator")


@app.command("rotate-signing-key")
def rotate_signing_key(
    retire_after_hours: Annotated[float, typer.Option(help="Unpublish inactive keys older than this")] = 24,
) -> None:
    """Rotate the key that signs access and ID tokens (every process picks it up within 5 minutes)."""
    from tinhso.identity import tokens
    from tinhso.kit import audit

    with get_database().transaction() as session:
        kid = tokens.rotate(session)
        retired = tokens.retire(session, retire_after_hours)
        audit.record(
            session,
            "identity.signing_key.rotate",
            object_type="signing_key",
            object_id=kid,
            detail={"retired": retired},
        )
    console.print(f"[green]New signing key {kid}[/]; {retired} old key(s) unpublished")


@audit_app.command("verify")
def audit_verify() -> None:
    """Verify the audit chain; exit 1 and name the first broken entry if any was altered."""
    from tinhso.kit import audit

    with get_database().transaction(write=False) as session:
        result = audit.verify(session)
    if result.ok:
        console.print(f"[green]OK[/]: {result.checked} entries, chain intact")
        return
    console.print(
        f"[red]BROKEN[/] at entry {result.broken_seq}: {result.reason} ({result.checked} verified before it)"
    )
    raise typer.Exit(1)


@app.command()
def backup(file: Annotated[Path, typer.Argument(help="Backup file to write (.zip)")]) -> None:
    """Back up every table to FILE (SQLite or PostgreSQL; restorable on either)."""
    from tinhso.kit.backup import backup as run

    counts = run(get_database(), file, progress=lambda t, n: console.print(f"  {t}: {n}"))
    console.print(f"[green]{sum(counts.values())} rows[/] → {file}")


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="Backup file to read")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Replace the database's contents with FILE, in one transaction."""
    from tinhso.kit.backup import restore as run

    if not file.exists():
        console.print(f"[red]No such file[/]: {file}")
        raise typer.Exit(2)
    if not yes and not typer.confirm("Xoá dữ liệu hiện có và khôi phục? / Replace all current data?"):
        raise typer.Exit(1)
    counts = run(get_database(), file, progress=lambda t, n: console.print(f"  {t}: {n}"))
    console.print(f"[green]{sum(counts.values())} rows restored[/]")


@app.command()
def datacentre(
    directory: Annotated[Path, typer.Option("--dir", help="Working directory for logs and nginx")] = Path(
        "var/dc"
    ),
    database_url: Annotated[
        str, typer.Option(help="PostgreSQL URL")
    ] = "postgresql://postgres@127.0.0.1:5432/tinhso",
    apis: Annotated[int, typer.Option(help="API processes")] = 2,
    demo_data: Annotated[bool, typer.Option("--demo/--no-demo", help="Load the demo data")] = True,
) -> None:
    """Run the data-centre layout on this machine: API processes and a worker behind nginx, until Ctrl-C."""
    from tinhso.ops.datacentre import start

    dep = start(directory.resolve(), database_url, api_count=apis, seed_demo=demo_data)
    console.print(f"[green]Serving through nginx at {dep.url}[/] (API ports {dep.api_ports}); Ctrl-C stops")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        dep.stop()


@dev_app.command("makemigration")
def makemigration(
    module: Annotated[str, typer.Argument(help="Module (branch) name, or 'foundation'")],
    message: Annotated[str, typer.Option("-m", help="What changed")],
) -> None:
    """Autogenerate the next migration of one module from its models."""
    from tinhso.migrate import make_migration

    make_migration(module, message)


def _mount_module_commands() -> None:
    for name, plugin in plugins():
        sub = getattr(plugin, "cli", None)
        if sub is not None:
            app.add_typer(sub, name=getattr(plugin, "cli_name", name))
    # The warehouse commands are also top-level, as operators know them: `tinhso ingest`, `tinhso synth`.
    from importlib.util import find_spec

    if find_spec("tinhso.data.cli") is not None:
        from tinhso.data import cli as data_cli

        app.command("ingest", help="Ingest a file into the data warehouse (= tinhso data ingest)")(
            data_cli.ingest
        )
        app.add_typer(data_cli.synth_cli, name="synth")


def main() -> None:
    _mount_module_commands()
    app()


if __name__ == "__main__":
    main()
