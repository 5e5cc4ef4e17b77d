"""Vintages: how well each score run ranked the people who went on to default.

A *vintage* is one score run (an as-of date and a model). Its outcome is the one the model
is trained for: 90+ days past due on any bill within `HORIZON_MONTHS` (12) calendar months
after the as-of date (`pentascore.features.sql.label_sql`). A vintage has *matured* once the
lake has been observed through the end of that window: until then, people who will default
have not yet had the time to, and the measured AUC and KS would be flattered or damped by
outcomes still to come.

Pure functions over arrays and dates; reading the lake is the caller's (`monitor.collect`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np

from pentascore.core.dates import add_months
from pentascore.model.metrics import auc, ks

HORIZON_MONTHS = 12


def midnight(day: date) -> datetime:
    """The start of ``day`` in UTC (the time an as-of date stands for)."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def window_end(as_of: date, horizon_months: int = HORIZON_MONTHS) -> datetime:
    """The end of a vintage's outcome window: ``horizon_months`` calendar months after it."""
    return add_months(midnight(as_of), horizon_months)


def observed_through(latest_event: datetime) -> datetime:
    """How far a lake is complete, given its latest event: through the end of that event's
    UTC day. Events land in whole days (a monthly batch, a daily export), so a lake whose last
    event is at 23:47 has seen the whole of that day."""
    day = latest_event.astimezone(UTC).date()
    return midnight(day) + timedelta(days=1)


def is_matured(as_of: date, now: datetime, horizon_months: int = HORIZON_MONTHS) -> bool:
    """Whether the outcome window of a vintage as of ``as_of`` has closed by ``now``."""
    return window_end(as_of, horizon_months) <= now


@dataclass(frozen=True)
class Vintage:
    """One score run's discrimination on its matured outcomes (None while it matures)."""

    as_of: date
    model: str
    matures_on: date
    matured: bool
    people: int | None = None
    bads: int | None = None
    auc: float | None = None
    ks: float | None = None

    @property
    def bad_rate(self) -> float | None:
        if self.people is None or self.bads is None or self.people == 0:
            return None
        return self.bads / self.people

    @property
    def gini(self) -> float | None:
        return None if self.auc is None else 2 * self.auc - 1

    def to_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 6)

        return {
            "as_of": self.as_of.isoformat(),
            "model": self.model,
            "matures_on": self.matures_on.isoformat(),
            "matured": self.matured,
            "people": self.people,
            "bads": self.bads,
            "bad_rate": r(self.bad_rate),
            "auc": r(self.auc),
            "gini": r(self.gini),
            "ks": r(self.ks),
        }


def pending(as_of: date, model: str, horizon_months: int = HORIZON_MONTHS) -> Vintage:
    """A vintage whose window is still open."""
    return Vintage(as_of, model, window_end(as_of, horizon_months).date(), matured=False)


def evaluate(
    as_of: date,
    model: str,
    score_ids: np.ndarray,
    scores: np.ndarray,
    label_ids: np.ndarray,
    bad: np.ndarray,
    horizon_months: int = HORIZON_MONTHS,
) -> Vintage:
    """AUC and KS of a matured run: its scores (risk is minus the score) against the outcome
    of the people scored; a person with no label is left out."""
    s_ids = np.asarray(score_ids, dtype=str)
    l_ids = np.asarray(label_ids, dtype=str)
    _, i_s, i_l = np.intersect1d(s_ids, l_ids, assume_unique=True, return_indices=True)
    risk = -np.asarray(scores, dtype=np.float64)[i_s]
    outcome = np.asarray(bad).astype(np.int8)[i_l]
    bads = int(outcome.sum())
    both = 0 < bads < len(outcome)
    area = auc(outcome, risk) if both else math.nan
    return Vintage(
        as_of=as_of,
        model=model,
        matures_on=window_end(as_of, horizon_months).date(),
        matured=True,
        people=len(outcome),
        bads=bads,
        auc=None if math.isnan(area) else area,
        ks=ks(outcome, risk) if both else None,
    )
