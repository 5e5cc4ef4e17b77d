"""Batch scoring: a model applied to a feature table, one row per person.

Pure: the same features and the same model always give the same table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pyarrow as pa

from pentascore.core.errors import ModelError
from pentascore.core.types import Dimension
from pentascore.model.scale import band_names
from pentascore.model.train import Model, radar

SCORE_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("as_of", pa.date32(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("score", pa.int32(), nullable=False),
        pa.field("band", pa.string(), nullable=False),
        pa.field("base", pa.int32(), nullable=False),
        *(pa.field(d.value, pa.int32(), nullable=False) for d in Dimension),
        # The same points on 0-100, for the radar chart.
        *(pa.field(f"{d.value}_radar", pa.int8(), nullable=False) for d in Dimension),
    ]
)


def dimension_points(model: Model, points: np.ndarray) -> dict[Dimension, np.ndarray]:
    """Each dimension's points: the sum of its columns' points (zero without columns)."""
    dims = np.array([d.value for d in model.feature_dimensions])
    return {
        d: points[:, dims == d.value].sum(axis=1)
        if (dims == d.value).any()
        else np.zeros(len(points), dtype=np.int64)
        for d in Dimension
    }


def require_columns(model: Model, columns: Sequence[str]) -> None:
    """A `ModelError` unless ``columns`` hold every column the model reads."""
    missing = [name for name in model.feature_names if name not in columns]
    if missing:
        raise ModelError(
            f"the features lack {len(missing)} of the model's columns, e.g. {missing[0]!r}: "
            "was the model trained on another feature catalogue?"
        )


def score_table(model: Model, version: str, features: pa.Table, as_of: date) -> pa.Table:
    """Scores every row of ``features`` (``user_id`` and the model's columns). Row by row:
    a row's scores do not depend on the other rows of the table."""
    require_columns(model, features.column_names)
    frame = features.select(model.feature_names).to_pandas()
    scores, points = model.score(frame)
    by_dimension = dimension_points(model, points)
    if not np.array_equal(scores, model.base + sum(by_dimension.values())):
        raise ModelError("the dimension points do not add up to the score; refusing to publish.")
    on_radar = radar(model, by_dimension)
    n = features.num_rows
    return pa.table(
        {
            "user_id": features.column("user_id"),
            "as_of": pa.array([as_of] * n, pa.date32()),
            "model": pa.array([version] * n, pa.string()),
            "score": pa.array(scores, pa.int32()),
            "band": pa.array(band_names(scores), pa.string()),
            "base": pa.array(np.full(n, model.base), pa.int32()),
            **{d.value: pa.array(by_dimension[d], pa.int32()) for d in Dimension},
            **{f"{d.value}_radar": pa.array(on_radar[d], pa.int8()) for d in Dimension},
        },
        schema=SCORE_SCHEMA,
    )
