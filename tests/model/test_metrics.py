"""Metrics agree with scikit-learn and scipy on arbitrary inputs."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from pentascore.model.metrics import BandRow, auc, band_table, bands_monotone, ks

outcomes = st.lists(st.tuples(st.booleans(), st.integers(350, 950)), min_size=2, max_size=200)


@given(outcomes)
def test_auc_and_ks_match_the_references(rows: list[tuple[bool, int]]) -> None:
    bad = np.array([b for b, _ in rows], dtype=np.int8)
    score = np.array([s for _, s in rows])
    if bad.min() == bad.max():
        return
    assert np.isclose(auc(bad, -score), roc_auc_score(bad, -score))
    # The two-sample KS statistic by definition: the largest gap between the two empirical
    # distribution functions, over every observed threshold.
    reference = max(
        abs(np.mean(score[bad == 1] <= t) - np.mean(score[bad == 0] <= t)) for t in score
    )
    assert np.isclose(ks(bad, -score), reference)


def test_band_table_counts_people_and_bads() -> None:
    scores = np.array([400, 560, 560, 610, 720, 800])
    bad = np.array([1, 1, 0, 0, 0, 1])
    rows = band_table(bad, scores)
    assert [(r.band, r.people, r.bads) for r in rows] == [
        ("poor", 1, 1),
        ("fair", 2, 1),
        ("good", 1, 0),
        ("very good", 0, 0),
        ("excellent", 2, 1),
    ]
    assert not bands_monotone(rows)
    assert bands_monotone([BandRow("poor", 10, 5), BandRow("fair", 0, 0), BandRow("good", 10, 1)])
