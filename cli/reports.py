"""``omniroute report ...``: the report group; the ERP reconciliation is here, the freight
and carrier on-time reports are added to the group in cli/main.py."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

from omniroute.core.platform.settings import Settings

report_app = typer.Typer(
    help="reports: freight cost, carrier on-time, ERP reconciliation", no_args_is_help=True
)


def _day(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter("a day as YYYY-MM-DD") from None


@report_app.command("erp-reconciliation")
def erp_reconciliation(
    date_from: Annotated[str, typer.Option("--from", help="first day (UTC), YYYY-MM-DD")],
    date_to: Annotated[str, typer.Option("--to", help="last day (UTC), YYYY-MM-DD")],
    connector: Annotated[
        int | None, typer.Option(help="only this ERP connector (default: every enabled one)")
    ] = None,
) -> None:
    """Orders shipped but not invoiced, and the ERP's invoices without a shipment here.
    Exits 1 when the report is not clean, 2 on a bad argument."""
    import json

    from omniroute.core.bootstrap import bootstrap
    from omniroute.core.erp.reconciliation import erp_reconciliation as report
    from omniroute.core.platform.errors import DomainError

    first, last = _day(date_from), _day(date_to)
    ctx = bootstrap(Settings())
    try:
        result = report(ctx, date_from=first, date_to=last, connector_id=connector)
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        ctx.close()
    typer.echo(json.dumps(result, indent=2, sort_keys=True))
    if not result["clean"]:
        raise typer.Exit(1)
