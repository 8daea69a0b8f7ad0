"""Charts for the click report, drawn on the server as inline SVG: no script, no web font
and no request to anyone else, so the console's Content-Security-Policy stays `'self'`.

Each chart is an `<svg role="img">` named by its <title> and described by its <desc>, every
bar has a <title> tooltip with its number, and the page shows the same numbers in a table
beside it for screen readers and for copying.
"""
from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

# Okabe and Ito's colour-blind-safe palette (the black moved last, for "other").
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#444444")
OTHER = "Other"
_WIDTH, _HEIGHT = 760, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 12, 12, 44


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.values)


def top_series(series: list[Series], keep: int = len(PALETTE) - 1) -> list[Series]:
    """The `keep` largest series by total, the rest summed as "Other", so colours stay
    few enough to tell apart."""
    ranked = sorted(series, key=lambda s: (-s.total, s.name.casefold()))
    if len(ranked) <= keep + 1:
        return ranked
    rest = ranked[keep:]
    summed = tuple(sum(values) for values in zip(*(s.values for s in rest), strict=True))
    return ranked[:keep] + [Series(OTHER, summed)]


def stacked_bars(chart_id: str, title: str, description: str, labels: list[str],
                 series: list[Series]) -> Markup:
    """One bar per label (a day), stacked by series, with a y axis and a legend."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = _nice_ceiling(max(totals, default=0))
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    band = plot_w / max(len(labels), 1)
    parts = [_open(chart_id, title, description, _WIDTH, _HEIGHT + 20 * _legend_rows(series))]
    parts += _y_axis(top, plot_h)
    every = max(1, round(len(labels) / 8))  # at most about eight date labels
    for i, label in enumerate(labels):
        x = _LEFT + i * band
        y = _TOP + plot_h
        for colour, s in zip(PALETTE, series, strict=False):
            value = s.values[i]
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(Markup('<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}">'
                                '<title>{}: {} {}</title></rect>').format(
                x + band * 0.1, y, band * 0.8, h, colour, label, s.name, value))
        if i % every == 0:
            parts.append(Markup('<text x="{:.1f}" y="{}" text-anchor="middle" class="tick">{}</text>')
                         .format(x + band / 2, _TOP + plot_h + 16, label[5:] if len(label) == 10 else label))
    parts += _legend(series, _HEIGHT)
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def bars(chart_id: str, title: str, description: str, items: list[tuple[str, int]]) -> Markup:
    """Horizontal bars, one per item, labelled with its name and number."""
    row, label_w = 24, 260
    height = _TOP + row * max(len(items), 1) + 8
    top = max((value for _, value in items), default=0) or 1
    plot_w = _WIDTH - label_w - 60
    parts = [_open(chart_id, title, description, _WIDTH, height)]
    for i, (name, value) in enumerate(items):
        y = _TOP + i * row
        w = plot_w * value / top
        parts.append(Markup(
            '<text x="{}" y="{}" text-anchor="end" class="label">{}</text>'
            '<rect x="{}" y="{}" width="{:.1f}" height="{}" fill="{}"><title>{}: {}</title></rect>'
            '<text x="{:.1f}" y="{}" class="value">{}</text>').format(
            label_w - 8, y + 16, _shorten(name, 38), label_w, y + 4, w, row - 8, PALETTE[0],
            name, value, label_w + w + 6, y + 16, value))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _open(chart_id: str, title: str, description: str, width: int, height: int) -> Markup:
    return Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {w} {h}" '
        'width="{w}" height="{h}" aria-labelledby="{id}-title {id}-desc">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>').format(
        w=width, h=height, id=chart_id, title=title, desc=description)


def _y_axis(top: int, plot_h: float) -> list[Markup]:
    lines = []
    for value in (0, top // 2, top) if top > 1 else (0, top):
        y = _TOP + plot_h - plot_h * value / top
        lines.append(Markup('<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" class="grid"/>'
                            '<text x="{}" y="{:.1f}" text-anchor="end" class="tick">{}</text>').format(
            _LEFT, _WIDTH - _RIGHT, y, y, _LEFT - 6, y + 4, value))
    return lines


def _legend_rows(series: list[Series]) -> int:
    return (len(series) + 3) // 4


def _legend(series: list[Series], y0: int) -> list[Markup]:
    items = []
    for i, (colour, s) in enumerate(zip(PALETTE, series, strict=False)):
        x = _LEFT + (i % 4) * 180
        y = y0 + (i // 4) * 20
        items.append(Markup('<rect x="{}" y="{}" width="12" height="12" fill="{}"/>'
                            '<text x="{}" y="{}" class="legend">{} ({})</text>').format(
            x, y - 10, colour, x + 18, y, _shorten(s.name, 20), s.total))
    return items


def _nice_ceiling(value: int) -> int:
    """A round top for the y axis (1, 2, 5, 10, 20, 50...) at or above `value`."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return max(step * factor, 1)
        step *= 10


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length - 1] + "…"

