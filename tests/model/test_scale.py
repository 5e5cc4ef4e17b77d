"""The scale's pure functions: integer sharing, row rounding, bands, calibration."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pentascore.model.scale import (
    BAND_NAMES,
    band_names,
    calibrate,
    largest_remainder,
    round_rows,
)

finite = st.floats(min_value=-500, max_value=500, allow_nan=False, allow_infinity=False)


@given(
    arrays(np.float64, st.integers(1, 30), elements=st.floats(0, 1e6, allow_nan=False)),
    st.integers(0, 1000),
)
def test_largest_remainder_sums_exactly_and_stays_close(shares: np.ndarray, total: int) -> None:
    if shares.sum() <= 0:
        return
    whole = largest_remainder(shares, total)
    assert whole.sum() == total
    exact = shares / shares.sum() * total
    assert np.all(np.abs(whole - exact) < 1)


@given(arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(1, 15)), elements=finite))
def test_round_rows_keeps_each_row_sum(parts: np.ndarray) -> None:
    rounded, totals = round_rows(parts)
    assert rounded.dtype == np.int64
    assert np.array_equal(rounded.sum(axis=1), totals)
    assert np.array_equal(totals, np.rint(parts.sum(axis=1)).astype(np.int64))
    assert np.all(np.abs(rounded - parts) < 1)


def test_bands_follow_the_spec() -> None:
    scores = np.array([350, 549, 550, 599, 600, 649, 650, 699, 700, 950])
    assert list(band_names(scores)) == [
        "poor",
        "poor",
        "fair",
        "fair",
        "good",
        "good",
        "very good",
        "very good",
        "excellent",
        "excellent",
    ]
    assert BAND_NAMES == ("poor", "fair", "good", "very good", "excellent")


def test_calibration_recovers_a_known_odds_to_points_line() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(350, 951, size=200_000)
    # 40 points halve the odds of default; even odds at 500.
    slope = -np.log(2) / 40
    probability = 1 / (1 + np.exp(-(slope * (scores - 500))))
    bad = (rng.random(len(scores)) < probability).astype(np.int8)
    fit = calibrate(scores, bad)
    assert abs(fit.pdo - 40) < 1.5
    assert abs(fit.even_odds_score - 500) < 5
