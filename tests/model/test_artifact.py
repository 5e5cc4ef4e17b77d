"""Models are data: they round-trip exactly, refuse tampering, and live in a registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pentascore.core.errors import ModelError
from pentascore.model import artifact
from pentascore.model.dataset import Dataset
from pentascore.model.gbdt import Gbdt
from pentascore.model.metrics import auc, band_table, brier, calibration_table, ks
from pentascore.model.registry import ModelRegistry
from pentascore.model.scorecard import Scorecard
from pentascore.model.train import Model, Trained
from pentascore.model.validate import Metrics

WHEN = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def _trained(model: Model, data: Dataset) -> Trained:
    scores, _ = model.score(data.frame)
    probability = model.calibration.probability(scores)
    summary = Metrics(
        auc=[auc(data.bad, -scores)],
        ks=[ks(data.bad, -scores)],
        brier=[brier(data.bad, probability)],
        bands=band_table(data.bad, scores),
        calibration=calibration_table(data.bad, probability),
    ).summary()
    name = "learned" if isinstance(model, Scorecard) else "gbdt"
    return Trained(
        model=model,
        metrics={name: summary},
        headline=name,
        validation={"method": "repeated stratified k-fold", "k": 5, "repeats": 1, "seed": 1},
        data={
            "source": data.source,
            "data_hash": data.data_hash,
            "rows": 1000,
            "bads": 300,
            "bad_rate": 0.3,
        },
    )


@pytest.mark.parametrize("which", ["german_learned", "german_gbdt"])
def test_round_trip_gives_identical_scores(
    which: str, request: pytest.FixtureRequest, german: Dataset, tmp_path: Path
) -> None:
    model: Scorecard | Gbdt = request.getfixturevalue(which)
    registry = ModelRegistry(tmp_path / "models")
    doc = registry.register(_trained(model, german), WHEN)
    loaded, loaded_doc = registry.load(doc.version)
    assert loaded_doc == doc
    before, before_points = model.score(german.frame)
    after, after_points = loaded.score(german.frame)
    assert np.array_equal(before, after) and np.array_equal(before_points, after_points)
    # Same model, same version: registering again adds nothing.
    assert registry.register(_trained(model, german), WHEN).version == doc.version
    assert registry.versions() == [doc.version]
    files = {p.name for p in (tmp_path / "models" / doc.version).iterdir()}
    assert not any(name.endswith((".pkl", ".pickle", ".joblib")) for name in files)


def test_a_changed_point_fails_to_load(
    german_learned: Scorecard, german: Dataset, tmp_path: Path
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    doc = registry.register(_trained(german_learned, german), WHEN)
    bins_path = tmp_path / "models" / doc.version / artifact.BINS_FILE
    rows = pq.read_table(bins_path).to_pylist()
    rows[0]["points"] += 1
    pq.write_table(pa.Table.from_pylist(rows, schema=artifact.BINS_SCHEMA), bins_path)
    with pytest.raises(ModelError, match="content hash"):
        registry.load(doc.version)


def test_an_unknown_schema_version_is_refused(
    german_learned: Scorecard, german: Dataset, tmp_path: Path
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    doc = registry.register(_trained(german_learned, german), WHEN)
    path = tmp_path / "models" / doc.version / artifact.MODEL_FILE
    raw = json.loads(path.read_text())
    raw["schema_version"] = 2
    path.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="schema_version must be 1; got 2"):
        registry.load(doc.version)


def test_promotion_makes_a_champion_and_retires_the_last(
    german_learned: Scorecard, german_gbdt: Gbdt, german: Dataset, tmp_path: Path
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    with pytest.raises(ModelError, match="no champion"):
        registry.load()
    first = registry.register(_trained(german_learned, german), WHEN).version
    second = registry.register(_trained(german_gbdt, german), WHEN).version
    assert {e.status for e in registry.entries()} == {"candidate"}
    assert registry.promote(first, WHEN) is None
    assert registry.promote(second, WHEN) == first
    status = {e.version: e.status for e in registry.entries()}
    assert status == {first: "retired", second: "champion"}
    assert registry.load()[1].version == second
    with pytest.raises(ModelError, match="no model 'sc-nope'"):
        registry.promote("sc-nope", WHEN)
    card = registry.card(first)
    assert "score = base + sum of dimension points" in card and "| excellent |" in card
