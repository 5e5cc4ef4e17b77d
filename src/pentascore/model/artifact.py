"""A model is data, not a pickle: ``model.json`` + ``bins.parquet`` (scorecard) or
``booster.txt`` (LightGBM's own text format), checked against a schema version on load.

The version id is the model's kind and a hash of its content, so training twice on the same
data gives the same id, and a file changed after saving fails to load.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, ValidationError

from pentascore.core.errors import ModelError, first_problem
from pentascore.core.types import Dimension
from pentascore.features.spec import Direction
from pentascore.model.binning import BinTable
from pentascore.model.dataset import Column, Kind
from pentascore.model.gbdt import Gbdt
from pentascore.model.scale import Calibration
from pentascore.model.scorecard import Allocation, Scorecard
from pentascore.model.train import Model, Trained, radar_range

SCHEMA_VERSION = 1
MODEL_FILE = "model.json"
BINS_FILE = "bins.parquet"
BOOSTER_FILE = "booster.txt"

BINS_SCHEMA = pa.schema(
    [
        pa.field("feature", pa.string(), nullable=False),
        pa.field("bin", pa.int32(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("upper", pa.float64()),
        pa.field("categories", pa.list_(pa.string())),
        pa.field("count", pa.int64(), nullable=False),
        pa.field("bads", pa.int64(), nullable=False),
        pa.field("woe", pa.float64(), nullable=False),
        pa.field("points", pa.int64(), nullable=False),
    ]
)


class ColumnDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    dimension: Dimension
    kind: Kind
    direction: Direction


class ScorecardDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    allocation: Allocation
    weights: dict[Dimension, float]
    dropped: dict[str, str]
    c: float


class GbdtDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    factor: float
    offset: float
    trees: int
    categories: dict[str, list[str]]


class ModelDoc(BaseModel):
    """Everything in ``model.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: Literal[1]
    version: str
    kind: Literal["scorecard", "gbdt"]
    created_at: datetime
    trained_on: dict[str, Any]
    validation: dict[str, Any]
    headline: str
    metrics: dict[str, dict[str, Any]]
    columns: list[ColumnDoc]
    base: int
    calibration: dict[str, float]
    learned_shares: dict[Dimension, float]
    radar: dict[Dimension, tuple[float, float]]
    scorecard: ScorecardDoc | None = None
    gbdt: GbdtDoc | None = None
    content_hash: str


def _columns(model: Model) -> tuple[Column, ...]:
    if isinstance(model, Scorecard):
        return tuple(t.column for t in model.tables)
    return model.columns


def bins_table(model: Scorecard) -> pa.Table:
    rows: dict[str, list[Any]] = {f.name: [] for f in BINS_SCHEMA}
    for table in model.tables:
        regular = table.n_bins - 2
        for b in range(table.n_bins):
            rows["feature"].append(table.column.name)
            rows["bin"].append(b)
            rows["label"].append(table.labels[b])
            numeric_regular = table.column.kind is Kind.NUMERIC and b < regular
            upper = table.splits[b] if b < len(table.splits) else float("inf")
            rows["upper"].append(upper if numeric_regular else None)
            categorical_regular = table.column.kind is Kind.CATEGORICAL and b < regular
            rows["categories"].append(list(table.groups[b]) if categorical_regular else None)
            rows["count"].append(table.counts[b])
            rows["bads"].append(table.bads[b])
            rows["woe"].append(table.woe[b])
            rows["points"].append(table.points[b])
    return pa.table(rows, schema=BINS_SCHEMA)


def _tables_from(bins: pa.Table, columns: tuple[Column, ...]) -> tuple[BinTable, ...]:
    if bins.schema != BINS_SCHEMA:
        raise ModelError(f"{BINS_FILE} does not have the expected columns and types.")
    rows = bins.to_pylist()
    tables = []
    for column in columns:
        mine = sorted((r for r in rows if r["feature"] == column.name), key=lambda r: r["bin"])
        if len(mine) < 3 or [r["bin"] for r in mine] != list(range(len(mine))):
            raise ModelError(f"{BINS_FILE}: the bins of {column.name} are incomplete.")
        regular = mine[:-2]
        tables.append(
            BinTable(
                column=column,
                splits=tuple(r["upper"] for r in regular[:-1])
                if column.kind is Kind.NUMERIC
                else (),
                groups=tuple(tuple(r["categories"]) for r in regular)
                if column.kind is Kind.CATEGORICAL
                else (),
                labels=tuple(r["label"] for r in mine),
                counts=tuple(r["count"] for r in mine),
                bads=tuple(r["bads"] for r in mine),
                woe=tuple(r["woe"] for r in mine),
                points=tuple(r["points"] for r in mine),
            )
        )
    return tuple(tables)


def _payload_hash(doc: dict[str, Any], extra: bytes) -> str:
    content = {k: v for k, v in doc.items() if k not in {"version", "created_at", "content_hash"}}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode())
    digest.update(extra)
    return digest.hexdigest()


def _extra_bytes(model: Model) -> bytes:
    if isinstance(model, Scorecard):
        return json.dumps(bins_table(model).to_pylist(), sort_keys=True).encode()
    return model.booster_text.encode()


def describe(trained: Trained, created_at: datetime, trained_on: dict[str, Any]) -> ModelDoc:
    """The ``model.json`` document of ``trained``, with its version id."""
    model = trained.model
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": model.kind,
        "trained_on": {**trained.data, **trained_on},
        "validation": trained.validation,
        "headline": trained.headline,
        "metrics": trained.metrics,
        "columns": [
            {"name": c.name, "dimension": c.dimension, "kind": c.kind, "direction": c.direction}
            for c in _columns(model)
        ],
        "base": model.base,
        "calibration": {
            "intercept": model.calibration.intercept,
            "slope": model.calibration.slope,
        },
        "learned_shares": {d.value: v for d, v in model.learned_shares.items()},
        "radar": {d.value: list(v) for d, v in radar_range(model).items()},
    }
    if isinstance(model, Scorecard):
        doc["scorecard"] = {
            "allocation": model.allocation,
            "weights": {d.value: w for d, w in model.weights.items()},
            "dropped": model.dropped,
            "c": model.c,
        }
    else:
        doc["gbdt"] = {
            "factor": model.factor,
            "offset": model.offset,
            "trees": model.trees,
            "categories": {k: list(v) for k, v in model.categories.items()},
        }
    # Hash exactly what load will read back: the validated document as it is written.
    draft = ModelDoc.model_validate(
        {**doc, "version": "", "created_at": created_at, "content_hash": ""}
    )
    content_hash = _payload_hash(json.loads(draft.model_dump_json()), _extra_bytes(model))
    prefix = "sc" if model.kind == "scorecard" else "gb"
    return draft.model_copy(
        update={"version": f"{prefix}-{content_hash[:12]}", "content_hash": content_hash}
    )


def save(trained: Trained, doc: ModelDoc, folder: Path) -> None:
    """Writes the model's files into ``folder`` (which must not exist yet)."""
    folder.mkdir(parents=True)
    model = trained.model
    if isinstance(model, Scorecard):
        pq.write_table(bins_table(model), folder / BINS_FILE)
    else:
        (folder / BOOSTER_FILE).write_text(model.booster_text)
    (folder / MODEL_FILE).write_text(doc.model_dump_json(indent=2) + "\n")


def read_doc(folder: Path) -> tuple[ModelDoc, dict[str, Any]]:
    """The checked ``model.json`` of ``folder`` and its raw content (for the hash check)."""
    path = folder / MODEL_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise ModelError(f"{path} does not exist.") from err
    except json.JSONDecodeError as err:
        raise ModelError(f"{path} is not valid JSON: {err}") from err
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise ModelError(
            f"{path}: schema_version must be {SCHEMA_VERSION}; got {raw.get('schema_version')!r}."
        )
    try:
        return ModelDoc.model_validate(raw), raw
    except ValidationError as err:
        raise ModelError(f"{path}: {first_problem(err)}") from err


def load(folder: Path) -> tuple[Model, ModelDoc]:
    """Reads and checks a saved model; any mismatch is a `ModelError` naming the file."""
    path = folder / MODEL_FILE
    doc, raw = read_doc(folder)
    columns = tuple(Column(c.name, c.dimension, c.kind, c.direction) for c in doc.columns)
    calibration = Calibration(doc.calibration["intercept"], doc.calibration["slope"])
    model: Model
    if doc.scorecard is not None:
        try:
            bins = pq.read_table(folder / BINS_FILE)
        except (FileNotFoundError, pa.ArrowInvalid) as err:
            raise ModelError(f"{folder / BINS_FILE} cannot be read: {err}") from err
        model = Scorecard(
            tables=_tables_from(bins, columns),
            base=doc.base,
            allocation=doc.scorecard.allocation,
            weights=dict(doc.scorecard.weights),
            learned_shares=dict(doc.learned_shares),
            calibration=calibration,
            dropped=dict(doc.scorecard.dropped),
            c=doc.scorecard.c,
        )
    elif doc.gbdt is not None:
        try:
            text = (folder / BOOSTER_FILE).read_text()
        except FileNotFoundError as err:
            raise ModelError(f"{folder / BOOSTER_FILE} does not exist.") from err
        model = Gbdt(
            columns=columns,
            categories={k: tuple(v) for k, v in doc.gbdt.categories.items()},
            booster_text=text,
            factor=doc.gbdt.factor,
            offset=doc.gbdt.offset,
            base=doc.base,
            calibration=calibration,
            learned_shares=dict(doc.learned_shares),
            radar=dict(doc.radar),
            trees=doc.gbdt.trees,
        )
    else:
        raise ModelError(f"{path}: neither a scorecard nor a gbdt section.")
    if _payload_hash(raw, _extra_bytes(model)) != doc.content_hash:
        raise ModelError(f"{folder}: the files do not match the content hash in {MODEL_FILE}.")
    return model, doc
