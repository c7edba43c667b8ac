"""The daily bar chart's geometry."""

from __future__ import annotations

from datetime import date, timedelta

from licensing_api.dashboard.chart import DailyUnits, compact_number, daily_bar_chart, readable_ceiling


def test_the_axis_rounds_up_to_a_readable_number_split_in_four():
    assert [readable_ceiling(v) for v in (0, 3, 5, 37, 130, 1001, 4000)] == [4, 4, 8, 40, 200, 2000, 4000]


def test_bar_heights_are_proportional_and_the_busiest_day_is_tallest():
    start = date(2026, 11, 1)
    days = [DailyUnits(start + timedelta(days=n), units) for n, units in enumerate([0, 10, 40, 20])]
    chart = daily_bar_chart(days)
    heights = [bar.height for bar in chart.bars]
    assert heights[0] == 0
    assert heights[2] == max(heights)
    assert abs(heights[1] * 2 - heights[3]) < 0.05
    assert chart.total_units == 70 and chart.peak_units == 40
    assert all(bar.x + bar.width <= chart.plot_right for bar in chart.bars)
    assert [g.text for g in chart.gridlines] == ["0", "10", "20", "30", "40"]


def test_a_long_period_gets_a_few_day_labels_not_one_per_day():
    start = date(2026, 1, 1)
    chart = daily_bar_chart([DailyUnits(start + timedelta(days=n), 1) for n in range(365)])
    assert len(chart.bars) == 365
    assert 3 <= len(chart.day_labels) <= 5


def test_axis_numbers_are_compact_enough_for_the_margin():
    assert [compact_number(v) for v in (0, 950, 1000, 1500, 20_000, 3_000_000)] == ["0", "950", "1k", "1.5k", "20k", "3M"]
