"""Fairness: how the score treats groups of a protected attribute the model does not use.

Pure functions over arrays. For each group of an attribute (sex, an age band ...):

- the score distribution: people, mean, 10th/25th/50th/75th/90th percentiles;
- the approval rate at each scenario pass mark (`pentascore.service.scenarios`'
  `DEFAULT_THRESHOLDS`: score >= mark is approved, as a partner's decision is);
- the **disparate-impact ratio**: the group's approval rate over the most favoured group's.
  Below 0.8 is flagged (the "four-fifths rule" of the US EEOC's Uniform Guidelines, the usual
  screen for adverse impact);
- the observed bad rate, when outcomes are known, so a gap in approval can be set beside a gap
  in risk.

A group of fewer than `MIN_GROUP` people is shown but neither flagged nor chosen as the most
favoured: its rates are too noisy to judge. People with no value of the attribute are the
``unknown`` group, shown but never judged either.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from pentascore.service.scenarios import DEFAULT_THRESHOLDS

FOUR_FIFTHS = 0.8
MIN_GROUP = 30
UNKNOWN = "unknown"
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
# Age bands: (label, lowest age in it); each runs to the next one's lowest age.
AGE_BANDS: tuple[tuple[str, int], ...] = (
    ("<25", 0),
    ("25-34", 25),
    ("35-44", 35),
    ("45-54", 45),
    ("55+", 55),
)
AGE_BAND_NAMES = tuple(name for name, _ in AGE_BANDS)


@dataclass(frozen=True)
class Mark:
    """A pass mark and the scenarios that use it."""

    threshold: int
    scenarios: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.threshold} ({', '.join(self.scenarios)})"


def scenario_marks(thresholds: Mapping[str, int] = DEFAULT_THRESHOLDS) -> tuple[Mark, ...]:
    """The distinct pass marks of the scenarios, lowest first, each with its scenarios."""
    by_mark: dict[int, list[str]] = {}
    for scenario, mark in thresholds.items():
        by_mark.setdefault(int(mark), []).append(scenario)
    return tuple(Mark(m, tuple(by_mark[m])) for m in sorted(by_mark))


def age_bands(ages: np.ndarray) -> np.ndarray:
    """The age band of each age (``unknown`` for NaN)."""
    x = np.asarray(ages, dtype=np.float64)
    lows = np.array([low for _, low in AGE_BANDS[1:]], dtype=np.float64)
    index = np.searchsorted(lows, x, side="right")
    names = np.asarray(AGE_BAND_NAMES, dtype=object)[np.minimum(index, len(AGE_BANDS) - 1)]
    out: np.ndarray = np.where(np.isnan(x), UNKNOWN, names).astype(object)
    return out


def ages_at(birth_years: np.ndarray, as_of: date) -> np.ndarray:
    """Age in whole years at ``as_of`` from the year of birth (the simulator's convention)."""
    years: np.ndarray = as_of.year - np.asarray(birth_years, dtype=np.float64)
    return years


def categories(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Values as group names: text as is, whole numbers without a decimal point (codes such
    as Taiwan's SEX 1/2), missing values as ``unknown``."""

    def name(v: Any) -> str:
        if v is None:
            return UNKNOWN
        if isinstance(v, float | np.floating):
            if math.isnan(v):
                return UNKNOWN
            if float(v).is_integer():
                return str(int(v))
        if isinstance(v, bool | np.bool_):
            return str(bool(v)).lower()
        text = str(v)
        return text if text else UNKNOWN

    return np.array([name(v) for v in np.asarray(values, dtype=object)], dtype=object)


@dataclass(frozen=True)
class GroupRow:
    """One group's scores, approvals (one per mark) and disparate impact."""

    group: str
    people: int
    share: float
    mean: float
    quantiles: tuple[float, ...]
    approval: tuple[float, ...]
    impact: tuple[float | None, ...]
    bad_rate: float | None
    judged: bool  # large enough and a known value: can be flagged or be the most favoured


@dataclass(frozen=True)
class AttributeFairness:
    """The fairness table of one attribute."""

    attribute: str
    marks: tuple[Mark, ...]
    rows: tuple[GroupRow, ...]
    favoured: tuple[str | None, ...]  # the most favoured group at each mark

    @property
    def flagged(self) -> list[tuple[str, int, float]]:
        """(group, mark, ratio) of every judged group below the four-fifths line."""
        return [
            (row.group, mark.threshold, ratio)
            for row in self.rows
            if row.judged
            for mark, ratio in zip(self.marks, row.impact, strict=True)
            if ratio is not None and ratio < FOUR_FIFTHS
        ]

    def min_impact(self) -> list[float | None]:
        """The lowest judged ratio at each mark."""
        out: list[float | None] = []
        for i in range(len(self.marks)):
            ratios = [r.impact[i] for r in self.rows if r.judged and r.impact[i] is not None]
            out.append(min(ratios) if ratios else None)  # type: ignore[type-var]
        return out

    def to_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None or math.isnan(v) else round(v, 6)

        return {
            "attribute": self.attribute,
            "marks": [
                {"threshold": m.threshold, "scenarios": list(m.scenarios)} for m in self.marks
            ],
            "favoured": list(self.favoured),
            "min_impact": [r(v) for v in self.min_impact()],
            "flagged": [
                {"group": g, "threshold": t, "ratio": round(x, 6)} for g, t, x in self.flagged
            ],
            "groups": [
                {
                    "group": row.group,
                    "people": row.people,
                    "share": r(row.share),
                    "mean": r(row.mean),
                    "quantiles": {
                        f"p{round(q * 100)}": r(v)
                        for q, v in zip(QUANTILES, row.quantiles, strict=True)
                    },
                    "approval": {
                        str(m.threshold): r(a)
                        for m, a in zip(self.marks, row.approval, strict=True)
                    },
                    "impact": {
                        str(m.threshold): r(x) for m, x in zip(self.marks, row.impact, strict=True)
                    },
                    "bad_rate": r(row.bad_rate),
                    "judged": row.judged,
                }
                for row in self.rows
            ],
        }


def _order(names: np.ndarray) -> list[str]:
    present = set(names.tolist())
    if present <= {*AGE_BAND_NAMES, UNKNOWN}:
        ordered = [n for n in AGE_BAND_NAMES if n in present]
    else:
        ordered = sorted(present - {UNKNOWN})
    return ordered + ([UNKNOWN] if UNKNOWN in present else [])


def fairness(
    attribute: str,
    groups: np.ndarray,
    scores: np.ndarray,
    marks: Sequence[Mark] | None = None,
    bad: np.ndarray | None = None,
    min_group: int = MIN_GROUP,
) -> AttributeFairness:
    """The fairness table of ``attribute``: ``groups[i]`` is person i's group (a name, or
    ``unknown``), ``scores[i]`` their score, ``bad[i]`` (optional) their 0/1 outcome."""
    chosen = tuple(marks) if marks is not None else scenario_marks()
    names = np.asarray(groups, dtype=object)
    values = np.asarray(scores, dtype=np.float64)
    if len(names) != len(values) or (bad is not None and len(bad) != len(values)):
        raise ValueError("groups, scores and outcomes must have one entry per person.")
    total = len(values)
    thresholds = np.array([m.threshold for m in chosen], dtype=np.float64)
    partial = []
    for group in _order(names):
        mine = values[names == group]
        approval = tuple(float(np.mean(mine >= t)) for t in thresholds)
        partial.append(
            (
                group,
                len(mine),
                approval,
                float(np.mean(np.asarray(bad)[names == group])) if bad is not None else None,
                tuple(float(q) for q in np.quantile(mine, QUANTILES)),
                float(mine.mean()),
                group != UNKNOWN and len(mine) >= min_group,
            )
        )
    pool = [p for p in partial if p[6]] or [p for p in partial if p[0] != UNKNOWN] or partial
    favoured: list[str | None] = []
    best: list[float] = []
    for i in range(len(chosen)):
        top = max(pool, key=lambda p: p[2][i]) if pool else None
        favoured.append(top[0] if top is not None and top[2][i] > 0 else None)
        best.append(top[2][i] if top is not None else 0.0)
    rows = tuple(
        GroupRow(
            group=group,
            people=people,
            share=people / total if total else 0.0,
            mean=mean,
            quantiles=quantiles,
            approval=approval,
            impact=tuple(a / b if b > 0 else None for a, b in zip(approval, best, strict=True)),
            bad_rate=bad_rate,
            judged=judged,
        )
        for group, people, approval, bad_rate, quantiles, mean, judged in partial
    )
    return AttributeFairness(attribute, chosen, rows, tuple(favoured))
