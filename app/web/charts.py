"""Small bar charts as inline SVG, drawn on the server: no scripts, nothing fetched."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT, PAD = 640, 160, 28


def bar_chart(title: str, values: list[tuple[str, float]], unit: str = "") -> str:
    """`values` oldest first as (label, value); returns an accessible <svg> element."""
    top = max((value for _, value in values), default=0) or 1
    slot = (WIDTH - 2 * PAD) / max(1, len(values))
    bars = []
    for index, (label, value) in enumerate(values):
        height = (HEIGHT - 2 * PAD) * value / top
        x = PAD + index * slot
        y = HEIGHT - PAD - height
        bars.append(
            f'<rect x="{x + slot * 0.1:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" height="{height:.1f}">'
            f"<title>{escape(label)}: {value:g}{escape(unit)}</title></rect>"
        )
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f'<text x="{PAD}" y="16" class="chart-title">{escape(title)}</text>'
        f'<text x="{WIDTH - PAD}" y="16" text-anchor="end" class="chart-max">max {top:g}{escape(unit)}</text>'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" class="axis"/>'
        + "".join(bars)
        + "</svg>"
    )
