"""Charts as SVG strings, drawn on the server: pure functions of the numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

LOW, HIGH = 350, 950


def dial(score: int, band: str, label: str) -> str:
    """A half-circle gauge from 350 to 950 with the score in the middle."""
    share = (min(max(score, LOW), HIGH) - LOW) / (HIGH - LOW)
    angle = math.pi * (1 - share)
    x, y = 100 + 80 * math.cos(angle), 100 - 80 * math.sin(angle)
    large = 0
    return (
        f'<svg viewBox="0 0 200 120" role="img" aria-label="{escape(label)}" class="dial">'
        '<path d="M20 100 A80 80 0 0 1 180 100" fill="none" stroke="#dde3ea" stroke-width="14"/>'
        f'<path d="M20 100 A80 80 0 {large} 1 {x:.1f} {y:.1f}" fill="none" stroke="#1a7f5a" '
        'stroke-width="14" stroke-linecap="round"/>'
        f'<text x="100" y="92" text-anchor="middle" font-size="34" font-weight="700">{score}</text>'
        f'<text x="100" y="114" text-anchor="middle" font-size="13">{escape(band)}</text>'
        "</svg>"
    )


def radar(values: dict[str, int], names: dict[str, str], label: str) -> str:
    """A five-axis radar of 0-100 values."""
    keys = list(values)
    n = len(keys)

    def point(i: int, r: float) -> tuple[float, float]:
        a = -math.pi / 2 + 2 * math.pi * i / n
        return 120 + r * math.cos(a), 110 + r * math.sin(a)

    rings = "".join(
        '<polygon fill="none" stroke="#dde3ea" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, 80 * k / 4) for i in range(n)))
        + '"/>'
        for k in range(1, 5)
    )
    shape = " ".join(
        f"{x:.1f},{y:.1f}"
        for x, y in (
            point(i, 80 * max(0, min(100, values[key])) / 100) for i, key in enumerate(keys)
        )
    )
    labels = "".join(
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" font-size="11">'
        f"{escape(names[key])} {values[key]}</text>"
        for i, key in enumerate(keys)
        for x, y in [point(i, 98)]
    )
    return (
        f'<svg viewBox="-30 0 300 220" role="img" aria-label="{escape(label)}" class="radar">'
        f'{rings}<polygon points="{shape}" fill="#1a7f5a33" stroke="#1a7f5a" stroke-width="2"/>'
        f"{labels}</svg>"
    )


def history(points: Sequence[tuple[str, int]], label: str) -> str:
    """Scores over time (oldest first) as a line with dots."""
    if not points:
        return ""
    w, h, pad = 300, 120, 24
    n = len(points)
    xs = [pad + (w - 2 * pad) * (i / (n - 1) if n > 1 else 0.5) for i in range(n)]
    ys = [h - pad - (h - 2 * pad) * (s - LOW) / (HIGH - LOW) for _, s in points]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(d)}: {s}</title></circle>'
        for x, y, (d, s) in zip(xs, ys, points, strict=True)
    )
    return (
        f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="{escape(label)}" class="history">'
        f'<polyline points="{line}" fill="none" stroke="#1a7f5a" stroke-width="2"/>{dots}</svg>'
    )
