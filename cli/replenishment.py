"""``omniroute replenishment``: import stock thresholds from CSV, run suggestions to CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, fields
from pathlib import Path
from typing import Annotated

import typer

from omniroute.core.platform.settings import Settings

replenishment_app = typer.Typer(
    help="stock thresholds, reorder and transfer suggestions", no_args_is_help=True
)
CLI_ACTOR = "cli"


@replenishment_app.command("import-thresholds")
def import_thresholds(
    path: Annotated[Path, typer.Argument(help="CSV file with a header row", exists=True)],
) -> None:
    """Set stock thresholds from a CSV file, all or none. Columns: warehouse (its code),
    sku, min_units, max_units, min_days, max_days, lead_time_days, review_period_days,
    pack_size, moq; empty cells leave a figure unset."""
    from omniroute.core.bootstrap import bootstrap
    from omniroute.core.platform.errors import DomainError
    from omniroute.core.replenishment.thresholds import import_csv

    ctx = bootstrap(Settings())
    try:
        count = import_csv(ctx, path.read_text(encoding="utf-8-sig"), actor=CLI_ACTOR)
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        ctx.close()
    typer.echo(f"{count} thresholds set")


@replenishment_app.command("suggest")
def suggest(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="write the CSV here (default: stdout)")
    ] = None,
) -> None:
    """Forecast demand, write new transfer and purchase suggestions (the API lists them) and
    print them as CSV: transfers first, then purchases."""
    from omniroute.core.bootstrap import bootstrap
    from omniroute.core.replenishment.suggestions import Line, run

    ctx = bootstrap(Settings())
    try:
        result = run(ctx, actor=CLI_ACTOR)
    finally:
        ctx.close()
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=[f.name for f in fields(Line)], lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(line) for line in result.lines)
    if out is None:
        typer.echo(text.getvalue(), nl=False)
    else:
        out.write_text(text.getvalue(), encoding="utf-8")
    typer.echo(
        f"run {result.run_id}: {result.series} SKU x warehouse pairs, "
        f"{len(result.lines)} suggestions",
        err=True,
    )


@replenishment_app.command("send")
def send(
    connector: Annotated[
        int | None, typer.Option(help="the ERP connector (default: the only enabled one)")
    ] = None,
) -> None:
    """Send every proposed purchase suggestion to the ERP as a purchase request (through the
    outbox: the worker or the sweeper delivers it). Prints the suggestions sent."""
    from omniroute.core.bootstrap import bootstrap
    from omniroute.core.platform.errors import DomainError
    from omniroute.core.replenishment.purchasing import send_purchases

    ctx = bootstrap(Settings())
    try:
        sent = send_purchases(ctx, connector_id=connector, actor=CLI_ACTOR)
    except DomainError as exc:
        typer.echo(f"not sent: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        ctx.close()
    typer.echo(
        f"{len(sent.suggestion_ids)} purchase requests queued for ERP connector "
        f"{sent.connector_id}: {sent.suggestion_ids}"
    )
