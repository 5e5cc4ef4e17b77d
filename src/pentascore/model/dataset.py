"""What a model learns from: columns, each in one dimension, a 0/1 outcome, and known directions.

Two sources give the same `Dataset`: the lake (the feature catalogue's features and labels as
of a date) and any table with a mapping file that puts its columns into the five dimensions
(see `TableMapping`; the project ships mappings for public credit data sets in
``pentascore/model/datasets/``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pentascore.core.errors import ConfigError, first_problem
from pentascore.core.types import Dimension
from pentascore.features.catalog import CATALOG
from pentascore.features.spec import Direction, FeatureSpec


class Kind(StrEnum):
    """How a column is binned and fed to the models."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class Column:
    """One input of a model: its dimension, kind and known relation to risk."""

    name: str
    dimension: Dimension
    kind: Kind
    direction: Direction = Direction.UNKNOWN


@dataclass(frozen=True)
class Dataset:
    """Inputs ``frame`` (one column per `Column`, in that order) and outcome ``bad`` (0/1).

    ``source`` names where it came from; ``data_hash`` identifies its content, for the card.
    """

    source: str
    columns: tuple[Column, ...]
    frame: pd.DataFrame
    bad: np.ndarray
    data_hash: str

    def __post_init__(self) -> None:
        if len(self.frame) != len(self.bad):
            raise ConfigError(f"{len(self.frame)} rows of inputs but {len(self.bad)} outcomes.")
        if list(self.frame.columns) != [c.name for c in self.columns]:
            raise ConfigError("the frame's columns must be the dataset's columns, in order.")

    @property
    def bad_rate(self) -> float:
        return float(self.bad.mean()) if len(self.bad) else 0.0

    def without(self, names: list[str]) -> Dataset:
        """The same rows without the columns ``names`` (those it has)."""
        kept = tuple(c for c in self.columns if c.name not in set(names))
        frame = self.frame[[c.name for c in kept]]
        return Dataset(self.source, kept, frame, self.bad, self.data_hash)

    def subset(self, rows: np.ndarray) -> Dataset:
        """The same columns on ``rows`` (positions), e.g. one fold."""
        frame = self.frame.iloc[rows].reset_index(drop=True)
        return Dataset(self.source, self.columns, frame, self.bad[rows], self.data_hash)


class TableMapping(BaseModel):
    """A mapping file: which table, which outcome, and which columns feed which dimension."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    target: str
    bad: str | int | float | bool
    drop: list[str] = Field(default_factory=list)
    read: dict[str, Any] = Field(default_factory=dict)
    dimensions: dict[Dimension, list[str]]
    directions: dict[str, Direction | str] = Field(default_factory=dict)
    protected: list[str] = Field(default_factory=list)


_DIRECTION_WORDS = {
    "increasing": Direction.INCREASES_RISK,
    "increases_risk": Direction.INCREASES_RISK,
    "decreasing": Direction.DECREASES_RISK,
    "decreases_risk": Direction.DECREASES_RISK,
    "unknown": Direction.UNKNOWN,
}


def shipped_datasets() -> list[str]:
    """Names of the mappings shipped with pentascore (``--dataset NAME``)."""
    folder = resources.files("pentascore.model") / "datasets"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def shipped_mapping_path(name: str) -> Path:
    """The shipped mapping file called ``name`` (german, taiwan, hmeq, lending_club ...)."""
    if name not in shipped_datasets():
        raise ConfigError(f"dataset must be one of {', '.join(shipped_datasets())}; got {name!r}.")
    return Path(str(resources.files("pentascore.model") / "datasets" / f"{name}.yaml"))


def load_mapping(path: Path) -> TableMapping:
    """Read and check a mapping file; errors name the file and the offending key."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as err:
        raise ConfigError(f"mapping file {path} does not exist.") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    try:
        return TableMapping.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{path}: {first_problem(err)}") from err


def table_dataset(
    mapping_path: Path,
    *,
    table: Path | None = None,
    target: str | None = None,
    bad: str | None = None,
) -> tuple[Dataset, TableMapping]:
    """The dataset a mapping file describes; ``table``, ``target`` and ``bad`` override it."""
    mapping = load_mapping(mapping_path)
    path = table or _resolve(mapping_path, mapping.table)
    if not path.exists():
        named_by = "--table" if table is not None else str(mapping_path)
        raise ConfigError(f"table {path} does not exist (named by {named_by}).")
    frame = pd.read_csv(path, **mapping.read)
    target_col = target or mapping.target
    if target_col not in frame.columns:
        raise ConfigError(f"target column {target_col!r} is not in {path}.")
    outcome = frame[target_col]
    bad_value = mapping.bad if bad is None else bad
    is_bad = outcome.astype(str) == str(bad_value)
    if not is_bad.any():
        seen = ", ".join(repr(v) for v in outcome.astype(str).unique()[:5])
        raise ConfigError(f"no row has {target_col} == {bad_value!r}; values seen: {seen}.")
    columns = _mapped_columns(mapping, [c for c in frame.columns if c != target_col], frame)
    inputs = frame[[c.name for c in columns]].copy()
    for c in columns:
        if c.kind is Kind.CATEGORICAL:
            inputs[c.name] = inputs[c.name].astype(object).where(inputs[c.name].notna(), None)
        else:
            inputs[c.name] = inputs[c.name].astype("float64")
    y = is_bad.to_numpy(dtype=np.int8)
    return (
        Dataset(path.name, columns, inputs, y, _hash_file(path)),
        mapping,
    )


def _resolve(mapping_path: Path, table: str) -> Path:
    candidate = Path(table)
    return candidate if candidate.is_absolute() else (mapping_path.parent / candidate).resolve()


def _mapped_columns(
    mapping: TableMapping, available: list[str], frame: pd.DataFrame
) -> tuple[Column, ...]:
    """Every column not dropped must sit in exactly one dimension; anything else is an error."""
    where: dict[str, Dimension] = {}
    for dimension, names in mapping.dimensions.items():
        for name in names:
            if name in where:
                raise ConfigError(
                    f"column {name!r} is in two dimensions: {where[name]} and {dimension}."
                )
            if name not in available:
                raise ConfigError(f"column {name!r} of dimension {dimension} is not in the table.")
            if name in mapping.drop:
                raise ConfigError(f"column {name!r} is both dropped and in dimension {dimension}.")
            where[name] = dimension
    unplaced = [c for c in available if c not in where and c not in mapping.drop]
    if unplaced:
        raise ConfigError(
            f"column {unplaced[0]!r} is in no dimension (put it in one, or in `drop`)"
            + (f"; also unplaced: {', '.join(unplaced[1:])}" if len(unplaced) > 1 else "")
        )
    for name in mapping.directions:
        if name not in where:
            raise ConfigError(f"directions: column {name!r} is not in any dimension.")
    columns = []
    for name in available:
        if name not in where:
            continue
        numeric = pd.api.types.is_numeric_dtype(frame[name]) and not pd.api.types.is_bool_dtype(
            frame[name]
        )
        word = str(mapping.directions.get(name, "unknown"))
        if word not in _DIRECTION_WORDS:
            raise ConfigError(f"directions: {name} must be increasing or decreasing; got {word!r}.")
        direction = _DIRECTION_WORDS[word]
        if direction is not Direction.UNKNOWN and not numeric:
            raise ConfigError(f"directions: {name} is categorical; only numbers have a direction.")
        kind = Kind.NUMERIC if numeric else Kind.CATEGORICAL
        columns.append(Column(name, where[name], kind, direction))
    return tuple(columns)


def lake_dataset(
    features: pa.Table,
    labels: pa.Table,
    *,
    specs: tuple[FeatureSpec, ...] = CATALOG,
    source: str = "lake",
) -> Dataset:
    """The catalogue's features joined to the outcome labels, person by person.

    Only people in both tables are kept: a person with features but no label has no outcome
    to learn from.
    """
    feats = features.to_pandas()
    labs = labels.to_pandas()[["user_id", "bad"]]
    joined = feats.merge(labs, on="user_id", how="inner", validate="one_to_one")
    names = [s.name for s in specs if s.name in joined.columns]
    columns = tuple(
        Column(s.name, s.dimension, Kind.NUMERIC, s.direction) for s in specs if s.name in names
    )
    frame = joined[names].astype("float64").reset_index(drop=True)
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(joined, index=False).to_numpy().tobytes())
    return Dataset(
        source, columns, frame, joined["bad"].to_numpy(dtype=np.int8), digest.hexdigest()
    )


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
