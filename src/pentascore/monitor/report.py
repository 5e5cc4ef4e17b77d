"""The monitoring report: what it holds (`Report`), and its offline HTML.

The HTML is one self-contained file: inline CSS, charts as inline SVG drawn on the server
(`monitor.charts`), no script, no font, no image and no link to anything outside the file,
so it can be mailed, archived, or opened on a machine with no network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from pentascore.model.scale import BAND_NAMES, BANDS, MAX_SCORE, MIN_SCORE, band_index
from pentascore.monitor import charts
from pentascore.monitor.drift import SHIFT_AT, WATCH_AT, Migration, Psi
from pentascore.monitor.fairness import FOUR_FIFTHS, AttributeFairness
from pentascore.monitor.vintages import Vintage

HISTOGRAM_STEP = 25
TOP_FEATURES = 10


@dataclass(frozen=True)
class RunSummary:
    """One score run's distribution."""

    as_of: date
    model: str
    people: int
    mean: float
    quantiles: tuple[float, float, float]  # p10, p50, p90
    bands: tuple[float, ...]  # share of people per band, poor to excellent
    histogram: tuple[float, ...]  # share per HISTOGRAM_STEP points from MIN_SCORE

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "model": self.model,
            "people": self.people,
            "mean": round(self.mean, 2),
            "p10": self.quantiles[0],
            "p50": self.quantiles[1],
            "p90": self.quantiles[2],
            "bands": {b: round(s, 6) for b, s in zip(BAND_NAMES, self.bands, strict=True)},
        }


def summarize(as_of: date, model: str, scores: np.ndarray) -> RunSummary:
    """The distribution of one run's scores."""
    s = np.asarray(scores, dtype=np.float64)
    n = len(s)
    bands = np.bincount(band_index(s), minlength=len(BAND_NAMES)) / max(n, 1)
    bins = (MAX_SCORE - MIN_SCORE) // HISTOGRAM_STEP
    index = np.clip((s - MIN_SCORE) // HISTOGRAM_STEP, 0, bins - 1).astype(np.int64)
    histogram = np.bincount(index, minlength=bins) / max(n, 1)
    q = np.quantile(s, (0.1, 0.5, 0.9)) if n else np.full(3, math.nan)
    return RunSummary(
        as_of=as_of,
        model=model,
        people=n,
        mean=float(s.mean()) if n else math.nan,
        quantiles=(float(q[0]), float(q[1]), float(q[2])),
        bands=tuple(float(v) for v in bands),
        histogram=tuple(float(v) for v in histogram),
    )


@dataclass(frozen=True)
class Step:
    """The PSI of one month against the one before, for the score or every feature."""

    before: date
    after: date
    score: Psi | None = None
    features: dict[str, Psi] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.before:%Y-%m} → {self.after:%Y-%m}"


@dataclass(frozen=True)
class FairnessSection:
    """Fairness tables and where their scores and groups came from."""

    source: str
    people: int
    attributes: list[AttributeFairness]
    outcomes: str | None = None  # where bad rates come from, if any
    auc: float | None = None  # of the scores on those outcomes
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "people": self.people,
            "outcomes": self.outcomes,
            "auc": None if self.auc is None else round(self.auc, 6),
            "notes": self.notes,
            "attributes": [a.to_dict() for a in self.attributes],
        }


@dataclass
class Report:
    """Everything the monitoring report shows; any part may be empty."""

    title: str
    generated_at: datetime
    home: str | None = None
    observed_through: datetime | None = None
    now: datetime | None = None
    horizon_months: int = 12
    runs: list[RunSummary] = field(default_factory=list)
    skipped: list[tuple[date, str]] = field(default_factory=list)
    score_steps: list[Step] = field(default_factory=list)
    feature_steps: list[Step] = field(default_factory=list)
    migration: tuple[date, date, Migration] | None = None
    vintages: list[Vintage] = field(default_factory=list)
    fairness: FairnessSection | None = None
    notes: list[str] = field(default_factory=list)

    def top_features(self, count: int = TOP_FEATURES) -> list[tuple[str, Psi]]:
        """The features that shifted most in the latest step, largest PSI first."""
        if not self.feature_steps:
            return []
        latest = self.feature_steps[-1].features
        return list(latest.items())[:count]

    def to_dict(self) -> dict[str, Any]:
        latest_features = self.feature_steps[-1] if self.feature_steps else None
        return {
            "generated_at": self.generated_at.isoformat(),
            "observed_through": self.observed_through.isoformat()
            if self.observed_through
            else None,
            "now": self.now.isoformat() if self.now else None,
            "runs": [r.to_dict() for r in self.runs],
            "skipped_runs": [{"as_of": d.isoformat(), "model": m} for d, m in self.skipped],
            "score_psi": [
                {"before": s.before.isoformat(), "after": s.after.isoformat(), **s.score.to_dict()}
                for s in self.score_steps
                if s.score is not None
            ],
            "feature_psi": [
                {
                    "before": s.before.isoformat(),
                    "after": s.after.isoformat(),
                    "features": len(s.features),
                    "watch": sum(p.status == "watch" for p in s.features.values()),
                    "shift": sum(p.status == "shift" for p in s.features.values()),
                }
                for s in self.feature_steps
            ],
            "top_features": None
            if latest_features is None
            else {
                "before": latest_features.before.isoformat(),
                "after": latest_features.after.isoformat(),
                "features": [{"feature": n, **p.to_dict()} for n, p in self.top_features()],
            },
            "migration": None
            if self.migration is None
            else {
                "before": self.migration[0].isoformat(),
                "after": self.migration[1].isoformat(),
                **self.migration[2].to_dict(),
            },
            "vintages": [v.to_dict() for v in self.vintages],
            "fairness": None if self.fairness is None else self.fairness.to_dict(),
            "notes": self.notes,
        }


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pentascore.monitor", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v, digits=1: "–" if v is None else f"{v * 100:.{digits}f}%"
    env.filters["num"] = lambda v, digits=3: (
        "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"
    )
    env.filters["count"] = lambda v: "–" if v is None else f"{v:,}"
    return env


def _status_colour(state: str) -> str:
    return charts.STATUS_COLOURS.get(state, charts.GREY)


def _charts(report: Report) -> dict[str, Markup]:
    marks = [low for _, low in BANDS[1:]]
    out = {
        "distribution": charts.distribution(
            [(f"{r.as_of:%Y-%m-%d}", r.histogram) for r in report.runs],
            MIN_SCORE,
            MAX_SCORE,
            marks,
            label="score distribution by month",
        ),
        "bands": charts.stacked_shares(
            [(f"{r.as_of:%Y-%m-%d}", r.bands) for r in report.runs],
            BAND_NAMES,
            label="band shares by month",
        ),
        "score_psi": charts.psi_bars(
            [
                (f"{s.after:%Y-%m}", s.name, s.score.value, s.score.status)
                for s in report.score_steps
                if s.score
            ],
            WATCH_AT,
            SHIFT_AT,
            label="PSI of the score, month over month",
        ),
        "top_features": charts.hbars(
            [(n, p.value, _status_colour(p.status)) for n, p in report.top_features()],
            # Up to 1: the thresholds stay readable beside a feature that moved by 10.
            min(
                1.0,
                max(
                    [
                        SHIFT_AT * 1.2,
                        *(p.value for _, p in report.top_features() if not math.isnan(p.value)),
                    ]
                ),
            ),
            lines=[(WATCH_AT, "0.1"), (SHIFT_AT, "0.25")],
            fmt="{:.3f}",
            label="features with the largest PSI in the latest month",
        ),
        "vintages": charts.lines(
            [f"{v.as_of:%Y-%m}" for v in report.vintages if v.matured],
            [
                ("AUC", [v.auc for v in report.vintages if v.matured]),
                ("KS", [v.ks for v in report.vintages if v.matured]),
            ],
            label="AUC and KS by matured vintage",
        ),
    }
    if report.fairness is not None:
        for i, attribute in enumerate(report.fairness.attributes):
            out[f"fairness_{i}"] = charts.grouped_bars(
                [row.group for row in attribute.rows],
                [
                    (f"approved at {m.threshold}", [row.approval[k] for row in attribute.rows])
                    for k, m in enumerate(attribute.marks)
                ],
                label=f"approval rate by {attribute.attribute}",
            )
    return {k: Markup(v) for k, v in out.items()}


def render(report: Report) -> str:
    """The report as one self-contained HTML page."""
    template = _environment().get_template("report.html")
    features = sorted(
        {name for step in report.feature_steps for name in step.features},
        key=lambda n: (
            -np.nan_to_num(report.feature_steps[-1].features[n].value, nan=-1.0)
            if n in report.feature_steps[-1].features
            else 1.0,
            n,
        ),
    )
    return template.render(
        r=report,
        charts=_charts(report),
        bands=BAND_NAMES,
        features=features,
        colour=_status_colour,
        watch_at=WATCH_AT,
        shift_at=SHIFT_AT,
        four_fifths=FOUR_FIFTHS,
    )
