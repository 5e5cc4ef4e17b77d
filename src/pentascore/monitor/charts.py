"""The report's charts as SVG strings, drawn on the server: pure functions of the numbers.

The same conventions as the web app's charts (`pentascore.web.charts`): a ``viewBox`` that
scales, ``role="img"`` with an ``aria-label``, a ``<title>`` on every mark for its exact value,
escaped text, and the app's colours. Those charts are a person's (dial, radar, score
history); these are a population's (distributions, shares, PSI bars, vintages).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

GREEN, AMBER, RED, GREY, LIGHT, INK = (
    "#1a7f5a",
    "#f2a900",
    "#b00020",
    "#5b6673",
    "#dde3ea",
    "#1c2430",
)
BAND_COLOURS = ("#b00020", "#e07b00", "#f2a900", "#5fa37f", "#1a7f5a")
SERIES = ("#1a7f5a", "#2f6db5", "#e07b00", "#8e44ad", "#b00020", "#5b6673")
STATUS_COLOURS = {"stable": GREEN, "watch": AMBER, "shift": RED, "n/a": GREY}


def _svg(width: int, height: int, label: str, body: str, cls: str) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        f'class="{cls}" font-family="system-ui, sans-serif">{body}</svg>'
    )


def _text(x: float, y: float, text: str, size: int = 10, anchor: str = "middle", **kw: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in kw.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>'
        f"{escape(text)}</text>"
    )


def _shade(i: int, n: int) -> str:
    """Grey for older series, fading in; the newest is green."""
    if i == n - 1:
        return GREEN
    level = int(205 - 110 * (i / max(n - 2, 1)))
    return f"#{level:02x}{level:02x}{min(level + 12, 255):02x}"


def distribution(
    series: Sequence[tuple[str, Sequence[float]]],
    low: int,
    high: int,
    marks: Sequence[int] = (),
    label: str = "score distribution",
) -> str:
    """Shares per equal-width bin from ``low`` to ``high``, one step line per series (oldest
    first: older months grey, the newest green), with dashed lines at ``marks``."""
    if not series:
        return ""
    w, h, left, right, top, bottom = 640, 240, 44, 12, 14, 30
    bins = len(series[0][1])
    peak = max((max(s) for _, s in series if len(s)), default=0.0) or 1.0
    peak = math.ceil(peak * 20) / 20  # to the next 5%

    def x(v: float) -> float:
        return left + (w - left - right) * (v - low) / (high - low)

    def y(share: float) -> float:
        return h - bottom - (h - top - bottom) * share / peak

    step = (high - low) / bins
    parts = [
        f'<rect x="{left}" y="{top}" width="{w - left - right}" '
        f'height="{h - top - bottom}" fill="none" stroke="{LIGHT}"/>'
    ]
    for m in marks:
        parts.append(
            f'<line x1="{x(m):.1f}" y1="{top}" x2="{x(m):.1f}" y2="{h - bottom}" '
            f'stroke="{GREY}" stroke-dasharray="3 3"/>'
        )
    for tick in range(low, high + 1, 100):
        parts.append(_text(x(tick), h - bottom + 14, str(tick)))
    for frac in (0.0, 0.5, 1.0):
        level = peak * frac
        text = f"{level:.0%}" if round(level * 100, 6).is_integer() else f"{level:.1%}"
        parts.append(_text(left - 4, y(level) + 3, text, anchor="end"))
    n = len(series)
    for i, (name, shares) in enumerate(series):
        points = []
        for b, share in enumerate(shares):
            points += [
                f"{x(low + b * step):.1f},{y(share):.1f}",
                f"{x(low + (b + 1) * step):.1f},{y(share):.1f}",
            ]
        colour = _shade(i, n)
        width = 2.5 if i == n - 1 else 1.2
        parts.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" '
            f'stroke-width="{width}"><title>{escape(name)}</title></polyline>'
        )
    parts.append(
        _text(
            w - right, top - 3, f"{series[0][0]} (grey) ... {series[-1][0]} (green)", anchor="end"
        )
    )
    return _svg(w, h, label, "".join(parts), "chart distribution")


def stacked_shares(
    rows: Sequence[tuple[str, Sequence[float]]],
    names: Sequence[str],
    colours: Sequence[str] = BAND_COLOURS,
    label: str = "shares",
) -> str:
    """One horizontal bar per row, split into ``names`` by share, with a legend."""
    if not rows:
        return ""
    row_h, left, w = 18, 84, 640
    h = 28 + row_h * len(rows)
    width = w - left - 10
    parts = []
    for k, name in enumerate(names):
        lx = left + k * (width / len(names))
        parts.append(f'<rect x="{lx:.1f}" y="4" width="10" height="10" fill="{colours[k]}"/>')
        parts.append(_text(lx + 14, 13, name, anchor="start"))
    for r, (row_name, shares) in enumerate(rows):
        y0 = 24 + r * row_h
        parts.append(_text(left - 6, y0 + 12, row_name, anchor="end"))
        x0 = float(left)
        for k, share in enumerate(shares):
            bar = width * share
            parts.append(
                f'<rect x="{x0:.1f}" y="{y0}" width="{bar:.1f}" height="{row_h - 3}" '
                f'fill="{colours[k]}"><title>{escape(row_name)} {escape(names[k])}: '
                f"{share:.1%}</title></rect>"
            )
            x0 += bar
    return _svg(w, h, label, "".join(parts), "chart shares")


def psi_bars(
    points: Sequence[tuple[str, str, float, str]], watch: float, shift: float, label: str
) -> str:
    """One bar per (tick, name, PSI, status), coloured by status, with the two thresholds;
    ``tick`` is written under the bar (every few bars when there are many), ``name`` on hover."""
    if not points:
        return ""
    w, h, left, bottom, top = 640, 170, 40, 24, 10
    peak = max([shift * 1.2, *(v for _, _, v, _ in points if not math.isnan(v))])
    slot = (w - left - 10) / len(points)
    every = math.ceil(len(points) / 12)

    def y(v: float) -> float:
        return h - bottom - (h - bottom - top) * min(v, peak) / peak

    parts = []
    for level, colour in ((watch, AMBER), (shift, RED)):
        parts.append(
            f'<line x1="{left}" y1="{y(level):.1f}" x2="{w - 10}" y2="{y(level):.1f}" '
            f'stroke="{colour}" stroke-dasharray="4 3"/>'
        )
        parts.append(_text(left - 4, y(level) + 3, f"{level:g}", anchor="end"))
    parts.append(
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - 10}" y2="{h - bottom}" stroke="{GREY}"/>'
    )
    for i, (tick, name, value, state) in enumerate(points):
        v = 0.0 if math.isnan(value) else value
        x0 = left + i * slot + slot * 0.15
        parts.append(
            f'<rect x="{x0:.1f}" y="{y(v):.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h - bottom - y(v):.1f}" fill="{STATUS_COLOURS.get(state, GREY)}">'
            f"<title>{escape(name)}: PSI {v:.4f} ({escape(state)})</title></rect>"
        )
        if i % every == 0:
            parts.append(_text(x0 + slot * 0.35, h - bottom + 14, tick, size=9))
            parts.append(_text(x0 + slot * 0.35, y(v) - 3, f"{v:.3f}", size=9))
    return _svg(w, h, label, "".join(parts), "chart psi")


def hbars(
    items: Sequence[tuple[str, float, str]],
    top_value: float,
    lines: Sequence[tuple[float, str]] = (),
    fmt: str = "{:.3f}",
    label: str = "bars",
) -> str:
    """Horizontal bars of (name, value, colour) on 0..``top_value``, with vertical ``lines``;
    a value beyond ``top_value`` fills the bar, and its label gives the value."""
    if not items:
        return ""
    row_h, left, w = 18, 200, 640
    h = 10 + row_h * len(items) + 16
    width = w - left - 60
    top_value = top_value or 1.0

    def x(v: float) -> float:
        return left + width * max(0.0, min(v, top_value)) / top_value

    parts = []
    for i, (name, value, colour) in enumerate(items):
        y0 = 6 + i * row_h
        v = 0.0 if math.isnan(value) else value
        parts.append(_text(left - 6, y0 + 12, name, anchor="end"))
        parts.append(
            f'<rect x="{left}" y="{y0}" width="{x(v) - left:.1f}" height="{row_h - 4}" '
            f'fill="{colour}"><title>{escape(name)}: {escape(fmt.format(v))}</title></rect>'
        )
        parts.append(_text(x(v) + 4, y0 + 12, fmt.format(v), anchor="start"))
    bottom = 6 + row_h * len(items)
    for level, name in lines:
        parts.append(
            f'<line x1="{x(level):.1f}" y1="4" x2="{x(level):.1f}" y2="{bottom}" '
            f'stroke="{GREY}" stroke-dasharray="4 3"/>'
        )
        parts.append(_text(x(level), bottom + 12, name))
    return _svg(w, h, label, "".join(parts), "chart bars")


def grouped_bars(
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    label: str = "approval rates",
) -> str:
    """Vertical bars on 0-100%: for each group one bar per series, with a legend."""
    if not groups or not series:
        return ""
    w, h, left, bottom, top = 640, 220, 40, 34, 26
    slot = (w - left - 10) / len(groups)
    bar = slot * 0.8 / len(series)

    def y(v: float) -> float:
        return h - bottom - (h - bottom - top) * max(0.0, min(v, 1.0))

    parts = []
    for k, (name, _) in enumerate(series):
        lx = left + k * 200
        parts.append(
            f'<rect x="{lx}" y="6" width="10" height="10" fill="{SERIES[k % len(SERIES)]}"/>'
        )
        parts.append(_text(lx + 14, 15, name, anchor="start"))
    for frac in (0.0, 0.5, 1.0):
        parts.append(
            f'<line x1="{left}" y1="{y(frac):.1f}" x2="{w - 10}" y2="{y(frac):.1f}" '
            f'stroke="{LIGHT}"/>'
        )
        parts.append(_text(left - 4, y(frac) + 3, f"{frac:.0%}", anchor="end"))
    for g, group in enumerate(groups):
        x0 = left + g * slot + slot * 0.1
        for k, (name, values) in enumerate(series):
            v = values[g]
            parts.append(
                f'<rect x="{x0 + k * bar:.1f}" y="{y(v):.1f}" width="{bar * 0.9:.1f}" '
                f'height="{h - bottom - y(v):.1f}" fill="{SERIES[k % len(SERIES)]}">'
                f"<title>{escape(group)}, {escape(name)}: {v:.1%}</title></rect>"
            )
        parts.append(_text(left + g * slot + slot / 2, h - bottom + 14, group))
    return _svg(w, h, label, "".join(parts), "chart groups")


def lines(
    xs: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    low: float = 0.0,
    high: float = 1.0,
    label: str = "lines",
) -> str:
    """Lines with dots over the categories ``xs`` (a gap where a value is None)."""
    if not xs or not series:
        return ""
    w, h, left, bottom, top = 640, 200, 40, 40, 26
    n = len(xs)

    def x(i: int) -> float:
        return left + (w - left - 20) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return h - bottom - (h - bottom - top) * (v - low) / (high - low)

    parts = []
    for k, (name, _) in enumerate(series):
        lx = left + k * 120
        parts.append(
            f'<rect x="{lx}" y="6" width="10" height="10" fill="{SERIES[k % len(SERIES)]}"/>'
        )
        parts.append(_text(lx + 14, 15, name, anchor="start"))
    for frac in (0.0, 0.5, 1.0):
        level = low + (high - low) * frac
        parts.append(
            f'<line x1="{left}" y1="{y(level):.1f}" x2="{w - 20}" y2="{y(level):.1f}" '
            f'stroke="{LIGHT}"/>'
        )
        parts.append(_text(left - 4, y(level) + 3, f"{level:.2f}", anchor="end"))
    for i, name in enumerate(xs):
        parts.append(_text(x(i), h - bottom + 14, name, size=9))
    for k, (name, values) in enumerate(series):
        colour = SERIES[k % len(SERIES)]
        run: list[str] = []
        for i, value in enumerate([*values, None]):
            if value is None:
                if len(run) > 1:
                    parts.append(
                        f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                        'stroke-width="2"/>'
                    )
                run = []
                continue
            run.append(f"{x(i):.1f},{y(value):.1f}")
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(xs[i])} {escape(name)}: {value:.4f}</title></circle>"
            )
    return _svg(w, h, label, "".join(parts), "chart lines")
