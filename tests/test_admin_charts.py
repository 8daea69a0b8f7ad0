"""The click report's inline SVG charts: accessible, escaped, scaled, and with few colours."""
from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from affiliate.admin.charts import OTHER, PALETTE, Series, bars, stacked_bars, top_series
from affiliate.admin.click_report import period

SVG = "{http://www.w3.org/2000/svg}"


def test_a_stacked_chart_is_a_named_image_with_a_tooltip_per_bar():
    svg = stacked_bars("c", "Clicks per day", "Three days", ["2026-03-01", "2026-03-02", "2026-03-03"],
                       [Series("Apple TV", (1, 0, 4)), Series("Vudu", (2, 1, 0))])

    root = ET.fromstring(str(svg))
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c-title c-desc"
    assert root.find(f"{SVG}title").text == "Clicks per day"
    tooltips = [rect.find(f"{SVG}title").text for rect in root.iter(f"{SVG}rect")
                if rect.find(f"{SVG}title") is not None]
    assert tooltips == ["2026-03-01: Apple TV 1", "2026-03-01: Vudu 2", "2026-03-02: Vudu 1",
                        "2026-03-03: Apple TV 4"]
    ticks = [text.text for text in root.iter(f"{SVG}text") if text.get("class") == "tick"]
    assert ticks[:3] == ["0", "2", "5"]  # the axis tops out at a round 5 for a busiest day of 4
    assert "Apple TV (5)" in [text.text for text in root.iter(f"{SVG}text")]


def test_the_tallest_bar_fills_the_axis_it_sets():
    svg = stacked_bars("c", "t", "d", ["2026-03-01"], [Series("A", (10,))])

    heights = [float(r.get("height")) for r in ET.fromstring(str(svg)).iter(f"{SVG}rect")
               if r.find(f"{SVG}title") is not None]
    assert heights == [260 - 12 - 44]


def test_names_are_escaped():
    svg = str(bars("b", "<Top>", "d", [("<script>alert(1)</script>", 3)]))

    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;Top&gt;" in svg
    ET.fromstring(svg)


def test_an_empty_period_still_draws():
    for svg in (stacked_bars("c", "t", "d", ["2026-03-01"], []), bars("b", "t", "d", [])):
        ET.fromstring(str(svg))


def test_beyond_seven_series_the_smallest_are_summed_as_other():
    series = [Series(f"P{i}", (i, 1)) for i in range(10)]

    kept = top_series(series)

    assert len(kept) == len(PALETTE)
    assert [s.name for s in kept[:3]] == ["P9", "P8", "P7"]
    assert kept[-1] == Series(OTHER, (0 + 1 + 2, 3))


def test_the_default_period_is_the_last_thirty_days():
    today = dt.date(2026, 3, 31)

    assert period(None, None, today) == (dt.date(2026, 3, 2), today)
    assert period("2026-03-30", None, today) == (dt.date(2026, 3, 30), today)
