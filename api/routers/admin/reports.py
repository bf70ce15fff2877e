"""Reports: freight cost per carrier, warehouse and channel; carriers' on-time rate per lane."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from omniroute.api.deps import CtxDep, require
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.carriers import reports as svc

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

ReadReports = Annotated[Principal, Depends(require(Permission.REPORTS_READ))]
Since = Annotated[date, Query(description="first UTC day, included")]
Until = Annotated[date, Query(description="UTC day the report stops before (excluded)")]


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"


def _answer(rows: list[dict[str, Any]], fmt: Format, columns: tuple[str, ...], name: str) -> Any:
    if fmt is Format.JSON:
        return rows
    return Response(
        svc.as_csv(rows, columns),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get(
    "/freight",
    response_model=None,
    responses={200: {"content": {"text/csv": {}}, "description": "rows, or CSV"}},
)
def freight_report(
    *, ctx: CtxDep, _: ReadReports, since: Since, until: Until, format: Format = Format.JSON
) -> Any:
    """Freight booked in the range per carrier, warehouse, channel and currency: bookings,
    total and average cost (decimal strings)."""
    rows = svc.freight(ctx, since=since, until=until)
    return _answer(rows, format, svc.FREIGHT_COLUMNS, f"freight-{since}-{until}")


@router.get(
    "/carrier-on-time",
    response_model=None,
    responses={200: {"content": {"text/csv": {}}, "description": "rows, or CSV"}},
)
def carrier_on_time_report(
    *, ctx: CtxDep, _: ReadReports, since: Since, until: Until, format: Format = Format.JSON
) -> Any:
    """Shipments delivered in the range, per carrier and lane (warehouse → ship-to country
    and region): delivered, delivered by the booking's deliver-by date, and the rate."""
    rows = svc.on_time(ctx, since=since, until=until)
    return _answer(rows, format, svc.ON_TIME_COLUMNS, f"carrier-on-time-{since}-{until}")
