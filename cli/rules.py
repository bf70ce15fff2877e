"""``omniroute rules``: check, try and replay rule sets; list, withdraw, roll back, diff."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from omniroute.core.platform.settings import Settings

if TYPE_CHECKING:
    from omniroute.core.bootstrap import Context

rules_app = typer.Typer(
    help="routing rule sets: validate, simulate, backtest; list, withdraw, activate, diff",
    no_args_is_help=True,
)
CLI_ACTOR = "cli"


class Format(StrEnum):
    TABLE = "table"  # the summary as a table (and per-order changes on request)
    JSON = "json"  # the whole answer, as the API gives it
    CSV = "csv"  # the per-order changes as CSV


def _read_rules(path: str) -> dict[str, object]:
    import json

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        typer.echo(f"{path}: {exc}", err=True)
        raise typer.Exit(2) from None
    if not isinstance(doc, dict):
        typer.echo(f"{path}: a rule set is a JSON object", err=True)
        raise typer.Exit(2)
    return doc


def _context() -> Context:
    from omniroute.core.bootstrap import bootstrap

    return bootstrap(Settings())


@rules_app.command("validate")
def rules_validate(
    path: Annotated[str, typer.Argument(help="rule set JSON file")],
    references: Annotated[
        bool,
        typer.Option(
            help="also check the warehouses, tags, SKUs, channels and connectors it names "
            "against the configured database"
        ),
    ] = False,
) -> None:
    """Check a rule set; every problem is printed with its JSON path (exit 1 if any)."""
    from omniroute.routing.rules import validate_rule_set

    doc = _read_rules(path)
    errors = validate_rule_set(doc)
    for error in errors:
        typer.echo(f"{error.path}: {error.message}")
    if errors:
        raise typer.Exit(1)
    if references:
        from omniroute.core.order_routing.rule_sets import validate_document

        ctx = _context()
        try:
            check = validate_document(ctx, doc)
        finally:
            ctx.close()
        for problem in check.errors:
            typer.echo(f"{problem['path']}: {problem['message']}")
        for warning in check.warnings:
            typer.echo(f"warning: {warning['path']}: {warning['message']}")
        if check.errors:
            raise typer.Exit(1)
    typer.echo("valid")


@rules_app.command("simulate")
def rules_simulate(
    path: Annotated[str, typer.Argument(help="rule set JSON file")],
    order_id: Annotated[int, typer.Option(help="a stored order to route")],
) -> None:
    """What the rule set would decide for a stored order (nothing is written)."""
    import json

    from omniroute.core.order_routing.simulate import simulate

    ctx = _context()
    try:
        result = simulate(ctx, order_id=order_id, document=_read_rules(path))
    finally:
        ctx.close()
    typer.echo(json.dumps(result, indent=2, default=str))


@rules_app.command("backtest")
def rules_backtest(
    path: Annotated[str, typer.Argument(help="rule set JSON file")],
    last: Annotated[int, typer.Option(help="replay the most recent N routed orders")] = 100,
    output: Annotated[
        Format,
        typer.Option(
            "--format",
            help="table: the summary (default); json: the whole answer; csv: per-order changes",
        ),
    ] = Format.TABLE,
    changes: Annotated[
        Path | None,
        typer.Option(help="write every changed order to this file: CSV, or JSON lines (.jsonl)"),
    ] = None,
    show_changes: Annotated[
        bool, typer.Option(help="list the changed orders under the summary table")
    ] = False,
) -> None:
    """Replay the rule set over recent orders and compare with their stored decisions."""
    import json

    from omniroute.core.order_routing import backtest_report as shown
    from omniroute.core.order_routing.backtest import backtest

    complete = changes is not None or output is Format.CSV or show_changes
    ctx = _context()
    try:
        report = backtest(ctx, _read_rules(path), last=last, detail_limit=None if complete else 200)
    finally:
        ctx.close()
    if changes is not None:
        jsonl = changes.suffix.lower() in (".jsonl", ".ndjson")
        text = (shown.changes_jsonl if jsonl else shown.changes_csv)(report["changes"])
        changes.write_text(text, encoding="utf-8")
    if output is Format.JSON:
        typer.echo(json.dumps(report, indent=2, default=str))
    elif output is Format.CSV:
        typer.echo(shown.changes_csv(report["changes"]), nl=False)
    else:
        typer.echo(shown.summary_table(report), nl=False)
        if show_changes:
            typer.echo("\nChanged orders:")
            typer.echo(shown.changes_table(report["changes"]), nl=False)
        elif changes is not None:
            typer.echo(f"\n{len(report['changes'])} changed orders written to {changes}")
        elif report["changed_decisions"]:
            typer.echo("\n--show-changes lists the changed orders; --changes FILE writes them")


def _when(value: Any) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}"


@rules_app.command("list")
def rules_list() -> None:
    """Every version with its state now: which one is active, which is scheduled."""
    from omniroute.core.order_routing.rule_sets import list_rule_sets

    ctx = _context()
    try:
        versions = list_rule_sets(ctx)
    finally:
        ctx.close()
    rows = [("id", "version", "name", "state", "effective from (UTC)", "by", "note")]
    for v in versions:
        row = v.row
        note = row.withdraw_reason if row.withdrawn_at else row.notes
        by = row.withdrawn_by if row.withdrawn_at else row.published_by or row.created_by
        rows.append(
            (
                str(row.id),
                str(row.version),
                row.name,
                v.state.value,
                _when(row.effective_from),
                by or "",
                note or "",
            )
        )
    widths = [max(len(r[n]) for r in rows) for n in range(len(rows[0]))]
    for r in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def _domain_call(action: Any) -> Any:
    from omniroute.core.platform.errors import DomainError

    ctx = _context()
    try:
        return action(ctx)
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        for problem in exc.details.get("errors", []):
            typer.echo(f"  {problem['path']}: {problem['message']}", err=True)
        raise typer.Exit(1) from None
    finally:
        ctx.close()


@rules_app.command("withdraw")
def rules_withdraw(
    rule_set_id: Annotated[int, typer.Argument(min=1, help="the version's id (rules list)")],
    reason: Annotated[str | None, typer.Option(help="kept with the version")] = None,
) -> None:
    """Withdraw a version: it routes nothing from now on (a scheduled one never takes effect)."""
    from omniroute.core.order_routing.rule_sets import withdraw

    version = _domain_call(lambda ctx: withdraw(ctx, rule_set_id, reason=reason, actor=CLI_ACTOR))
    typer.echo(f"version {version.row.version} withdrawn")


@rules_app.command("activate")
def rules_activate(
    rule_set_id: Annotated[int, typer.Argument(min=1, help="the version's id (rules list)")],
) -> None:
    """Roll back to a published version: copied as a new active version; every scheduled
    version is withdrawn so none takes over later."""
    from omniroute.core.order_routing.rule_sets import activate

    version = _domain_call(lambda ctx: activate(ctx, rule_set_id, actor=CLI_ACTOR))
    row = version.row
    typer.echo(f"version {row.copied_from} is active again as version {row.version}")
    for number in version.withdrawn:
        typer.echo(f"scheduled version {number} withdrawn")
    for warning in version.warnings or []:
        typer.echo(f"warning: {warning['path']}: {warning['message']}")


@rules_app.command("diff")
def rules_diff(
    rule_set_id: Annotated[int, typer.Argument(min=1, help="the newer version's id")],
    against: Annotated[
        int | None, typer.Option(min=1, help="the older version's id (default: the active one)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the diff as JSON")] = False,
) -> None:
    """What changed between two versions, rule by rule."""
    import json

    from omniroute.core.order_routing.rule_sets import diff_versions

    diff = _domain_call(lambda ctx: diff_versions(ctx, rule_set_id, against=against))
    if as_json:
        typer.echo(json.dumps(diff, indent=2, default=str))
        return
    old, new = diff["from"], diff["to"]
    typer.echo(f"{old['name']} v{old['version']} -> {new['name']} v{new['version']}")
    for line in diff["lines"]:
        typer.echo(line)
