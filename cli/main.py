"""The ``omniroute`` command: one entry point for every process of both deployments."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Annotated

import typer

from omniroute.cli.replenishment import replenishment_app
from omniroute.cli.reports import report_app
from omniroute.cli.rules import rules_app
from omniroute.core.platform.security import Role
from omniroute.core.platform.settings import Settings

app = typer.Typer(
    help="omniroute: integration hub and omnichannel order router", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens", no_args_is_help=True)
app.add_typer(token_app, name="token")
edi_app = typer.Typer(help="EDI trading partners", no_args_is_help=True)
app.add_typer(edi_app, name="edi")
wms_app = typer.Typer(help="warehouse systems", no_args_is_help=True)
app.add_typer(wms_app, name="wms")
app.add_typer(rules_app, name="rules")
app.add_typer(report_app, name="report")
app.add_typer(replenishment_app, name="replenishment")
user_app = typer.Typer(help="console users (people who sign in)", no_args_is_help=True)
app.add_typer(user_app, name="user")

DEMO_DB = "sqlite:///./omniroute-demo.db"


class Pool(StrEnum):
    """Celery execution pools a worker can run its tasks in."""

    PREFORK = "prefork"  # forked child processes, --concurrency of them
    THREADS = "threads"  # --concurrency threads in the worker's own process
    SOLO = "solo"  # one task at a time in the worker's own process: scale by processes


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic)."""
    from omniroute.core.platform.migrate import upgrade

    settings = Settings()
    upgrade(settings.database_url)
    typer.echo("database is at the latest schema")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to bind")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="API processes (broker mode only; embedded runs one)")
    ] = 1,
) -> None:
    """Run the API. Without OMNIROUTE_BROKER_URL it also runs the embedded worker."""
    import uvicorn

    settings = Settings()
    options = {
        "host": host,
        "port": port,
        "log_level": settings.log_level.lower(),
        "access_log": False,
    }
    if settings.log_format == "json":
        options["log_config"] = None  # uvicorn's loggers go to the root handler, as JSON
    if not settings.embedded:
        # Every worker process builds its own application from the settings.
        uvicorn.run("omniroute.api.asgi:broker_app", factory=True, workers=workers, **options)  # type: ignore[arg-type]
        return
    if workers > 1:
        typer.echo("embedded mode runs one process; --workers needs OMNIROUTE_BROKER_URL", err=True)
        raise typer.Exit(2)

    from omniroute.api.app import create_app
    from omniroute.core.bootstrap import bootstrap
    from omniroute.worker.embedded import EmbeddedRunner

    ctx = bootstrap(settings)
    runner = EmbeddedRunner(ctx)
    ctx.dispatcher = runner
    application = create_app(ctx, on_startup=runner.start, on_shutdown=runner.stop)
    uvicorn.run(application, **options)  # type: ignore[arg-type]


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option(help="tasks at a time: pool processes or threads (solo: always 1)")
    ] = 2,
    pool: Annotated[
        Pool,
        typer.Option(
            help="celery pool; solo runs tasks in the worker process itself (no child, half the "
            "memory): one worker process per core"
        ),
    ] = Pool.PREFORK,
    queues: Annotated[
        str | None,
        typer.Option(help="comma-separated queues to consume (default: control,outbox,celery)"),
    ] = None,
) -> None:
    """Run a Celery worker (needs OMNIROUTE_BROKER_URL)."""
    from omniroute.routing.geo import OfflineGeocoder
    from omniroute.worker.celery_app import create_celery

    celery = create_celery(Settings())
    OfflineGeocoder().warm()  # load once in the parent; forked pool processes share it
    celery.worker_main(
        [
            "worker",
            "--loglevel=INFO",
            f"--concurrency={1 if pool is Pool.SOLO else concurrency}",
            f"--pool={pool.value}",
            f"--hostname=omniroute-{os.getpid()}@%h",
            *([f"--queues={queues}"] if queues else []),
        ]
    )


@app.command()
def beat() -> None:
    """Run the scheduler that triggers the sweeper (needs OMNIROUTE_BROKER_URL)."""
    from omniroute.worker.celery_app import create_celery

    create_celery(Settings()).start(["beat", "--loglevel=INFO"])


@app.command()
def demo(
    send_orders: Annotated[int, typer.Option(help="post this many signed demo orders")] = 20,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    exit_when_done: Annotated[bool, typer.Option(help="stop once the orders settle")] = False,
) -> None:
    """Start everything on one machine (SQLite + in-process worker + a fake WMS)."""
    from omniroute.cli.demo.run import run_demo

    os.environ.setdefault("OMNIROUTE_DATABASE_URL", DEMO_DB)
    os.environ.setdefault("OMNIROUTE_ALLOW_PRIVATE_URLS", "true")
    os.environ.pop("OMNIROUTE_BROKER_URL", None)
    run_demo(
        Settings(), host=host, port=port, send_orders=send_orders, exit_when_done=exit_when_done
    )


CLI_ACTOR = "cli"


@token_app.command("create")
def token_create(
    *,
    role: Annotated[Role, typer.Option(help=", ".join(r.value for r in Role))],
    name: Annotated[str, typer.Option(help="who or what the token is for")] = "cli",
    owner: Annotated[str | None, typer.Option(help="the person or system answerable")] = None,
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, help="refused after this many days (default: never)")
    ] = None,
    connector: Annotated[
        list[int] | None, typer.Option(help="limit to this connector's data (repeatable)")
    ] = None,
    warehouse: Annotated[
        list[int] | None, typer.Option(help="limit to this warehouse's fulfilment (repeatable)")
    ] = None,
) -> None:
    """Create an API token and print it (it is shown only once)."""
    from datetime import timedelta

    from omniroute.core.access.tokens import NewToken, issue_token
    from omniroute.core.bootstrap import bootstrap
    from omniroute.core.platform.errors import DomainError

    ctx = bootstrap(Settings())
    try:
        expires = None if expires_in_days is None else ctx.clock.now() + timedelta(expires_in_days)
        spec = NewToken(name, role, owner, expires, connector or None, warehouse or None)
        _, value = issue_token(ctx, spec, created_by=CLI_ACTOR)
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        ctx.close()
    typer.echo(value)


@token_app.command("list")
def token_list(
    include_revoked: Annotated[bool, typer.Option(help="revoked tokens too")] = False,
) -> None:
    """List tokens as JSON lines (never their values)."""
    import json

    from omniroute.core.access.tokens import list_tokens
    from omniroute.core.bootstrap import bootstrap

    ctx = bootstrap(Settings())
    try:
        after = 0
        while page := list_tokens(ctx, include_revoked=include_revoked, after_id=after):
            for row in page:
                typer.echo(json.dumps(row, default=str))
            after = page[-1]["id"]
    finally:
        ctx.close()


@token_app.command("roles")
def token_roles() -> None:
    """Print the role table (Markdown), as README.md shows it."""
    from omniroute.core.access.permissions import role_table_markdown

    typer.echo(role_table_markdown(), nl=False)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Revoke a token: it is refused from now on."""
    from omniroute.core.access.tokens import revoke_token
    from omniroute.core.bootstrap import bootstrap
    from omniroute.core.platform.errors import NotFound

    ctx = bootstrap(Settings())
    try:
        row = revoke_token(ctx, token_id, actor=CLI_ACTOR)
    except NotFound as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        ctx.close()
    typer.echo(f"token {row['id']} ({row['name']}) revoked at {row['revoked_at']}")


@edi_app.command("import")
def edi_import(
    file: Annotated[str, typer.Argument(help="a file of one or more interchanges")],
    partner: Annotated[int, typer.Option(help="the partner's connector id", min=1)],
) -> None:
    """Store a partner's file as its endpoint would (one line of JSON per interchange); the
    worker processes it."""
    import json
    from pathlib import Path

    from omniroute.core.bootstrap import bootstrap
    from omniroute.core.edi.intake import import_file
    from omniroute.core.platform.errors import DomainError

    try:
        body = Path(file).read_bytes()
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc}", err=True)
        raise typer.Exit(2) from None
    ctx = bootstrap(Settings())
    try:
        entries = import_file(ctx, partner, body, source=f"cli:{Path(file).name}")
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        ctx.close()
    for entry in entries:
        typer.echo(json.dumps(entry.as_dict()))


@wms_app.command("file-turn")
def wms_file_turn(
    warehouse: Annotated[str, typer.Option(help="the warehouse's code")],
) -> None:
    """Take the confirmation files of a file-based warehouse's inbound folder now, as the
    sweeper does (one line of JSON per file)."""
    import json

    from omniroute.core.bootstrap import bootstrap
    from omniroute.core.fulfilment.file_inbox import turn_for_warehouse
    from omniroute.core.platform.errors import DomainError

    ctx = bootstrap(Settings())
    try:
        taken = turn_for_warehouse(ctx, warehouse)
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        ctx.close()
    for item in taken:
        typer.echo(
            json.dumps(
                {
                    "file": item.name,
                    "status": item.status,
                    "inbound_id": item.inbound_id,
                    "reasons": list(item.reasons),
                }
            )
        )


def _read_password(from_stdin: bool) -> str:
    """From the first line of standard input, or a prompt that does not echo, twice."""
    import sys

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return value


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="read the password from standard input")
]


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="the name they sign in with")],
    *,
    role: Annotated[Role, typer.Option(help=", ".join(r.value for r in Role))],
    connector: Annotated[
        list[int] | None, typer.Option(help="limit to this connector's data (repeatable)")
    ] = None,
    warehouse: Annotated[
        list[int] | None, typer.Option(help="limit to this warehouse's records (repeatable)")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a console user; the password is prompted for (never an argument)."""
    from omniroute.core.access.users import NewUser, create_user
    from omniroute.core.bootstrap import bootstrap
    from omniroute.core.platform.errors import DomainError

    password = _read_password(password_stdin)
    ctx = bootstrap(Settings())
    try:
        spec = NewUser(username, role, connector or None, warehouse or None)
        row = create_user(ctx, spec, password, actor=CLI_ACTOR)
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        ctx.close()
    typer.echo(f"user {row['username']} ({row['role']}) created")


@user_app.command("list")
def user_list() -> None:
    """List console users as JSON lines (never their password hashes)."""
    import json

    from omniroute.core.access.users import list_users
    from omniroute.core.bootstrap import bootstrap

    ctx = bootstrap(Settings())
    try:
        after = 0
        while page := list_users(ctx, after_id=after):
            for row in page:
                typer.echo(json.dumps(row, default=str))
            after = page[-1]["id"]
    finally:
        ctx.close()


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument()]) -> None:
    """Refuse the user's sign-ins from now on and end their sessions."""
    from omniroute.core.access.users import disable_user
    from omniroute.core.bootstrap import bootstrap
    from omniroute.core.platform.errors import NotFound

    ctx = bootstrap(Settings())
    try:
        disable_user(ctx, username, actor=CLI_ACTOR)
    except NotFound as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        ctx.close()
    typer.echo(f"user {username} disabled")


@user_app.command("set-password")
def user_set_password(
    username: Annotated[str, typer.Argument()], password_stdin: PasswordStdin = False
) -> None:
    """Set a new password (prompted for); the user's sessions end."""
    from omniroute.core.access.users import set_password
    from omniroute.core.bootstrap import bootstrap
    from omniroute.core.platform.errors import DomainError, NotFound

    password = _read_password(password_stdin)
    ctx = bootstrap(Settings())
    try:
        set_password(ctx, username, password, actor=CLI_ACTOR)
    except NotFound as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        ctx.close()
    typer.echo(f"password of {username} changed")


if __name__ == "__main__":
    app()


class ReportFormat(StrEnum):
    JSON = "json"  # JSON lines, one row per line
    CSV = "csv"


def _report(kind: str, since: str, until: str, fmt: ReportFormat) -> None:
    import json
    from datetime import date

    from omniroute.core.bootstrap import bootstrap
    from omniroute.core.carriers import reports
    from omniroute.core.platform.errors import Invalid

    try:
        first, stop = date.fromisoformat(since), date.fromisoformat(until)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    make, columns = (
        (reports.freight, reports.FREIGHT_COLUMNS)
        if kind == "freight"
        else (reports.on_time, reports.ON_TIME_COLUMNS)
    )
    ctx = bootstrap(Settings())
    try:
        rows = make(ctx, since=first, until=stop)
    except Invalid as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        ctx.close()
    if fmt is ReportFormat.CSV:
        typer.echo(reports.as_csv(rows, columns), nl=False)
        return
    for row in rows:
        typer.echo(json.dumps(row))


SinceOption = Annotated[str, typer.Option("--since", help="first UTC day (YYYY-MM-DD), included")]
UntilOption = Annotated[str, typer.Option("--until", help="UTC day it stops before, excluded")]
FormatOption = Annotated[ReportFormat, typer.Option("--format", help="json lines or csv")]


@report_app.command("freight")
def report_freight(
    since: SinceOption, until: UntilOption, fmt: FormatOption = ReportFormat.JSON
) -> None:
    """Freight cost booked per carrier, warehouse, channel and currency."""
    _report("freight", since, until, fmt)


@report_app.command("on-time")
def report_on_time(
    since: SinceOption, until: UntilOption, fmt: FormatOption = ReportFormat.JSON
) -> None:
    """Carriers' on-time rate per lane (delivered by the promise / delivered)."""
    _report("on-time", since, until, fmt)
