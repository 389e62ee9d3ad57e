"""The report's charts as inline SVG drawn here, so the page needs no script, font or image from
anywhere, and WeasyPrint draws the same figures into the PDF.

Coordinates are written with Python's own number formatting (always a decimal point, as SVG needs);
every text shown is escaped, and every label a reader sees is passed in already translated and
formatted for the report's language.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 680
FONT = "font-family:'DejaVu Sans',Arial,Helvetica,sans-serif"
# Colour-blind-safe pairs (Okabe–Ito); the first two are the verdict's emotions, happy and sad.
PALETTE = ("#E69F00", "#0072B2", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#999999")
AXIS = "#6b7280"
GRID = "#e5e7eb"
LABEL_CHARS = 30


@dataclass(frozen=True)
class Bar:
    """One bar: its value and its interval (None where the dashboard gives none)."""

    value: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class BarGroup:
    label: str
    bars: Sequence[Bar | None]  # one per series, None where there is nothing to draw


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]  # (x, y)


def _n(number: float) -> str:
    return f"{number:.1f}".rstrip("0").rstrip(".")


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 11, colour: str = "#111827") -> str:
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" font-size="{size}" fill="{colour}" text-anchor="{anchor}" '
        f'style="{FONT}">{escape(text)}</text>'
    )


def _svg(height: float, title: str, body: list[str]) -> SafeString:
    return mark_safe(  # noqa: S308 - every text inside went through escape()
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" height="{_n(height)}" '
        f'viewBox="0 0 {WIDTH} {_n(height)}" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _legend(labels: Sequence[str], x: float, y: float) -> list[str]:
    parts = []
    for index, label in enumerate(labels):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{_n(x)}" y="{_n(y - 9)}" width="10" height="10" fill="{colour}"/>')
        parts.append(_text(x + 14, y, label))
        x += 24 + 7 * len(label)
    return parts


def bar_chart(
    *,
    title: str,
    groups: Sequence[BarGroup],
    series: Sequence[str],
    ticks: Sequence[float],
    tick_label: Callable[[float], str],
    value_label: Callable[[float], str],
) -> SafeString:
    """Horizontal bars, one group per variant and one bar per series, each with its interval as a
    whisker. The axis runs from the first tick to the last."""
    left, plot_left, plot_right = 8, 200, WIDTH - 52
    bar_height, gap, top = 13, 12, 30
    low_end, high_end = ticks[0], ticks[-1]

    def x(value: float) -> float:
        share = (min(max(value, low_end), high_end) - low_end) / (high_end - low_end)
        return plot_left + share * (plot_right - plot_left)

    group_height = bar_height * max(1, len(series)) + gap
    plot_bottom = top + group_height * len(groups)
    body = _legend(series, plot_left, 14) if len(series) > 1 else []
    for tick in ticks:
        body.append(
            f'<line x1="{_n(x(tick))}" y1="{top - 4}" x2="{_n(x(tick))}" y2="{_n(plot_bottom)}" stroke="{GRID}"/>'
        )
        body.append(_text(x(tick), plot_bottom + 14, tick_label(tick), anchor="middle", size=10, colour=AXIS))
    for row, group in enumerate(groups):
        y0 = top + row * group_height
        body.append(f"<g><title>{escape(group.label)}</title>")
        body.append(_text(left, y0 + group_height / 2 - gap / 2 + 4, _short(group.label)))
        body.append("</g>")
        for index, bar in enumerate(group.bars):
            if bar is None:
                continue
            colour = PALETTE[index % len(PALETTE)]
            y = y0 + index * bar_height
            width = max(0.0, x(bar.value) - x(low_end))
            body.append(
                f'<rect x="{plot_left}" y="{_n(y + 1)}" width="{_n(width)}" height="{bar_height - 2}" fill="{colour}"/>'
            )
            end = x(bar.value)
            if bar.low is not None and bar.high is not None:
                middle, a, b = y + bar_height / 2, x(bar.low), x(bar.high)
                body.append(
                    f'<path d="M{_n(a)} {_n(middle)}H{_n(b)}M{_n(a)} {_n(middle - 4)}V{_n(middle + 4)}'
                    f'M{_n(b)} {_n(middle - 4)}V{_n(middle + 4)}" stroke="#111827" stroke-width="1.2" fill="none"/>'
                )
                end = max(end, b)
            body.append(_text(min(end + 4, WIDTH - 46), y + bar_height - 3, value_label(bar.value), size=10))
    body.append(f'<line x1="{plot_left}" y1="{top - 4}" x2="{plot_left}" y2="{_n(plot_bottom)}" stroke="{AXIS}"/>')
    return _svg(plot_bottom + 22, title, body)


def line_chart(
    *,
    title: str,
    series: Sequence[Series],
    x_end: float,
    x_title: str,
    y_ticks: Sequence[float],
    tick_label: Callable[[float], str],
    x_tick_label: Callable[[float], str],
) -> SafeString:
    """Lines over x from 0 to `x_end`, y from the first tick to the last, a dot at every point."""
    plot_left, plot_right, top, plot_bottom = 52, WIDTH - 16, 30, 210
    y_low, y_high = y_ticks[0], y_ticks[-1]
    x_end = x_end or 1.0

    def x(value: float) -> float:
        return plot_left + min(max(value / x_end, 0.0), 1.0) * (plot_right - plot_left)

    def y(value: float) -> float:
        share = (min(max(value, y_low), y_high) - y_low) / (y_high - y_low)
        return plot_bottom - share * (plot_bottom - top)

    body = _legend([line.label for line in series], plot_left, 14)
    for tick in y_ticks:
        body.append(f'<line x1="{plot_left}" y1="{_n(y(tick))}" x2="{plot_right}" y2="{_n(y(tick))}" stroke="{GRID}"/>')
        body.append(_text(plot_left - 6, y(tick) + 4, tick_label(tick), anchor="end", size=10, colour=AXIS))
    step = _x_step(x_end)
    tick = 0.0
    while tick <= x_end + 1e-9:
        body.append(_text(x(tick), plot_bottom + 14, x_tick_label(tick), anchor="middle", size=10, colour=AXIS))
        tick += step
    body.append(_text((plot_left + plot_right) / 2, plot_bottom + 30, x_title, anchor="middle", size=10, colour=AXIS))
    body.append(f'<path d="M{plot_left} {top - 4}V{plot_bottom}H{plot_right}" stroke="{AXIS}" fill="none"/>')
    for index, line in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = [(x(px), y(py)) for px, py in line.points]
        if len(points) > 1:
            path = "M" + "L".join(f"{_n(px)} {_n(py)}" for px, py in points)
            body.append(f'<path d="{path}" stroke="{colour}" stroke-width="2" fill="none"/>')
        body += [f'<circle cx="{_n(px)}" cy="{_n(py)}" r="3" fill="{colour}"/>' for px, py in points]
    return _svg(plot_bottom + 38, title, body)


def _x_step(x_end: float) -> float:
    """A round step giving at most about eight ticks."""
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if x_end / step <= 8:
            return float(step)
    return x_end / 8
