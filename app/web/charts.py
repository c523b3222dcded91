"""Small bar charts as inline SVG, drawn on the server: no scripts, nothing fetched.

Readable without hovering: a y axis with three ticks in the series' unit, each bar's run
under it on the x axis, and the value above the bar while there is room for it.
"""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 28, 44  # room for the y ticks, the title and the run labels
VALUE_LABEL_MIN_SLOT = 22  # px a bar needs for its value printed above it


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def bar_chart(title: str, values: list[tuple[str, float]], unit: str = "", x_title: str = "run") -> str:
    """`values` oldest first as (label, value); returns an accessible <svg> element."""
    top = max((value for _, value in values), default=0) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    slot = plot_w / max(1, len(values))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f'<text x="{LEFT}" y="16" class="chart-title">{escape(title)}</text>',
        f'<text x="12" y="{TOP + plot_h / 2:.0f}" class="axis-title" transform="rotate(-90 12 {TOP + plot_h / 2:.0f})"'
        f' text-anchor="middle">{escape(unit.strip() or "count")}</text>',
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 4}" class="axis-title" text-anchor="middle">'
        f"{escape(x_title)}</text>",
    ]
    for fraction in (0, 0.5, 1):
        y = base - plot_h * fraction
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="grid"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_tick(top * fraction)}</text>'
        )
    parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" class="axis"/>')
    for index, (label, value) in enumerate(values):
        height = plot_h * value / top
        x = LEFT + index * slot
        centre = x + slot / 2
        parts.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{base - height:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}">'
            f"<title>{escape(label)}: {value:g}{escape(unit)}</title></rect>"
        )
        if slot >= VALUE_LABEL_MIN_SLOT:
            parts.append(
                f'<text x="{centre:.1f}" y="{base - height - 3:.1f}" text-anchor="middle" class="value">'
                f"{value:g}</text>"
            )
        parts.append(
            f'<text x="{centre:.1f}" y="{base + 8:.1f}" text-anchor="end" class="tick"'
            f' transform="rotate(-60 {centre:.1f} {base + 8:.1f})">{escape(label)}</text>'
        )
    parts.append(f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" class="axis"/>')
    return "".join(parts) + "</svg>"
