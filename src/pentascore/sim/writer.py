"""Writing a simulated population: event files to ingest, and the ground truth beside them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pentascore.core.errors import ConfigError
from pentascore.sim._world import add_months, to_us
from pentascore.sim.population import LABEL_DEFINITION, Population

Format = Literal["parquet", "csv", "jsonl"]
FORMATS: tuple[str, ...] = ("parquet", "csv", "jsonl")
_EXTENSIONS = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}


def _month_slices(ts_us: Any) -> list[tuple[str, int, int]]:
    """(YYYY-MM, start, stop) row ranges of the calendar months (UTC) of sorted timestamps."""
    if len(ts_us) == 0:
        return []
    first = datetime.fromtimestamp(int(ts_us[0]) // 1_000_000, UTC).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    out = []
    month, start = first, 0
    while start < len(ts_us):
        nxt = add_months(month, 1)
        stop = int(np.searchsorted(ts_us, to_us(nxt), side="left"))
        if stop > start:
            out.append((month.strftime("%Y-%m"), start, stop))
        month, start = nxt, stop
    return out


def write_population(
    population: Population,
    out_dir: Path,
    fmt: Format = "parquet",
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write ``population`` under ``out_dir`` and return the metadata written with it.

    - ``out_dir/events/events-YYYY-MM.<ext>``: one file per calendar month (UTC) of event ts,
      so ingest can stream them. Parquet keeps the Arrow types; CSV has a header row, an empty
      cell for null and timestamps like ``2025-01-03 04:05:06+00``; JSON lines has one object
      per line without its null fields, timestamps as the same strings. Event files of an
      earlier run in that folder are replaced.
    - ``out_dir/truth/users.parquet``: the ground truth, one row per user.
    - ``out_dir/truth/meta.json``: as_of, horizon, seed, sizes, default rate, event counts by
      type, the files and the label definition.

    ``progress`` is called after each event file with the number of events in that file.
    Identical populations give byte-identical files.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"fmt must be one of {', '.join(FORMATS)}; got {fmt!r}.")
    events_dir, truth_dir = Path(out_dir) / "events", Path(out_dir) / "truth"
    events_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    ext = _EXTENSIONS[fmt]
    for stale in events_dir.glob("events-*.*"):
        if stale.suffix.lstrip(".") in _EXTENSIONS.values():
            stale.unlink()

    events = population.events
    ts = events.column("ts").cast("int64").to_numpy()
    files = []
    con = duckdb.connect() if fmt != "parquet" else None
    try:
        if con is not None:
            con.execute("SET TimeZone = 'UTC'")
        for month, start, stop in _month_slices(ts):
            path = events_dir / f"events-{month}.{ext}"
            part = events.slice(start, stop - start)
            if con is None:
                pq.write_table(part, path)
            else:
                con.register("part", part)
                try:
                    if fmt == "csv":
                        con.execute(f"COPY part TO '{_sql_path(path)}' (FORMAT csv, HEADER true)")
                    else:
                        _write_jsonl(con, events.column_names, path)
                finally:
                    con.unregister("part")
            files.append(path.name)
            if progress is not None:
                progress(stop - start)
    finally:
        if con is not None:
            con.close()

    pq.write_table(population.users, truth_dir / "users.parquet")
    config = population.config
    meta: dict[str, Any] = {
        "as_of": config.as_of.astimezone(UTC).isoformat(),
        "horizon_months": config.horizon_months,
        "seed": config.seed,
        "users": config.users,
        "months": config.months,
        "currency": config.currency,
        "target_default_rate": config.target_default_rate,
        "default_rate": round(population.default_rate, 6),
        "defaults": int(np.asarray(population.users.column("default_12m")).sum()),
        "events": events.num_rows,
        "by_type": population.counts_by_type(),
        "format": fmt,
        "files": files,
        "label": LABEL_DEFINITION,
    }
    (truth_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _write_jsonl(con: duckdb.DuckDBPyConnection, columns: list[str], path: Path) -> None:
    """JSON lines of the registered table ``part``, leaving null fields out.

    Most fields of an event are null for its type; spelling them out would triple the files.
    DuckDB renders each line (``concat_ws`` skips the null members), and the Arrow buffer of
    the line column is the file's content.
    """
    members = ", ".join(f"""'"{c}":' || to_json("{c}")""" for c in columns)
    lines = con.sql(f"SELECT concat('{{', concat_ws(',', {members}), '}}', chr(10)) FROM part")
    with path.open("wb") as fh:
        for chunk in lines.to_arrow_table().column(0).chunks:
            text = chunk.cast(pa.large_string())
            offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)
            first, last = offsets[text.offset], offsets[text.offset + len(text)]
            fh.write(memoryview(text.buffers()[2])[first:last])
