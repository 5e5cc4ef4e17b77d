"""The monthly run at scale: every stage's time and peak memory beside a bare scan of the lake,
Spark local beside DuckDB, and the service's partner reads while the batch runs.

    python -m bench.pipeline [--base-users 100000] [--copies 10] [--spark] [--service]

One heavy step at a time, each in a fresh process so that its time and memory are its own:

1. the lake: ``copies`` id-disjoint copies of a simulated ``base-users`` population
   (`bench.features.build_lake`; the base population itself goes through a real ingest, timed);
2. a model: a scorecard trained on the base population's lake features six months before the
   as-of date, labelled by the bills of the six months after (2 folds, 1 repeat), registered and
   promoted in the benchmark's home;
3. the bare scan: DuckDB reading every lake column the features use (`bench.features.bare_scan`),
   just before and just after the run of 4; the baseline of the ratios is their mean;
4. the monthly run as ``pentascore run-month`` wires it (`pentascore.scores.monthly.run_month`,
   DuckDB, publishing to the home's SQLite database): each stage's time, and each stage's peak
   memory, the process's VmHWM reset through /proc/self/clear_refs as the stage starts (the
   run's ``on_stage`` hook) and read as it ends; then the same month again, which must redo
   nothing; and the same score file published to PostgreSQL when a server answers on
   127.0.0.1:5432 (in a scratch database, dropped after);
5. ``--spark``: the same run on Spark local[2] in a second home sharing the lake, after the
   DuckDB one; its score file compared with DuckDB's row for row;
6. ``--service``: the real server (`bench.service`) on the home's database, partner reads from
   bench.service's closed-loop load generator for ``--service-seconds`` with the batch idle;
   then while the shipped inquiry export runs alone (at most ``--export-cap`` seconds of
   reads); then while the month runs again from scratch (its manifest removed) on the same
   home, its inquiry export bounded to the reads recorded when it starts (`_export_upto`).

Results go to docs/benchmarks.md, section "Monthly run at scale".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any, cast

import numpy as np

from bench._report import write_section
from bench.features import SCANNED, bare_scan, build_lake
from bench.service import _Client, _Run

SECTION = "Monthly run at scale"
ROOT = Path(__file__).resolve().parent.parent
STAGES = ("inquiries", "features", "scores", "publish")
RUN_STAGES = ("features", "scores", "publish")  # the run proper, beside the scan
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
Json = dict[str, Any]


# -- memory ----------------------------------------------------------------------------------


def _status_mb(pid: int | str, name: str) -> float:
    """A field of /proc/PID/status in MB (VmHWM: peak resident memory; VmRSS: now)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(rf"^{name}:\s+(\d+) kB", text, re.M)
    return int(found.group(1)) / 1024 if found else 0.0


def _reset_peak(pid: int | str) -> None:
    """Resets the process's VmHWM to its current resident size (Linux, "5" to clear_refs)."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def _jvms() -> list[int]:
    """This process's descendants that are a JVM (Spark's driver, in local mode)."""
    parents: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        parents[int(entry.name)] = (int(stat[stat.rfind(")") + 2 :].split()[1]), name)
    family, found = {os.getpid()}, True
    while found:
        found = False
        for pid, (parent, _) in parents.items():
            if parent in family and pid not in family:
                family.add(pid)
                found = True
    return [pid for pid in family if parents.get(pid, (0, ""))[1] == "java"]


@dataclass
class StageMeter:
    """The monthly run's ``on_stage`` hook: each stage's start and end (perf_counter, which on
    Linux is CLOCK_MONOTONIC, shared by every process), and its peak memory: this process's
    and any JVM child's, their peaks reset as the stage starts."""

    stages: dict[str, Json] = field(default_factory=dict)

    def __call__(self, name: str, event: str) -> None:
        now = time.perf_counter()
        if event == "start":
            pids: list[int | str] = ["self", *_jvms()]
            for pid in pids:
                _reset_peak(pid)
            self.stages[name] = {"start": now, "rss_at_start_mb": _status_mb("self", "VmRSS")}
            return
        self.stages[name].update(
            end=now,
            event=event,
            peak_mb=_status_mb("self", "VmHWM"),
            jvm_peak_mb=sum(_status_mb(pid, "VmHWM") for pid in _jvms()),
        )


# -- the children ----------------------------------------------------------------------------


def _prepare(p: Json) -> Json:
    """The lake, and a champion model trained on the base population."""
    from datetime import timedelta

    from pentascore.core.settings import Settings
    from pentascore.features.duckdb_engine import DuckDBEngine
    from pentascore.lake import ParquetLake
    from pentascore.model.dataset import lake_dataset
    from pentascore.model.registry import ModelRegistry
    from pentascore.model.train import train

    home = Path(p["home"])
    timings: dict[str, float] = {}
    started = time.perf_counter()
    lake, as_of, events = build_lake(home, p["base_users"], p["copies"], timings)
    built = time.perf_counter() - started
    files = lake.files()
    started = time.perf_counter()
    base = ParquetLake(home / "base")
    engine = DuckDBEngine()
    earlier = as_of - timedelta(days=182)
    data = lake_dataset(
        engine.features(base, earlier),
        engine.labels(base, earlier, as_of),
        source=f"bench: base population as of {earlier:%Y-%m-%d}",
    )
    trained = train(data, cv=2, repeats=1, seed=3)
    registry = ModelRegistry(Settings(home=home).models_dir)
    doc = registry.register(trained, as_of, {"as_of": earlier.date().isoformat()})
    registry.promote(doc.version, as_of)
    trained_in = time.perf_counter() - started
    shutil.rmtree(home / "base")
    shutil.rmtree(home / "sim")
    return {
        "as_of": as_of.isoformat(),
        "events": events,
        "files": len(files),
        "lake_bytes": sum(f.stat().st_size for f in files),
        "built": built,
        "timings": timings,
        "model": doc.version,
        "kind": doc.kind,
        "train_seconds": trained_in,
        "train_rows": len(data.bad),
        "bad_rate": float(data.bad.mean()),
        "train_as_of": earlier.date().isoformat(),
        "auc": doc.metrics[doc.headline]["auc"],
    }


def _scan(p: Json) -> Json:
    from pentascore.lake import ParquetLake

    _reset_peak("self")
    started = time.perf_counter()
    people = bare_scan(ParquetLake(Path(p["lake"])))
    return {
        "seconds": time.perf_counter() - started,
        "peak_mb": _status_mb("self", "VmHWM"),
        "people": people,
    }


class _BoundedSession:
    """A session whose queries of the inquiries table see only the rows up to id ``top``."""

    def __init__(self, session: Any, top: int) -> None:
        self._session = session
        self._top = top

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        import sqlalchemy as sa

        from pentascore.service.db import Inquiry

        if isinstance(statement, sa.Select) and Inquiry.__table__ in statement.get_final_froms():
            statement = statement.where(Inquiry.id <= self._top)
        return self._session.execute(statement, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class _Bounded:
    """A `Database` whose sessions are `_BoundedSession`s."""

    def __init__(self, database: Any, top: int) -> None:
        self._database = database
        self._top = top

    @contextlib.contextmanager
    def session(self) -> Iterator[_BoundedSession]:
        with self._database.session() as session:
            yield _BoundedSession(session, self._top)


def _export_upto(database: Any, lake: Any, rejects_dir: Path, clock: Any) -> int:
    """The shipped `export_inquiries`, its queries bounded to the reads recorded when it
    starts. Unbounded, it loops until a query finds no unexported read, which never happens
    while partners keep reading (the service phase's ``export`` step shows it); so the service
    phase's run uses this."""
    import sqlalchemy as sa

    from pentascore.service.db import Database, Inquiry
    from pentascore.service.inquiry_export import export_inquiries

    with database.session() as session:
        top = session.execute(sa.select(sa.func.max(Inquiry.id))).scalar()
    if top is None:
        return 0
    bounded = cast(Database, _Bounded(database, int(top)))
    return export_inquiries(bounded, lake, rejects_dir, clock)


def _export(p: Json) -> Json:
    """The shipped inquiry export, alone (the service phase runs it while partners read)."""
    from pentascore.core.clock import SystemClock
    from pentascore.core.settings import Settings
    from pentascore.lake import ParquetLake
    from pentascore.service.db import open_database
    from pentascore.service.inquiry_export import export_inquiries

    settings = Settings(home=Path(p["home"]))
    lake = ParquetLake(settings.lake_dir)
    database = open_database(settings.database)
    before = len(lake.batch_dirs())
    started = time.perf_counter()
    exported = export_inquiries(database, lake, settings.rejects_dir, SystemClock())
    ended = time.perf_counter()
    database.dispose()
    return {
        "start": started,
        "end": ended,
        "exported": exported,
        "batches": len(lake.batch_dirs()) - before,
    }


def _month(p: Json) -> Json:
    """The monthly run as ``pentascore run-month`` wires it, with a `StageMeter`."""
    from pentascore.core.clock import SystemClock
    from pentascore.core.settings import Settings
    from pentascore.features.engine import FeatureEngine
    from pentascore.lake import ParquetLake
    from pentascore.model.registry import ModelRegistry
    from pentascore.scores.history import ScoreHistory
    from pentascore.scores.monthly import MonthlyInputs, run_month
    from pentascore.scores.snapshots import FeatureSnapshots
    from pentascore.service.db import open_database
    from pentascore.service.inquiry_export import export_inquiries
    from pentascore.service.published import publish

    started = time.perf_counter()
    settings = Settings(home=Path(p["home"]))
    at = datetime.fromisoformat(p["as_of"])
    if p.get("fresh"):
        (settings.runs_dir / f"as_of={at.date().isoformat()}" / "manifest.json").unlink(
            missing_ok=True
        )
    engine: FeatureEngine
    spark = None
    if p["engine"] == "spark":
        from pentascore.features.spark_engine import SparkEngine

        engine = spark = SparkEngine(
            master="local[2]",
            conf={"spark.driver.memory": p["spark_memory"], "spark.local.dir": p["spark_tmp"]},
        )
    else:
        from pentascore.features.duckdb_engine import DuckDBEngine

        engine = DuckDBEngine()
    lake = ParquetLake(settings.lake_dir)
    model, doc = ModelRegistry(settings.models_dir).load()
    database = open_database(settings.database)
    clock = SystemClock()
    exporter: Callable[..., int] = {
        "shipped": export_inquiries,
        "bounded": _export_upto,
        "none": lambda *_: 0,
    }[p.get("export", "shipped")]
    meter = StageMeter()
    rss_before = _status_mb("self", "VmRSS")
    run = run_month(
        at,
        engine=engine,
        inputs=MonthlyInputs(
            lake=lake,
            history=ScoreHistory(settings.scores_dir),
            snapshots=FeatureSnapshots(settings.features_dir),
            runs_dir=settings.runs_dir,
        ),
        model=model,
        version=doc.version,
        export_inquiries=lambda: exporter(database, lake, settings.rejects_dir, clock),
        publish=lambda scores: publish(database, scores, clock.now()),
        clock=clock,
        on_stage=meter,
    )
    total = time.perf_counter() - started
    if spark is not None:
        spark.stop()
    database.dispose()
    return {
        "run": run.to_dict(),
        "meter": meter.stages,
        "total": total,
        "rss_before_mb": rss_before,
    }


def _publish(p: Json) -> Json:
    """The month's score file published to the database at ``url`` (the publish stage)."""
    import sqlalchemy as sa

    from pentascore.scores.history import ScoreHistory
    from pentascore.service.db import open_database
    from pentascore.service.published import publish

    database = open_database(p["url"])
    with database.engine.connect() as connection:
        version = connection.exec_driver_sql("show server_version").scalar()
    scores = ScoreHistory(Path(p["home"]) / "scores").read(
        datetime.fromisoformat(p["as_of"]).date(), p["model"]
    )
    rss = _status_mb("self", "VmRSS")
    _reset_peak("self")
    started = time.perf_counter()
    rows = publish(database, scores, datetime.now(UTC))
    seconds = time.perf_counter() - started
    with database.session() as session:
        count = session.execute(sa.text("select count(*) from scores")).scalar_one()
    database.dispose()
    return {
        "seconds": seconds,
        "peak_mb": _status_mb("self", "VmHWM"),
        "rss_mb": rss,
        "rows": rows,
        "count": count,
        "server": f"PostgreSQL {version}",
    }


CHILDREN = {
    "prepare": _prepare,
    "scan": _scan,
    "month": _month,
    "publish": _publish,
    "export": _export,
}


def _child_command(kind: str, params: Json) -> list[str]:
    return [sys.executable, "-m", "bench.pipeline", "--child", kind, json.dumps(params)]


def _result(kind: str, returncode: int, out: str, err: str) -> Json:
    """The child's JSON answer, or its error: the last line of its stderr (the exception)."""
    sys.stderr.write(err)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if returncode != 0 or not lines:
        last = [line for line in err.splitlines() if line.strip()] or ["no output"]
        return {"error": f"{kind} failed (exit {returncode}): {last[-1].strip()[:400]}"}
    result: Json = json.loads(lines[-1])
    return result


def _popen(kind: str, params: Json) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _child_command(kind, params),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(kind: str, process: subprocess.Popen[str]) -> Json:
    out, err = process.communicate()
    result = _result(kind, process.returncode, out, err)
    print(kind, json.dumps(result)[:600], flush=True)
    return result


def child(kind: str, params: Json) -> Json:
    """Runs a step in a fresh process; its result, or its error."""
    return _finish(kind, _popen(kind, params))


# -- the service's reads ---------------------------------------------------------------------


@dataclass
class Trace:
    """Every answer a load generator saw: when its request was sent (perf_counter), its
    latency (seconds) and status."""

    sent: np.ndarray
    latency: np.ndarray
    status: np.ndarray
    began: float
    ended: float
    errors: list[str]

    def stats(self, start: float, end: float) -> Json:
        """Requests sent in [start, end): how many, per second, latency quantiles, failures."""
        chosen = (self.sent >= start) & (self.sent < end)
        latency = self.latency[chosen] * 1000.0
        status = self.status[chosen]
        seconds = max(end - start, 1e-9)
        if latency.size == 0:
            return {"seconds": seconds, "reads": 0, "rate": 0.0}
        return {
            "seconds": seconds,
            "reads": int(latency.size),
            "rate": latency.size / seconds,
            "p50": float(np.quantile(latency, 0.5)),
            "p99": float(np.quantile(latency, 0.99)),
            "max": float(latency.max()),
            "not_ok": int((status != 200).sum()),
            "statuses": {str(k): v for k, v in Counter(status.tolist()).items() if k != 200},
        }


class _Recorder(_Run):
    """bench.service's window, recording every answer with its send time."""

    def __init__(self, connections: int) -> None:
        super().__init__(0.0, math.inf, connections)
        self.sent: list[float] = []
        self.latency: list[float] = []
        self.status: list[int] = []

    def record(self, status: int, latency: float, sent_at: float) -> None:
        self.sent.append(sent_at)
        self.latency.append(latency)
        self.status.append(status)


async def _trace(
    port: int, requests: list[bytes], connections: int, stop: str | None, seconds: float
) -> Trace:
    loop = asyncio.get_running_loop()
    run = _Recorder(connections)
    step = max(1, len(requests) // connections)

    def client(first: int) -> Callable[[], _Client]:
        return lambda: _Client(requests, first, run)

    for i in range(connections):
        await loop.create_connection(client((i * step) % len(requests)), "127.0.0.1", port)
    began = time.perf_counter()
    while time.perf_counter() - began < seconds and not (stop and os.path.exists(stop)):
        await asyncio.sleep(0.1)
    ended = time.perf_counter()
    run.stopping = True
    try:
        # Each connection closes after its answer in flight, which a locked database can hold.
        await asyncio.wait_for(run.finished, timeout=120)
    except TimeoutError:
        run.errors.append("connections still open 120 s after the stop")
    return Trace(
        np.array(run.sent),
        np.array(run.latency),
        np.array(run.status, dtype=np.int32),
        began,
        ended,
        run.errors,
    )


def trace(
    port: int, requests: list[bytes], connections: int, stop: str | None, seconds: float
) -> Trace:
    """Reads on ``connections`` keep-alive connections (one in flight each, as bench.service)
    until the file ``stop`` exists or ``seconds`` have passed (run in its own process)."""
    import uvloop

    return uvloop.run(_trace(port, requests, connections, stop, seconds))


def _service(home: Path, args: argparse.Namespace, month: Json) -> Json:
    """Partner reads with the batch idle; with the shipped inquiry export running; then while
    the month runs again from scratch."""
    from bench.service import PURPOSE, _free_port, _get, build_home, server

    started = time.perf_counter()
    api_key, users, database = build_home(home, None, args.service_people)
    print(f"service home: {len(users):,} authorized people on {database}", flush=True)
    reads = [_get(f"/v1/scores/{u}?purpose={PURPOSE}", api_key) for u in users]
    port = _free_port()
    clients = args.service_clients
    warmup = 1.0
    with (
        ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool,
        server(home, None, port, 1, 24 * 3600.0),
    ):
        idle = pool.submit(
            trace, port, reads, clients, None, args.service_seconds + warmup
        ).result()

        # The shipped export of the reads to the lake, while partners keep reading.
        stop = home.parent / "stop-export-reads"
        loaded = pool.submit(trace, port, reads, clients, str(stop), 4 * 3600.0)
        time.sleep(warmup)
        process = _popen("export", {"home": str(home)})
        started_export = time.perf_counter()
        try:
            process.wait(timeout=args.export_cap)
            returned_under_load = True
        except subprocess.TimeoutExpired:
            returned_under_load = False
        stopped = time.perf_counter()
        stop.touch()
        export = _finish("export", process)
        export.update(
            returned_under_load=returned_under_load,
            reads_stopped=stopped,
            seconds=stopped - started_export,
        )
        export_reads = loaded.result().stats(started_export, stopped)
        print("export", json.dumps(export), flush=True)

        # The month again, from scratch, while partners keep reading.
        stop = home.parent / "stop-reads"
        loaded = pool.submit(trace, port, reads, clients, str(stop), 4 * 3600.0)
        time.sleep(warmup)
        batch = child("month", {**month, "fresh": True, "export": "bounded"})
        if "error" in batch:
            # The shipped export failed under these reads: run the month without it.
            failed = batch["error"]
            batch = child("month", {**month, "fresh": True, "export": "none"})
            batch["export_failed"] = failed
        stop.touch()
        during = loaded.result()
    result: Json = {
        "database": database,
        "people": len(users),
        "idle": idle.stats(idle.began + warmup, idle.ended),
        "export": export,
        "reads": export_reads,
        "batch": batch,
        "errors": idle.errors + during.errors,
        "seconds": time.perf_counter() - started,
    }
    if "error" in batch:
        return result
    meter = batch["meter"]
    ran = [s for s in STAGES if s in meter]
    result["during"] = during.stats(meter[ran[0]]["start"], meter[ran[-1]]["end"])
    result["by_stage"] = {s: during.stats(meter[s]["start"], meter[s]["end"]) for s in ran}
    print("service", json.dumps({k: result[k] for k in ("idle", "during")}), flush=True)
    return result


# -- Spark beside DuckDB ---------------------------------------------------------------------


def compare(duck: Json, spark: Json) -> Json:
    """Row-for-row equality of the two runs' score files (score, band, base, every dimension's
    points and radar value), and of their feature snapshots (to 1e-9, relative)."""
    import duckdb
    import pyarrow.parquet as pq

    from pentascore.scores.batch import SCORE_SCHEMA

    d_scores, s_scores = (
        duck["run"]["stages"]["scores"]["file"],
        spark["run"]["stages"]["scores"]["file"],
    )
    d_feats, s_feats = (
        duck["run"]["stages"]["features"]["file"],
        spark["run"]["stages"]["features"]["file"],
    )
    compared = [c for c in SCORE_SCHEMA.names if c not in ("user_id", "as_of", "model")]
    differ = " OR ".join(f"d.{c} IS DISTINCT FROM s.{c}" for c in compared)
    features = [c for c in pq.read_schema(d_feats).names if c != "user_id"]
    feature_differ = " OR ".join(
        f"NOT (d.{c} IS NOT DISTINCT FROM s.{c} OR "
        f"abs(d.{c} - s.{c}) <= 1e-9 * greatest(1.0, abs(d.{c})))"
        for c in features
    )
    both = "d.user_id IS NOT NULL AND s.user_id IS NOT NULL"
    with duckdb.connect() as con:
        row = con.execute(
            f"SELECT count(d.user_id), count(s.user_id), "
            "count(*) FILTER (WHERE s.user_id IS NULL), "
            "count(*) FILTER (WHERE d.user_id IS NULL), "
            f"count(*) FILTER (WHERE {both} AND ({differ})) "
            f"FROM read_parquet('{d_scores}') d FULL OUTER JOIN read_parquet('{s_scores}') s "
            "ON d.user_id = s.user_id"
        ).fetchone()
        frow = con.execute(
            f"SELECT count(d.user_id), count(s.user_id), "
            f"count(*) FILTER (WHERE s.user_id IS NULL OR d.user_id IS NULL), "
            f"count(*) FILTER (WHERE {both} AND ({feature_differ})) "
            f"FROM read_parquet('{d_feats}') d FULL OUTER JOIN read_parquet('{s_feats}') s "
            "ON d.user_id = s.user_id"
        ).fetchone()
    assert row is not None and frow is not None
    return {
        "duckdb_rows": row[0],
        "spark_rows": row[1],
        "only_duckdb": row[2],
        "only_spark": row[3],
        "differ": row[4],
        "columns": compared,
        "feature_rows": (frow[0], frow[1]),
        "feature_unmatched": frow[2],
        "feature_differ": frow[3],
        "features": len(features),
    }


# -- the report ------------------------------------------------------------------------------


def _t(seconds: float) -> str:
    return f"{seconds:,.1f} s"


def _mb(mb: float) -> str:
    return f"{mb:,.0f} MB"


def _stage_seconds(month: Json, name: str) -> float:
    return float(month["run"]["stages"][name]["seconds"])


def _run_seconds(month: Json) -> float:
    return sum(_stage_seconds(month, s) for s in RUN_STAGES)


def _peak(month: Json, names: tuple[str, ...] = RUN_STAGES) -> float:
    return max(float(month["meter"][s]["peak_mb"]) for s in names)


def _short(error: str) -> str:
    """An error's gist: the exception's name and the first clause of its message."""
    gist = re.sub(r"^\w+ failed \(exit \d+\): ", "", error)
    gist = re.sub(r"^(\w+\.)+(\w+(Error|Exception))", r"\2", gist)
    return gist.split("; ")[0][:300]


def _error_row(label: str, result: Json, cells: int) -> str:
    return f"| {label} | failed: {_short(result['error'])} |" + " |" * (cells - 1)


def scan_seconds(scans: list[Json]) -> float:
    """The baseline: the mean of the scans that worked (one before the run, one after)."""
    ok = [float(s["seconds"]) for s in scans if "error" not in s]
    return sum(ok) / len(ok) if ok else math.nan


def _steps_table(scans: list[Json], duck: Json, again: Json, pg: Json | None) -> list[str]:
    base = scan_seconds(scans)
    rows = [
        "| step | time | / scan | peak memory | memory at start | what it did |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, scan in zip(("before the run", "after the run"), scans, strict=False):
        if "error" in scan:
            rows.append(_error_row(f"bare scan, {label}", scan, 5))
            continue
        rows.append(
            f"| bare scan, {label} | {_t(scan['seconds'])} | {scan['seconds'] / base:.2f}x | "
            f"{_mb(scan['peak_mb'])} | | {len(SCANNED.split(','))} columns read, "
            f"{scan['people']:,} people |"
        )
    if "error" in duck:
        rows.append(_error_row("monthly run (DuckDB)", duck, 5))
        return rows
    stages = duck["run"]["stages"]
    what = {
        "inquiries": f"{stages['inquiries']['exported']:,} partner reads exported",
        "features": f"{stages['features']['people']:,} people x {stages['features']['features']} "
        "features, snapshot written",
        "scores": f"{stages['scores']['scored']:,} scored, {stages['scores']['thin_files']:,} "
        "thin files; score file written",
        "publish": f"{stages['publish']['published']:,} rows into SQLite, one transaction",
    }
    for s in STAGES:
        seconds = _stage_seconds(duck, s)
        meter = duck["meter"][s]
        rows.append(
            f"| {s} | {_t(seconds)} | {seconds / base:.2f}x | {_mb(meter['peak_mb'])} | "
            f"{_mb(meter['rss_at_start_mb'])} | {what[s]} |"
        )
    whole = _run_seconds(duck)
    rows.append(
        f"| **whole run** (features + scores + publish) | **{_t(whole)}** | "
        f"**{whole / base:.2f}x** | **{_mb(_peak(duck))}** | | |"
    )
    rows.append(
        f"| the run's call, start to end | {_t(duck['total'])} | {duck['total'] / base:.2f}x | "
        f"{_mb(_peak(duck, STAGES))} | {_mb(duck['rss_before_mb'])} | model loaded, database "
        "opened, every stage |"
    )
    if "error" in again:
        rows.append(_error_row("the same month again", again, 5))
    else:
        redone = [s for s in RUN_STAGES if again["run"]["stages"][s]["ran"]]
        done = "redid " + ", ".join(redone) if redone else "redid nothing"
        rows.append(
            f"| the same month again | {_t(again['total'])} | {again['total'] / base:.3f}x | "
            f"{_mb(_peak(again, STAGES))} | {_mb(again['rss_before_mb'])} | {done} "
            f"(inquiries {_t(_stage_seconds(again, 'inquiries'))}, exported "
            f"{again['run']['stages']['inquiries']['exported']}) |"
        )
    if pg is not None:
        if "error" in pg:
            rows.append(_error_row("publish to PostgreSQL", pg, 5))
        else:
            rows.append(
                f"| publish to {pg['server'].split(' (')[0]} (same rows) | {_t(pg['seconds'])} | "
                f"{pg['seconds'] / base:.2f}x | {_mb(pg['peak_mb'])} | {_mb(pg['rss_mb'])} | "
                f"{pg['rows']:,} rows, one transaction, scratch database |"
            )
    return rows


def _spark_table(duck: Json, spark: Json, same: Json | None) -> list[str]:
    if "error" in spark:
        return [f"Spark: failed: {_short(spark['error'])}."]
    rows = [
        "| stage | DuckDB | Spark local[2] | Spark / DuckDB | DuckDB peak | Spark peak: Python "
        "| Spark peak: JVM |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in STAGES:
        d, k = _stage_seconds(duck, s), _stage_seconds(spark, s)
        rows.append(
            f"| {s} | {_t(d)} | {_t(k)} | {k / d:.1f}x | {_mb(duck['meter'][s]['peak_mb'])} | "
            f"{_mb(spark['meter'][s]['peak_mb'])} | {_mb(spark['meter'][s]['jvm_peak_mb'])} |"
        )
    d, k = _run_seconds(duck), _run_seconds(spark)
    rows.append(
        f"| **whole run** | **{_t(d)}** | **{_t(k)}** | **{k / d:.1f}x** | {_mb(_peak(duck))} | "
        f"{_mb(_peak(spark))} | "
        f"{_mb(max(spark['meter'][s]['jvm_peak_mb'] for s in RUN_STAGES))} |"
    )
    rows.append(
        f"| the run's call, start to end | {_t(duck['total'])} | {_t(spark['total'])} | "
        f"{spark['total'] / duck['total']:.1f}x | | | |"
    )
    if same is not None:
        rows += [
            "",
            f"Equality: DuckDB scored {same['duckdb_rows']:,} people, Spark {same['spark_rows']:,}"
            f"; {same['only_duckdb']:,} only in DuckDB's file, {same['only_spark']:,} only in "
            f"Spark's; of the people in both, **{same['differ']:,} rows differ** in score, band, "
            "base, any dimension's points or radar value (must be 0). Feature snapshots: "
            f"{same['feature_rows'][0]:,} and {same['feature_rows'][1]:,} people, "
            f"{same['feature_unmatched']:,} in one only, {same['feature_differ']:,} with a "
            f"feature differing by more than 1e-9 (relative) of {same['features']}.",
        ]
    return rows


def _read_row(label: str, s: Json, idle: Json | None) -> str:
    if not s.get("reads"):
        return f"| {label} | {_t(s['seconds'])} | 0 | 0 | | | | | |"
    bad = ", ".join(f"{n} x {code}" for code, n in s["statuses"].items())
    ratio = f"{s['p99'] / idle['p99']:.1f}x" if idle and idle.get("reads") else "1.0x"
    rate = f"{s['rate'] / idle['rate']:.2f}" if idle and idle.get("reads") else "1.00"
    return (
        f"| {label} | {_t(s['seconds'])} | {s['reads']:,} | {s['rate']:,.0f} ({rate}) | "
        f"{s['p50']:.2f} ms | {s['p99']:.2f} ms ({ratio}) | {s['max']:,.0f} ms | "
        f"{s['not_ok']}{f' ({bad})' if bad else ''} |"
    )


def _export_sentence(svc: Json) -> str:
    export, batch = svc["export"], svc["batch"]
    if "error" in export:
        how = (
            f"**it failed** after {_t(export['seconds'])} of reads: {_short(export['error'])}"
            if export["returned_under_load"]
            else f"**it had not returned after {_t(export['seconds'])}** of reads, and then "
            f"failed: {_short(export['error'])}"
        )
    else:
        took = export["end"] - export["start"]
        after = export["end"] - export["reads_stopped"]
        how = (
            f"it returned in {_t(took)}"
            if export["returned_under_load"]
            else f"**it had not returned after {_t(export['seconds'])}** of reads; it returned "
            f"{_t(max(after, 0.0))} after they stopped"
        ) + (
            f", having exported {export['exported']:,} reads into {export['batches']:,} new "
            "lake batches (each loop exports what was read during the previous one, and each "
            "batch is de-duplicated against the whole lake)"
        )
    if "export_failed" in batch:
        then = (
            "The monthly run below failed in its inquiry stage with that export bounded to the "
            f"reads recorded when the stage starts ({_short(batch['export_failed'])}), so it "
            "ran with "
            "an inquiry stage that exports nothing."
        )
    else:
        then = (
            "The monthly run below exports only the reads recorded when its inquiry stage "
            "starts (the shipped function, its queries bounded by "
            "`bench.pipeline._export_upto`)."
        )
    return (
        "The shipped inquiry export (`export_inquiries`, which the run's first stage and the "
        f"service's minutely export call), run alone under the same reads: {how}. {then}"
    )


def _service_part(svc: Json, duck: Json, clients: int) -> list[str]:
    idle = svc["idle"]
    lines = [
        f"**{svc['database']}**, {svc['people']:,} authorized people, {clients} clients "
        "(closed loop, one request in flight each). Read = `GET /v1/scores/{user}?purpose=hotel`"
        " with its query record committed before the answer. In brackets: the ratio to idle.",
        "",
        "| batch | seconds | reads | reads/s | p50 | p99 | max | non-200 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        _read_row("idle", idle, None),
    ]
    if "reads" in svc:
        lines.append(_read_row("during the shipped inquiry export", svc["reads"], idle))
    batch = svc["batch"]
    if "during" in svc:
        lines.append(_read_row("**during the monthly run**", svc["during"], idle))
        for s, stats in svc["by_stage"].items():
            lines.append(_read_row(f"during {s}", stats, idle))
    else:
        lines.append(
            f"| during the monthly run | failed: {_short(batch.get('error', ''))} | | | | | | |"
        )
    if svc["errors"]:
        lines += ["", f"Load generator errors: {'; '.join(svc['errors'][:3])}."]
    lines += ["", _export_sentence(svc)]
    if "during" in svc and "error" not in duck:
        stage_times = ", ".join(
            f"{s} {_t(_stage_seconds(batch, s))} (idle {_t(_stage_seconds(duck, s))})"
            for s in STAGES
        )
        lines += [
            "",
            f"The monthly run while serving: {_t(_run_seconds(batch))} for features + scores + "
            f"publish (idle {_t(_run_seconds(duck))}), {_mb(_peak(batch))} peak; by stage "
            f"{stage_times}.",
        ]
    return lines


def _report(args: argparse.Namespace, r: Json) -> str:
    prep = r["prepare"]
    t = prep["timings"]
    people = args.base_users * args.copies
    duck = r["duckdb"]
    lines = [
        f"`python -m bench.pipeline {' '.join(sys.argv[1:])}` ({r['minutes']:.0f} min in all).",
        "",
        f"{people:,} people ({args.copies} id-disjoint copies of a simulated "
        f"{args.base_users:,}-person population), {prep['events']:,} events in "
        f"{prep['files']} Parquet files ({prep['lake_bytes'] / 1e9:.1f} GB); lake built in "
        f"{prep['built']:.0f} s: simulate {t['simulate']:.0f} s, a real ingest of the base "
        f"population's {int(t['base_events']):,} events (written as Parquet, read, validated, "
        f"pseudonymized, de-duplicated, published) {t['ingest']:.0f} s "
        f"({t['base_events'] / t['ingest']:,.0f} events/s), the copies {t['copies']:.0f} s. "
        f"Model: scorecard `{prep['model']}` trained on the lake features of the base "
        f"population's {prep['train_rows']:,} people as of {prep['train_as_of']}, labelled by "
        f"the bills up to {prep['as_of'][:10]} ({prep['bad_rate']:.1%} bad; 2 folds x 1 "
        f"repeat, AUC {prep['auc']:.3f}) in {prep['train_seconds']:.0f} s, registered and "
        "promoted in the home. The monthly run is "
        f"`run_month` as `pentascore run-month --as-of {prep['as_of'][:10]}` wires it, in a "
        "process of its own; each stage's peak memory is that process's peak resident memory "
        "during the stage (VmHWM, reset through /proc/self/clear_refs as the stage starts), "
        "which includes what the process held as the stage started (*memory at start*). The "
        "scan is the Features section's baseline, DuckDB reading every lake column the "
        "features use, measured just before and just after the run; */ scan* divides by "
        "their mean.",
        "",
        "### Steps (DuckDB)",
        "",
        *_steps_table(r["scans"], duck, r["again"], r.get("postgres")),
    ]
    if "error" not in duck:
        summary = duck["run"]["stages"]["scores"]
        lines += [
            "",
            f"Scores: mean {summary['mean_score']}, {summary['min_score']}-"
            f"{summary['max_score']}; bands "
            + ", ".join(f"{b} {n:,}" for b, n in summary["bands"].items())
            + ".",
        ]
    if "spark" in r:
        lines += [
            "",
            "### Spark local[2] beside DuckDB",
            "",
            f"The same month on Spark (`SparkEngine(master='local[2]')`, driver memory "
            f"{args.spark_memory}) in a second home sharing the lake, run after the DuckDB run "
            "and alone. Spark's JVM is a child process: its peak is reported apart from the "
            "Python driver's.",
            "",
            *_spark_table(duck, r["spark"], r.get("same")),
        ]
    if "service" in r:
        lines += [
            "",
            "### The service while the batch runs",
            "",
            "The real server (`pentascore serve`, 1 uvicorn worker) on the home's SQLite "
            "database (which holds the month's published scores too), and bench.service's "
            "load generator in another process, all on the same 2 cores: "
            f"{args.service_seconds:.0f} s of reads with the batch idle; then reads while the "
            "shipped inquiry export runs alone (at most "
            f"{args.export_cap:.0f} s of reads); then reads for as long as the same month runs "
            "again from scratch (its manifest removed) on the same home and database.",
            "",
            *_service_part(r["service"], duck, args.service_clients),
        ]
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------


def _postgres_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-users", type=int, default=100_000)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--spark", action="store_true", help="Also the run on Spark local[2].")
    parser.add_argument("--service", action="store_true", help="Also reads during the run.")
    parser.add_argument("--spark-memory", default="10g", help="Spark's spark.driver.memory.")
    parser.add_argument("--service-seconds", type=float, default=20.0)
    parser.add_argument("--service-clients", type=int, default=8)
    parser.add_argument("--service-people", type=int, default=5000)
    parser.add_argument(
        "--export-cap",
        type=float,
        default=60.0,
        help="Seconds of reads before they stop, if the shipped inquiry export has not returned.",
    )
    parser.add_argument("--postgres-url", default=POSTGRES, help="A server to publish to too.")
    parser.add_argument("--work-dir", default=None, help="Where the temporary home goes.")
    parser.add_argument("--no-report", action="store_true", help="Leave docs/benchmarks.md.")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, params = args.child
        sys.stdout.write(json.dumps(CHILDREN[kind](json.loads(params)), default=str) + "\n")
        return

    from bench.service import scratch_postgres

    started = time.perf_counter()
    r: Json = {}
    with tempfile.TemporaryDirectory(prefix="pentascore-bench-pipeline-", dir=args.work_dir) as tmp:
        home = Path(tmp) / "home"
        r["prepare"] = prep = child(
            "prepare", {"home": str(home), "base_users": args.base_users, "copies": args.copies}
        )
        if "error" in prep:
            raise SystemExit(prep["error"])
        month = {"home": str(home), "as_of": prep["as_of"], "engine": "duckdb"}
        # The scan just before and just after the run: on a shared machine the baseline is
        # their mean, and their spread shows how noisy the machine was.
        r["scans"] = [child("scan", {"lake": str(home / "lake")})]
        r["duckdb"] = child("month", month)
        r["scans"].append(child("scan", {"lake": str(home / "lake")}))
        r["again"] = child("month", month)
        if _postgres_up() and "error" not in r["duckdb"]:
            with scratch_postgres(args.postgres_url) as url:
                r["postgres"] = child(
                    "publish",
                    {"home": str(home), "url": url, "as_of": prep["as_of"], "model": prep["model"]},
                )
        if args.spark:
            spark_home = Path(tmp) / "spark-home"
            spark_home.mkdir()
            (spark_home / "lake").symlink_to(home / "lake")
            shutil.copytree(home / "models", spark_home / "models")
            r["spark"] = child(
                "month",
                {
                    **month,
                    "home": str(spark_home),
                    "engine": "spark",
                    "spark_memory": args.spark_memory,
                    "spark_tmp": str(Path(tmp) / "spark-tmp"),
                },
            )
            if "error" not in r["spark"] and "error" not in r["duckdb"]:
                r["same"] = compare(r["duckdb"], r["spark"])
                print("same", json.dumps(r["same"]), flush=True)
            shutil.rmtree(spark_home)
        if args.service:
            r["service"] = _service(home, args, month)
    r["minutes"] = (time.perf_counter() - started) / 60
    print("results", json.dumps(r, default=str), flush=True)
    body = _report(args, r)
    print(body)
    if not args.no_report:
        write_section(SECTION, body)


if __name__ == "__main__":
    main()
