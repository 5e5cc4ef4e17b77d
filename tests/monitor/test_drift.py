"""PSI and band migration on samples whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pentascore.model.scale import BAND_NAMES
from pentascore.monitor.drift import (
    SHIFT,
    STABLE,
    WATCH,
    migration,
    psi,
    psi_of_counts,
    quantile_bins,
    status,
)


def test_identical_samples_have_zero_psi() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=5000)
    assert psi(x, x).value == 0.0
    # Ties, a mass point and missing values too.
    y = np.r_[np.zeros(300), rng.integers(1, 6, 500).astype(float), [np.nan] * 40]
    assert psi(y, y.copy()).value == 0.0
    # The same shares in samples of different sizes.
    assert psi(np.repeat([1.0, 2.0, 3.0], 100), np.repeat([1.0, 2.0, 3.0], 100)).value == 0.0


def test_hand_computed_psi() -> None:
    # Reference 1..10 in two bins: below 6 and from 6 (five values each).
    reference = np.arange(1, 11, dtype=float)
    current = np.array([1, 2, 3, 6, 7, 8, 9, 10], dtype=float)  # 3 below, 5 from 6
    result = psi(reference, current, bins=2)
    assert result.labels == ["< 6", ">= 6"]
    assert result.reference_counts == [5, 5] and result.current_counts == [3, 5]
    # Shares with half a count added to each bin.
    p = np.array([5.5, 5.5]) / 11
    q = np.array([3.5, 5.5]) / 9
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert result.value == pytest.approx(expected, rel=1e-12)
    assert result.value == pytest.approx(0.0502205, abs=1e-6)
    # Without smoothing: the textbook formula on the raw shares.
    raw = (3 / 8 - 0.5) * math.log((3 / 8) / 0.5) + (5 / 8 - 0.5) * math.log((5 / 8) / 0.5)
    assert psi(reference, current, bins=2, smoothing=0.0).value == pytest.approx(raw)


def test_an_empty_bin_gives_a_large_finite_psi() -> None:
    reference = np.repeat([1.0, 2.0], 50)
    current = np.repeat([1.0, 3.0], 50)  # a value the reference never had
    value = psi(reference, current).value
    assert math.isfinite(value) and value > 1
    assert psi_of_counts(np.array([0, 10]), np.array([0, 10])) == 0.0


@pytest.mark.parametrize(
    ("shift", "expected"), [(0.1, STABLE), (0.2, STABLE), (0.45, WATCH), (0.8, SHIFT)]
)
def test_a_shifted_distribution_crosses_the_thresholds(shift: float, expected: str) -> None:
    rng = np.random.default_rng(7)
    reference = rng.normal(size=20_000)
    current = rng.normal(loc=shift, size=20_000)
    result = psi(reference, current)
    assert result.status == expected
    # For normal samples a shift of d standard deviations gives a PSI of about d squared.
    assert result.value == pytest.approx(shift**2, rel=0.3, abs=0.01)


def test_status_thresholds() -> None:
    assert [status(v) for v in (0.0, 0.0999, 0.1, 0.2499, 0.25, 3.0)] == [
        STABLE,
        STABLE,
        WATCH,
        WATCH,
        SHIFT,
        SHIFT,
    ]
    assert status(math.nan) == "n/a"


def test_deciles_ties_and_missing_values() -> None:
    rng = np.random.default_rng(3)
    continuous = rng.normal(size=10_000)
    bins = quantile_bins(continuous)
    counts = np.bincount(bins.assign(continuous), minlength=bins.count)
    assert len(counts) == 10 and set(counts) == {1000}
    # 60% zeros: the zero is a bin of its own; the rest is cut at its quantiles.
    counts_feature = np.r_[np.zeros(600), np.arange(1, 401, dtype=float)]
    bins = quantile_bins(counts_feature)
    assert "= 0" in bins.labels
    assigned = np.bincount(bins.assign(counts_feature), minlength=bins.count)
    assert assigned[bins.labels.index("= 0")] == 600
    assert assigned.sum() == 1000
    # Missing values are a bin of their own, in either sample.
    with_missing = np.r_[continuous, [np.nan] * 500]
    result = psi(continuous, with_missing)
    assert result.labels[-1] == "missing"
    assert result.reference_counts[-1] == 0 and result.current_counts[-1] == 500
    # Values going missing that never were is a shift (usually a broken feed), even at 5%.
    assert result.status == SHIFT
    assert psi(with_missing, continuous).labels[-1] == "missing"


def test_empty_samples_have_no_psi() -> None:
    assert math.isnan(psi(np.array([]), np.array([1.0])).value)
    assert psi(np.array([]), np.array([1.0])).status == "n/a"


samples = st.lists(
    st.one_of(st.floats(-1e6, 1e6), st.just(math.nan), st.sampled_from([0.0, 1.0])),
    min_size=1,
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(samples, samples, st.integers(2, 20))
def test_psi_is_never_negative(reference: list[float], current: list[float], bins: int) -> None:
    result = psi(np.array(reference), np.array(current), bins)
    assert result.value >= 0 and math.isfinite(result.value)
    assert sum(result.reference_counts) == len(reference)
    assert sum(result.current_counts) == len(current)
    assert psi(np.array(reference), np.array(reference), bins).value == 0.0


def test_migration_matrix_by_hand() -> None:
    before_ids = ["a", "b", "c", "d", "e"]
    before = np.array([500, 560, 620, 680, 800])  # poor, fair, good, very good, excellent
    after_ids = ["e", "d", "c", "b", "f"]
    after = np.array([690, 700, 630, 540, 900])  # e down, d up, c stays, b down; f new
    m = migration(before_ids, before, after_ids, after)
    assert m.people == 4 and m.only_before == 1 and m.only_after == 1
    expected = np.zeros((5, 5), dtype=int)
    expected[4, 3] = 1  # e: excellent -> very good
    expected[3, 4] = 1  # d: very good -> excellent
    expected[2, 2] = 1  # c
    expected[1, 0] = 1  # b: fair -> poor
    assert (m.counts == expected).all()
    assert (m.stayed, m.up, m.down) == (1, 1, 2)
    assert m.mean_change == pytest.approx((-110 + 20 + 10 - 20) / 4)
    shares = m.row_shares
    assert shares[0].sum() == 0  # nobody in "poor" before, among those in both runs
    assert shares[4, 3] == 1.0
    doc = m.to_dict()
    assert doc["bands"] == list(BAND_NAMES) and doc["people"] == 4


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.integers(350, 950)),
    st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.integers(350, 950)),
)
def test_migration_counts_the_people_in_both_runs(
    before: dict[str, int], after: dict[str, int]
) -> None:
    m = migration(
        list(before),
        np.array(list(before.values()), dtype=np.int64),
        list(after),
        np.array(list(after.values()), dtype=np.int64),
    )
    both = set(before) & set(after)
    assert m.people == len(both) == m.stayed + m.up + m.down
    assert m.only_before == len(before) - len(both)
    assert m.only_after == len(after) - len(both)
    assert m.counts.sum(axis=1).tolist() == [
        sum(1 for u in both if name == _band(before[u])) for name in BAND_NAMES
    ]


def _band(score: int) -> str:
    return BAND_NAMES[sum(score >= low for low in (550, 600, 650, 700))]


def test_migration_refuses_duplicate_people() -> None:
    with pytest.raises(ValueError, match="one row per person"):
        migration(["a", "a"], np.array([600, 610]), ["a"], np.array([600]))
