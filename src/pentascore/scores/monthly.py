"""The monthly run: inquiries -> features -> scores -> publish, resumable and idempotent.

Each stage writes its output whole (a file published by a rename, or one database
transaction) and only then records itself as done in the run's manifest,
``<home>/runs/as_of=YYYY-MM-DD/manifest.json``. A run killed at any point and started again
redoes at most the stage it was killed in; a run started again after it finished redoes
nothing. A stage is done only for the inputs it was done with: if the lake has gained a
batch, or another model is asked for, the stages from the first changed input on run again
and replace their outputs (the score history file and the published rows are keyed by as-of
date and model), so nothing is ever duplicated.

Stages:

``inquiries``
    partners' allowed reads recorded by the service become inquiry events in the lake (they
    feed the inquiry features); idempotent by event id, so it always runs.
``features``
    the catalogue's point-in-time features of everyone in the lake, kept as the month's
    feature snapshot (`pentascore.scores.snapshots`) for drift monitoring.
``scores``
    the model applied to the snapshot's deep files (thin files are not scored), written to
    the score history (`pentascore.scores.history`).
``publish``
    the scores copied to the service's database in one transaction, replacing any earlier
    publication of the same as-of date and model; people's score history is read from there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pentascore.core.clock import Clock
from pentascore.core.errors import ModelError
from pentascore.features.engine import FeatureEngine
from pentascore.lake.store import ParquetLake
from pentascore.model.scale import BAND_NAMES
from pentascore.model.train import Model
from pentascore.scores.batch import SCORE_SCHEMA
from pentascore.scores.history import ScoreHistory
from pentascore.scores.run import DEEP_FILE, Scorer, features_as_of
from pentascore.scores.snapshots import FeatureSnapshots

STAGES = ("inquiries", "features", "scores", "publish")
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class MonthlyInputs:
    """Where a monthly run reads and writes."""

    lake: ParquetLake
    history: ScoreHistory
    snapshots: FeatureSnapshots
    runs_dir: Path


@dataclass
class StageReport:
    name: str
    ran: bool
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class MonthlyRun:
    """What a monthly run did: per stage whether it ran or was already done, and the result."""

    as_of: date
    model: str
    engine: str
    stages: list[StageReport]
    summary: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "model": self.model,
            "engine": self.engine,
            "stages": {
                s.name: {"ran": s.ran, "seconds": round(s.seconds, 3), **s.detail}
                for s in self.stages
            },
            **self.summary,
        }


# Told of each stage as it starts ("start") and ends ("done", or "skipped" when it was done
# already); a progress display, or a test stopping the run at a stage.
StageHook = Callable[[str, str], None]
# Publishes a score table to the service; returns the rows published.
Publisher = Callable[[pa.Table], int]
# Exports the service's allowed reads to the lake as inquiry events; returns how many.
InquiryExporter = Callable[[], int]


def lake_fingerprint(lake: ParquetLake) -> str:
    """Names the lake's committed batches: batches are immutable, so an equal fingerprint
    means the very same events."""
    names = "\n".join(d.name for d in lake.batch_dirs())
    return hashlib.sha256(names.encode()).hexdigest()[:16]


def _run_dir(runs_dir: Path, as_of: date) -> Path:
    return runs_dir / f"as_of={as_of.isoformat()}"


def read_manifest(runs_dir: Path, as_of: date) -> dict[str, Any] | None:
    path = _run_dir(runs_dir, as_of) / "manifest.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".manifest-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(manifest, out, indent=2, sort_keys=True, default=str)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, folder / "manifest.json")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """One run per as-of date at a time: a second one fails at once instead of interleaving."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ModelError(
                f"another monthly run as of {folder.name.removeprefix('as_of=')} is in progress."
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_month(
    at: datetime,
    *,
    engine: FeatureEngine,
    inputs: MonthlyInputs,
    model: Model,
    version: str,
    export_inquiries: InquiryExporter,
    publish: Publisher,
    clock: Clock,
    on_stage: StageHook | None = None,
) -> MonthlyRun:
    """Runs (or finishes, or confirms) the month's scoring as of ``at`` with ``model``."""
    as_of = at.date()
    scorer = Scorer(model, version, as_of)  # refuses a model of another catalogue at once
    folder = _run_dir(inputs.runs_dir, as_of)
    tell = on_stage or (lambda _name, _event: None)
    with _exclusive(folder):
        manifest = read_manifest(inputs.runs_dir, as_of) or {}
        if manifest.get("version") != MANIFEST_VERSION:
            manifest = {"version": MANIFEST_VERSION, "as_of": as_of.isoformat(), "stages": {}}
        done: dict[str, Any] = manifest["stages"]
        reports: list[StageReport] = []

        def stage(
            name: str, key: dict[str, Any] | None, work: Callable[[], dict[str, Any]]
        ) -> None:
            """Runs ``work`` unless the stage is done for the same ``key`` (``None``: always
            runs); when it runs, the later stages are forgotten, since their input changed."""
            tell(name, "start")
            previous = done.get(name)
            if (
                key is not None
                and previous is not None
                and previous.get("key") == key
                and _outputs_exist(previous)
            ):
                reports.append(StageReport(name, False, 0.0, previous.get("detail", {})))
                tell(name, "skipped")
                return
            started = time.perf_counter()
            detail = work()
            seconds = time.perf_counter() - started
            if key is not None:
                for later in STAGES[STAGES.index(name) + 1 :]:
                    done.pop(later, None)
                done[name] = {"key": key, "detail": detail, "finished_at": clock.now().isoformat()}
                _write_manifest(folder, manifest)
            reports.append(StageReport(name, True, seconds, detail))
            tell(name, "done")

        def inquiries() -> dict[str, Any]:
            return {"exported": export_inquiries()}

        def features() -> dict[str, Any]:
            table = features_as_of(engine, inputs.lake, inputs.history, at)
            if table.num_rows == 0:
                raise ModelError(f"the lake has no events before {as_of}: no one to score.")
            path = inputs.snapshots.write(as_of, table)
            return {"people": table.num_rows, "features": table.num_columns - 1, "file": str(path)}

        def scores() -> dict[str, Any]:
            snapshot = inputs.snapshots.path(as_of)
            people = pq.read_metadata(snapshot).num_rows
            deep = deep_files(engine.depth(inputs.lake, at))
            # Scored where the engine computes (on Spark, on the executors), from the snapshot.
            table = engine.map_table(snapshot, scorer, SCORE_SCHEMA, deep)
            if table.num_rows == 0:
                raise ModelError(f"no one in the lake is scoreable as of {as_of}.")
            path = inputs.history.write(table)
            return {
                "scored": table.num_rows,
                "thin_files": people - table.num_rows,
                "file": str(path),
                **_score_summary(table),
            }

        def publish_scores() -> dict[str, Any]:
            return {"published": publish(inputs.history.read(as_of, version))}

        # The export is idempotent by event id, and cheap when nothing is new: it always runs,
        # before the lake is fingerprinted, so reads up to now count.
        stage("inquiries", None, inquiries)
        lake_key = {"lake": lake_fingerprint(inputs.lake), "engine": engine.name}
        scores_key = {**lake_key, "model": version}
        stage("features", lake_key, features)
        stage("scores", scores_key, scores)
        stage("publish", scores_key, publish_scores)
        manifest["model"] = version
        manifest["engine"] = engine.name
        manifest["finished_at"] = clock.now().isoformat()
        _write_manifest(folder, manifest)
    return MonthlyRun(as_of, version, engine.name, reports, done["scores"]["detail"])


def deep_files(depth: pa.Table) -> pa.Array:
    """The people whose file is deep enough to score (`pentascore.scores.run`'s rule), by
    their ``depth`` (`DEPTH_SCHEMA`)."""
    deep = depth.filter(
        pc.and_(
            pc.greater_equal(depth.column("file_age_days"), DEEP_FILE.min_file_age_days),
            pc.less_equal(depth.column("last_activity_days"), DEEP_FILE.max_quiet_days),
        )
    )
    return deep.column("user_id").combine_chunks()


def _outputs_exist(record: dict[str, Any]) -> bool:
    """A stage's files are still there (someone may have cleaned the history up)."""
    path = record.get("detail", {}).get("file")
    return path is None or Path(path).exists()


def _score_summary(table: pa.Table) -> dict[str, Any]:
    values = table.column("score").to_numpy()
    bands = table.column("band").to_pylist()
    return {
        "mean_score": round(float(np.mean(values)), 2),
        "min_score": int(values.min()),
        "max_score": int(values.max()),
        "bands": {b: bands.count(b) for b in BAND_NAMES},
    }
