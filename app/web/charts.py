"""Small bar charts as inline SVG, drawn on the server: no scripts, nothing fetched.

Drawn at a phone's width: the viewBox is about as wide as the page's column on a 390 px
phone, so the page's 10 px tick text stays about 10 px there; on a wider screen the chart
grows only to MAX_WIDTH_PX, so its text never outgrows the page's by much. The y axis has
round ticks (0, 500, 1,000) and every number is printed by `number`. Each bar is a group with
a <title> (its slot and value, in words); a slot where something failed is marked in red
under the axis, so a failure never looks like an empty slot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 360
PLOT_H = 110
LEFT, RIGHT = 52, 8  # room for the y ticks ("150,000")
TITLE_H, LINE_H = 22, 14  # the title's line; the note's and the y axis title's under it
BOTTOM = 46  # the failure marks, the x ticks and the x axis title
MAX_WIDTH_PX = 540
MOST_STEPS = 4  # y ticks above zero
FAILED_FILL = "#cf222e"  # the page's status-failed red (a path: the page's CSS fills rects blue)


@dataclass(frozen=True)
class Bar:
    key: str  # the slot, for machines (data-key)
    name: str  # the slot in words, for its <title>
    value: float
    tick: str = ""  # its label under the axis; most bars have none
    failed: str = ""  # what failed in the slot, in words ("1 failed"): marks the bar


def number(value: float) -> str:
    """Every number the charts print, ticks and values alike: whole numbers with thousands
    separators from 100 up, three significant digits below (12.3, 0.025)."""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    decimals = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}".rstrip("0").rstrip(".")


def ticks(top: float, whole: bool = False) -> list[float]:
    """Round y ticks from 0 to at least `top`: at most MOST_STEPS steps of 1, 2, 2.5 or 5 × 10ⁿ
    (`whole`: of 1 at least, for counts)."""
    if top <= 0:
        return [0, 1]
    least = max(top / MOST_STEPS, 1 if whole else 0)
    power = 10 ** math.floor(math.log10(least))
    step = next(power * m for m in (1, 2, 2.5, 5, 10) if power * m >= least * (1 - 1e-9))
    steps = max(1, math.ceil(top / step - 1e-9))
    return [float(f"{step * i:.12g}") for i in range(steps + 1)]


def bar_chart(
    title: str, bars: Sequence[Bar], *, y_title: str, x_title: str, unit: str = "", note: str = "", whole: bool = False
) -> str:
    """`bars` left to right, one slot each (a zero is a gap, not a missing slot); `unit` follows
    each value in the titles (" s"); `note`, a line under the title, says what the scale means;
    `whole`: the values are counts. The y axis title stands above the axis, level (a rotated one
    would take the width long ticks need). Returns an accessible <svg> element."""
    scale = ticks(max((bar.value for bar in bars), default=0), whole)
    top = scale[-1]
    y_title_at = TITLE_H + (LINE_H if note else 0) + LINE_H
    upper = y_title_at + 8
    base = upper + PLOT_H
    height = base + BOTTOM
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / max(1, len(bars))
    label = f"{title}. {note}" if note else title
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(label)}"'
        f' style="max-width:{MAX_WIDTH_PX}px">',
        f'<text x="4" y="16" class="chart-title">{escape(title)}</text>',
    ]
    if note:
        parts.append(f'<text x="4" y="{TITLE_H + LINE_H}" class="axis-title">{escape(note)}</text>')
    parts.append(f'<text x="4" y="{y_title_at}" class="axis-title">{escape(y_title)}</text>')
    for value in scale:
        y = base - PLOT_H * value / top
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 3.5:.1f}" text-anchor="end" class="tick">{number(value)}</text>')
    for index, bar in enumerate(bars):
        parts.append(_bar(bar, LEFT + index * slot, slot, base, PLOT_H * bar.value / top, unit))
    parts.append(f'<line x1="{LEFT}" y1="{upper}" x2="{LEFT}" y2="{base}" class="axis"/>')
    parts.append(f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" class="axis"/>')
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{height - 6}" class="axis-title" text-anchor="middle">'
        f"{escape(x_title)}</text>"
    )
    return "".join(parts) + "</svg>"


def _bar(bar: Bar, x: float, slot: float, base: float, tall: float, unit: str) -> str:
    """One slot: its group (bar, <title>, failure mark) and its tick, if it has one."""
    centre = x + slot / 2
    said = f"{bar.name}: {number(bar.value)}{unit}" + (f"; {bar.failed}" if bar.failed else "")
    drawn = [
        f'<g class="{"bar failed" if bar.failed else "bar"}" data-key="{escape(bar.key)}">',
        f"<title>{escape(said)}</title>",
        f'<rect x="{x + slot * 0.15:.2f}" y="{base - tall:.2f}" width="{slot * 0.7:.2f}" height="{tall:.2f}"/>',
    ]
    if bar.failed:  # a red triangle under the axis, wider than a thin bar
        drawn.append(f'<path d="M{centre:.2f} {base + 2} l4 7 h-8 z" fill="{FAILED_FILL}"/>')
    drawn.append("</g>")
    if bar.tick:
        drawn.append(f'<line x1="{centre:.2f}" y1="{base}" x2="{centre:.2f}" y2="{base + 4}" class="axis"/>')
        drawn.append(
            f'<text x="{centre:.2f}" y="{base + 20}" text-anchor="middle" class="tick">{escape(bar.tick)}</text>'
        )
    return "".join(drawn)
