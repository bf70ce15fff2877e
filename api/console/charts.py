"""Bar charts drawn on the server as inline SVG (no script): a title and a description for
screen readers, each bar's figure in its own title, and the axis labels as text.

Pure: figures in, markup out (escaped)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 180
TOP = 16
BOTTOM = 34  # room for the labels under the bars
LEFT = 8


@dataclass(frozen=True)
class Bar:
    label: str  # under the bar (may be left out when there are many: ``label_every``)
    value: float
    text: str  # the figure as read out and shown on hover, e.g. "12 orders at 14:00"
    warn: bool = False  # drawn in the warning colour (past due)


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    bars: Sequence[Bar],
    *,
    label_every: int = 1,
) -> Markup:
    """An SVG bar chart with ``role="img"``, labelled by its title and description."""
    top_value = max((b.value for b in bars), default=0) or 1
    slot = (WIDTH - 2 * LEFT) / max(len(bars), 1)
    plot = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot}" x2="{WIDTH - LEFT}" y2="{TOP + plot}"/>',
    ]
    for i, bar in enumerate(bars):
        h = round(plot * bar.value / top_value, 1)
        x = round(LEFT + i * slot + slot * 0.1, 1)
        w = round(slot * 0.8, 1)
        y = round(TOP + plot - h, 1)
        css = "bar warn" if bar.warn else "bar"
        parts.append(
            f'<g><title>{escape(bar.text)}</title><rect class="{css}" x="{x}" y="{y}" '
            f'width="{w}" height="{h}"/>'
        )
        if bar.value:
            parts.append(
                f'<text class="figure" x="{round(x + w / 2, 1)}" y="{round(y - 3, 1)}" '
                f'text-anchor="middle">{escape(_short(bar.value))}</text>'
            )
        if i % label_every == 0:
            parts.append(
                f'<text class="label" x="{round(x + w / 2, 1)}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{escape(bar.label)}</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped


def _short(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
