"""The score history publishes whole runs and finds the previous one."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from pentascore.core.errors import ModelError
from pentascore.core.types import Dimension
from pentascore.scores.batch import SCORE_SCHEMA
from pentascore.scores.history import ScoreHistory


def _run(as_of: date, version: str, scores: list[int]) -> pa.Table:
    n = len(scores)
    return pa.table(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "as_of": pa.array([as_of] * n, pa.date32()),
            "model": [version] * n,
            "score": pa.array(scores, pa.int32()),
            "band": ["good"] * n,
            "base": pa.array([350] * n, pa.int32()),
            **{d.value: pa.array([0] * n, pa.int32()) for d in Dimension},
            **{f"{d.value}_radar": pa.array([0] * n, pa.int8()) for d in Dimension},
        },
        schema=SCORE_SCHEMA,
    )


def test_runs_are_published_whole_and_found_by_date(tmp_path: Path) -> None:
    history = ScoreHistory(tmp_path / "scores")
    assert history.latest_before(date(2025, 10, 1)) is None
    history.write(_run(date(2025, 8, 1), "sc-a", [600, 610]))
    history.write(_run(date(2025, 9, 1), "sc-a", [620, 630]))
    history.write(_run(date(2025, 10, 1), "sc-a", [640, 650]))
    assert [d for d, _ in history.runs()] == [date(2025, 8, 1), date(2025, 9, 1), date(2025, 10, 1)]
    previous = history.latest_before(date(2025, 10, 1))
    assert previous is not None and previous.column("score").to_pylist() == [620, 630]
    # Writing the same run again replaces it; nothing half-written is left behind.
    history.write(_run(date(2025, 10, 1), "sc-a", [641, 651]))
    assert history.read(date(2025, 10, 1), "sc-a").column("score").to_pylist() == [641, 651]
    assert not list((tmp_path / "scores").rglob(".run-*"))


def test_empty_or_malformed_runs_are_refused(tmp_path: Path) -> None:
    history = ScoreHistory(tmp_path / "scores")
    with pytest.raises(ModelError, match="empty"):
        history.write(_run(date(2025, 10, 1), "sc-a", []))
    with pytest.raises(ModelError, match="schema"):
        history.write(pa.table({"user_id": ["u1"]}))
    with pytest.raises(ModelError, match="no scores as of"):
        history.read(date(2025, 10, 1), "sc-a")
