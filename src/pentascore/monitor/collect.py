"""Reading what monitoring needs: the edge where the pure monitoring functions meet files.

- `home_report`: a home's score history, feature snapshots and lake (and optionally a
  demographics table) -> a `Report`;
- `dataset_fairness`: a shipped data set (German, Taiwan ...) -> out-of-fold scores of the
  project's own model, fold for fold as `pentascore train` cross-validates it, and the fairness
  table of every protected column of its mapping.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pentascore.core.errors import ConfigError, ModelError
from pentascore.core.types import DEFAULT_WEIGHTS
from pentascore.events.pseudonym import pseudonymize_many
from pentascore.features.engine import FeatureEngine
from pentascore.lake.store import ParquetLake
from pentascore.model.dataset import load_mapping, table_dataset
from pentascore.model.metrics import auc
from pentascore.model.scorecard import Allocation
from pentascore.model.train import ModelKind, gbdt_family, scorecard_family
from pentascore.model.validate import folds
from pentascore.monitor import drift, fairness, vintages
from pentascore.monitor.report import FairnessSection, Report, Step, summarize
from pentascore.scores.history import ScoreHistory
from pentascore.scores.snapshots import FeatureSnapshots

Say = Callable[[str], None]
MAX_GROUPS = 50
_BIRTH_YEAR = ("birth_year", "year_of_birth", "birthyear")


def _quiet(_: str) -> None:
    return None


# --- the home ------------------------------------------------------------------------------


def select_runs(
    runs: Sequence[tuple[date, str]],
    champion: str | None = None,
    model: str | None = None,
    written: Callable[[date, str], float] | None = None,
) -> tuple[list[tuple[date, str]], list[tuple[date, str]]]:
    """One run per as-of date, oldest first, and the runs left out.

    With ``model``, only that model's runs. Otherwise, where a date has several runs (a
    champion and a challenger), the champion's; failing that, the most recently written one
    (``written`` gives a run's write time; without it, the last by model name)."""
    if model is not None:
        chosen = [r for r in runs if r[1] == model]
        return chosen, [r for r in runs if r[1] != model]
    by_date: dict[date, list[str]] = {}
    for day, version in runs:
        by_date.setdefault(day, []).append(version)
    chosen, skipped = [], []
    for day in sorted(by_date):
        versions = sorted(by_date[day])
        if champion in versions:
            pick = champion
        elif written is not None:
            pick = max(versions, key=lambda v: (written(day, v), v))
        else:
            pick = versions[-1]
        chosen.append((day, str(pick)))
        skipped += [(day, v) for v in versions if v != pick]
    return chosen, skipped


def latest_event(lake: ParquetLake) -> datetime | None:
    """The timestamp of the lake's latest stored event, or None for an empty lake."""
    if not lake.files():
        return None
    with duckdb.connect() as con:
        row = con.execute(f"SELECT max(ts) FROM {lake.events_sql(con)}").fetchone()
    value = row[0] if row else None
    return value if isinstance(value, datetime) else None


def read_table(path: Path) -> pa.Table:
    """A Parquet or CSV file as an Arrow table."""
    if not path.exists():
        raise ConfigError(f"{path} does not exist.")
    if path.suffix == ".parquet":
        return pq.read_table(path)
    if path.suffix in (".csv", ".gz"):
        return pa.Table.from_pandas(pd.read_csv(path), preserve_index=False)
    raise ConfigError(f"{path}: give a .parquet or .csv file.")


def _is_age(name: str) -> bool:
    low = name.lower()
    return low == "age" or low.startswith("age_") or low.endswith("_age")


def attribute_groups(
    table: pd.DataFrame, attributes: Sequence[str], as_of: date | None = None
) -> dict[str, np.ndarray]:
    """Each attribute's group per row: an age column (``age``, ``age_*``) or a year of birth
    (``birth_year``, ages at ``as_of``) in age bands, anything else as categories.
    A column with more than `MAX_GROUPS` values is refused: band or code it first."""
    out: dict[str, np.ndarray] = {}
    for name in attributes:
        if name not in table.columns:
            raise ConfigError(
                f"attribute {name!r} is not a column; columns: {list(table.columns)}."
            )
        column = table[name]
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        if numeric and name.lower() in _BIRTH_YEAR:
            if as_of is None:
                raise ConfigError(f"{name}: a year of birth needs the date to take ages at.")
            out["age"] = fairness.age_bands(
                fairness.ages_at(column.to_numpy(dtype=np.float64), as_of)
            )
        elif numeric and _is_age(name):
            out[name] = fairness.age_bands(column.to_numpy(dtype=np.float64))
        else:
            groups = fairness.categories(column.to_numpy(dtype=object))
            distinct = len(set(groups.tolist()))
            if distinct > MAX_GROUPS:
                raise ConfigError(
                    f"attribute {name!r} has {distinct} distinct values; "
                    f"at most {MAX_GROUPS} make groups (band or code it first)."
                )
            out[name] = groups
    return out


def default_attributes(columns: Sequence[str], table: pd.DataFrame) -> list[str]:
    """Demographic columns worth a table when none are named: ``sex``, any other text column
    of few values, and an age or year of birth."""
    chosen = []
    for name in columns:
        if name == "user_id":
            continue
        column = table[name]
        numeric = pd.api.types.is_numeric_dtype(column)
        age = name.lower() in _BIRTH_YEAR or (_is_age(name) and numeric)
        text = pd.api.types.is_string_dtype(column) or pd.api.types.is_object_dtype(column)
        if age or (text and column.nunique(dropna=True) <= MAX_GROUPS):
            chosen.append(name)
    return chosen


def demographic_groups(
    scored_ids: pa.Array | pa.ChunkedArray,
    demographics: pa.Table,
    key: bytes,
    as_of: date,
    attributes: Sequence[str] | None = None,
) -> tuple[dict[str, np.ndarray], int]:
    """The groups of every scored person (by pseudonym) from a demographics table keyed by
    the platform's own ``user_id`` (pseudonymized here with the home's key, as ingest does);
    returns the groups and how many scored people the table covers."""
    if "user_id" not in demographics.column_names:
        raise ConfigError("the demographics table needs a user_id column (the platform's ids).")
    raw = demographics.column("user_id").cast(pa.string()).combine_chunks()
    with duckdb.connect() as con:
        pseudonyms = pseudonymize_many(con, key, "user_id", raw)
    frame = demographics.drop_columns(["user_id"]).to_pandas()
    frame.index = pd.Index(pseudonyms.to_pylist())
    frame = frame[~frame.index.duplicated(keep="last")]
    ids = pa.chunked_array([scored_ids]) if isinstance(scored_ids, pa.Array) else scored_ids
    people = ids.to_pylist()
    matched = int(frame.index.isin(people).sum())
    if matched == 0:
        raise ConfigError(
            f"none of the {len(frame):,} people of the demographics table was scored: its "
            "user_id must be the platform's ids, and the home's pseudonym key the one ingest used."
        )
    aligned = frame.reindex(people)
    names = list(attributes) if attributes else default_attributes(list(aligned.columns), aligned)
    if not names:
        raise ConfigError("the demographics table has no attribute to group by; name some.")
    return attribute_groups(aligned, names, as_of), matched


def home_report(
    *,
    history: ScoreHistory,
    snapshots: FeatureSnapshots,
    lake: ParquetLake,
    engine: FeatureEngine,
    generated_at: datetime,
    now: datetime | None = None,
    champion: str | None = None,
    model: str | None = None,
    horizon_months: int = vintages.HORIZON_MONTHS,
    demographics: pa.Table | None = None,
    demographics_name: str = "demographics",
    attributes: Sequence[str] | None = None,
    key: bytes | None = None,
    bins: int = drift.DEFAULT_BINS,
    say: Say = _quiet,
    home: str | None = None,
) -> Report:
    """The monitoring report of a home (see docs/monitoring.md)."""
    report = Report(
        title="pentascore monitoring report",
        generated_at=generated_at,
        home=home,
        horizon_months=horizon_months,
    )
    say("reading the score history ...")
    chosen, skipped = select_runs(
        history.runs(),
        champion,
        model,
        written=lambda d, v: history.path(d, v).stat().st_mtime,
    )
    report.skipped = skipped
    if not chosen:
        report.notes.append(
            "The score history is empty"
            + (f" for model {model}" if model else "")
            + ": run `pentascore run-month` or `pentascore score`."
        )
    scores: dict[date, pa.Table] = {}
    for day, version in chosen:
        table = history.read(day, version).select(["user_id", "score"])
        scores[day] = table
        report.runs.append(summarize(day, version, table.column("score").to_numpy()))
    days = [d for d, _ in chosen]
    for before, after in itertools.pairwise(days):
        say(f"score PSI {before} -> {after} ...")
        report.score_steps.append(
            Step(
                before,
                after,
                score=drift.psi(
                    scores[before].column("score").to_numpy(),
                    scores[after].column("score").to_numpy(),
                    bins,
                ),
            )
        )
    if len(days) >= 2:
        before, after = days[-2], days[-1]
        report.migration = (
            before,
            after,
            drift.migration(
                scores[before].column("user_id").to_numpy(zero_copy_only=False),
                scores[before].column("score").to_numpy(),
                scores[after].column("user_id").to_numpy(zero_copy_only=False),
                scores[after].column("score").to_numpy(),
            ),
        )
    report.feature_steps = feature_steps(snapshots, bins, say)
    if not report.feature_steps:
        report.notes.append(
            "Fewer than two feature snapshots: feature PSI starts after the second monthly run "
            "(`pentascore run-month` keeps each month's features)."
        )

    latest = latest_event(lake)
    report.observed_through = vintages.observed_through(latest) if latest is not None else None
    report.now = now if now is not None else report.observed_through
    labels: dict[date, pa.Table] = {}
    for day, version in chosen:
        if report.now is None or not vintages.is_matured(day, report.now, horizon_months):
            report.vintages.append(vintages.pending(day, version, horizon_months))
            continue
        say(f"outcomes of the vintage as of {day} ...")
        labels[day] = engine.labels(
            lake, vintages.midnight(day), vintages.window_end(day, horizon_months)
        )
        report.vintages.append(
            vintages.evaluate(
                day,
                version,
                scores[day].column("user_id").to_numpy(zero_copy_only=False),
                scores[day].column("score").to_numpy(),
                labels[day].column("user_id").to_numpy(zero_copy_only=False),
                labels[day].column("bad").to_numpy(),
                horizon_months,
            )
        )

    if demographics is not None and chosen:
        if key is None:
            raise ConfigError("demographics need the home's pseudonym key to find people.")
        day, version = chosen[-1]
        say(f"fairness of the run as of {day} ...")
        groups, matched = demographic_groups(
            scores[day].column("user_id"), demographics, key, day, attributes
        )
        values = scores[day].column("score").to_numpy()
        bad = None
        outcomes = None
        if day in labels:
            joined = pd.Series(
                labels[day].column("bad").to_numpy(),
                index=labels[day].column("user_id").to_pylist(),
            )
            found = joined.reindex(scores[day].column("user_id").to_pylist())
            if not found.isna().any():
                bad = found.to_numpy(dtype=np.int8)
                outcomes = f"90+ days past due within {horizon_months} months after {day}"
        notes = []
        if matched < len(values):
            notes.append(
                f"{len(values) - matched:,} of the {len(values):,} people scored are not in "
                f"{demographics_name}: they are the unknown group."
            )
        report.fairness = FairnessSection(
            source=f"Score run as of {day} ({version}), groups from {demographics_name}",
            people=len(values),
            attributes=[fairness.fairness(name, g, values, bad=bad) for name, g in groups.items()],
            outcomes=outcomes,
            auc=_auc(bad, values),
            notes=notes,
        )
    return report


def feature_steps(snapshots: FeatureSnapshots, bins: int, say: Say = _quiet) -> list[Step]:
    """The PSI of every feature of each snapshot against the one before, a column at a time
    (memory stays at one feature of two months, whatever the population)."""
    steps = []
    dates = snapshots.dates()
    for before, after in itertools.pairwise(dates):
        say(f"feature PSI {before} -> {after} ...")
        names_before = pq.read_schema(snapshots.path(before)).names
        names_after = set(pq.read_schema(snapshots.path(after)).names)
        results = {}
        for name in names_before:
            if name == "user_id" or name not in names_after:
                continue
            ref = _floats(snapshots.read(before, [name]).column(name))
            cur = _floats(snapshots.read(after, [name]).column(name))
            results[name] = drift.psi(ref, cur, bins)
        ordered = dict(sorted(results.items(), key=lambda kv: (-_sortable(kv[1].value), kv[0])))
        steps.append(Step(before, after, features=ordered))
    return steps


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    values: np.ndarray = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return values


def _sortable(value: float) -> float:
    return -1.0 if math.isnan(value) else value


def _auc(bad: np.ndarray | None, scores: np.ndarray) -> float | None:
    if bad is None or not 0 < int(np.sum(bad)) < len(bad):
        return None
    return auc(bad, -np.asarray(scores, dtype=np.float64))


# --- shipped data sets -----------------------------------------------------------------------


def out_of_fold_scores(
    mapping_path: Path,
    *,
    cv: int = 5,
    kind: ModelKind = ModelKind.SCORECARD,
    allocation: Allocation = Allocation.PUBLISHED,
    seed: int = 2026,
    say: Say = _quiet,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, str]:
    """Every row's score from the model of the fold that did not see it.

    The folds and the per-fold fits are `pentascore train`'s (`model.validate.folds`, the
    families of `model.train`, fold i fitted with seed + i): the first repeat of its
    cross-validation, whose out-of-fold scores are the ones its band table counts.
    The models are fitted without the mapping's protected columns, even those the mapping
    places in a dimension for the benchmarks (age): fairness is measured by attributes the
    model does not use. Returns the scores, the outcomes, the protected columns (row for row,
    read from the same table) and the data set's name."""
    data, mapping = table_dataset(mapping_path)
    data = data.without(mapping.protected)
    if cv < 2:
        raise ConfigError(f"cv must be at least 2 folds; got {cv}.")
    family = scorecard_family(DEFAULT_WEIGHTS) if kind is ModelKind.SCORECARD else gbdt_family
    variant = allocation.value if kind is ModelKind.SCORECARD else "gbdt"
    scores = np.zeros(len(data.bad), dtype=np.int64)
    splits = folds(data.bad, cv, 1, seed)
    for i, (train_rows, test_rows) in enumerate(splits):
        say(f"fold {i + 1} of {cv}: fitting on {len(train_rows):,} rows ...")
        scorer, _ = family(data.subset(train_rows), seed + i)[variant]
        scores[test_rows] = scorer(data.subset(test_rows))
    protected = read_protected(mapping_path)
    if len(protected) != len(data.bad):
        raise ModelError("the protected columns and the data set have different row counts.")
    return scores, data.bad, protected, data.source


def read_protected(mapping_path: Path) -> pd.DataFrame:
    """The mapping's ``protected`` columns, read from its table as `table_dataset` reads it."""
    mapping = load_mapping(mapping_path)
    if not mapping.protected:
        raise ConfigError(f"{mapping_path} lists no protected columns.")
    table = Path(mapping.table)
    path = table if table.is_absolute() else (mapping_path.parent / table).resolve()
    frame = pd.read_csv(path, **mapping.read)
    missing = [c for c in mapping.protected if c not in frame.columns]
    if missing:
        raise ConfigError(f"protected column {missing[0]!r} is not in {path}.")
    return frame[list(mapping.protected)].reset_index(drop=True)


def dataset_fairness(
    mapping_path: Path,
    name: str,
    *,
    cv: int = 5,
    kind: ModelKind = ModelKind.SCORECARD,
    allocation: Allocation = Allocation.PUBLISHED,
    seed: int = 2026,
    say: Say = _quiet,
) -> FairnessSection:
    """The fairness tables of a data set's protected columns, on out-of-fold scores."""
    scores, bad, protected, source = out_of_fold_scores(
        mapping_path, cv=cv, kind=kind, allocation=allocation, seed=seed, say=say
    )
    mapping = load_mapping(mapping_path)
    placed = {c for names in mapping.dimensions.values() for c in names}
    inputs = [c for c in mapping.protected if c in placed]
    groups = attribute_groups(protected, list(protected.columns))
    model = kind.value if kind is ModelKind.SCORECARD else "gbdt"
    notes = []
    if inputs:
        notes.append(
            f"{', '.join(inputs)} {'is an input' if len(inputs) == 1 else 'are inputs'} of "
            "this data set's benchmark mapping, but not of the models measured here: they "
            "are fitted without any protected column."
        )
    return FairnessSection(
        source=(
            f"{name} ({source}), out-of-fold scores of the {model}"
            + (f" ({allocation.value} allocation)" if kind is ModelKind.SCORECARD else "")
            + f", {cv} folds, seed {seed}"
        ),
        people=len(scores),
        attributes=[fairness.fairness(n, g, scores, bad=bad) for n, g in groups.items()],
        outcomes=f"the data set's outcome ({mapping.target} = {mapping.bad})",
        auc=_auc(bad, scores),
        notes=notes,
    )
