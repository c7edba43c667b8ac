"""Geometry of the daily-usage bar chart, drawn by the template as inline SVG (no JS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

WIDTH = 640
HEIGHT = 220
MARGIN_LEFT = 56  # room for the y-axis labels
MARGIN_RIGHT = 8
MARGIN_TOP = 12
MARGIN_BOTTOM = 28  # room for the x-axis labels
GRIDLINES = 4


@dataclass(frozen=True, slots=True)
class DailyUnits:
    day: date
    units: int


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: date
    units: int


@dataclass(frozen=True, slots=True)
class AxisLabel:
    position: float
    text: str
    anchor: str = "middle"  # SVG text-anchor: the last day label ends at the plot's edge


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    bars: tuple[Bar, ...]
    gridlines: tuple[AxisLabel, ...]  # position = y
    day_labels: tuple[AxisLabel, ...]  # position = x of the label's centre
    total_units: int
    peak_units: int


def daily_bar_chart(days: list[DailyUnits]) -> BarChart:
    """Bars for each day, a y-axis rounded up to a readable number, a few day labels."""
    plot_left, plot_right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    plot_top, plot_bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    peak = max((d.units for d in days), default=0)
    axis_max = readable_ceiling(peak)
    slot = (plot_right - plot_left) / max(len(days), 1)
    gap = min(2.0, slot * 0.2)
    bars = []
    for index, entry in enumerate(days):
        height = (plot_bottom - plot_top) * entry.units / axis_max
        bars.append(
            Bar(
                x=round(plot_left + index * slot + gap / 2, 2),
                y=round(plot_bottom - height, 2),
                width=round(slot - gap, 2),
                height=round(height, 2),
                day=entry.day,
                units=entry.units,
            )
        )
    gridlines = tuple(
        AxisLabel(
            position=round(plot_bottom - (plot_bottom - plot_top) * step / GRIDLINES, 2),
            text=compact_number(axis_max * step // GRIDLINES),
        )
        for step in range(GRIDLINES + 1)
    )
    every = max(1, -(-len(days) // 5))  # at most 5 day labels, whatever the period length
    labelled = [index for index in range(len(days)) if index % every == 0]
    day_labels = tuple(
        AxisLabel(
            position=round(plot_left + (index + 0.5) * slot, 2),
            text=days[index].day.strftime("%b %d"),
            anchor="end" if index == len(days) - 1 and len(days) > 1 else "middle",
        )
        for index in labelled
    )
    return BarChart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=plot_left,
        plot_right=plot_right,
        plot_top=plot_top,
        plot_bottom=plot_bottom,
        bars=tuple(bars),
        gridlines=gridlines,
        day_labels=day_labels,
        total_units=sum(d.units for d in days),
        peak_units=peak,
    )


def readable_ceiling(value: int) -> int:
    """The smallest of 1, 2, 4, 5, 8 × 10^n that is ≥ `value` and divisible into 4 gridlines."""
    if value <= 4:
        return 4
    magnitude = 1
    while magnitude * 10 < value:
        magnitude *= 10
    for step in (1, 2, 4, 5, 8, 10):
        candidate = step * magnitude
        if candidate >= value and candidate % GRIDLINES == 0:
            return candidate
    return 10 * magnitude if (10 * magnitude) % GRIDLINES == 0 else 20 * magnitude


def compact_number(value: int) -> str:
    """Axis labels that fit the margin: 950, 1.5k, 20k, 3M."""
    for threshold, suffix in ((1_000_000, "M"), (1_000, "k")):
        if value >= threshold:
            scaled = value / threshold
            return f"{scaled:.1f}".rstrip("0").rstrip(".") + suffix
    return str(value)
