"""The score history: every batch run's scores, one Parquet file per as-of date and model.

``<home>/scores/as_of=YYYY-MM-DD/<model version>.parquet``, written whole and published by a
rename, so a reader never sees half a run and running the same batch twice replaces it with
identical rows.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pentascore.core.errors import ModelError
from pentascore.scores.batch import SCORE_SCHEMA


def write_whole(table: pa.Table, target: Path) -> None:
    """Writes ``table`` to ``target`` beside it and publishes it by a rename: a reader sees
    the old file or the new one, never half of one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".writing-", suffix=".parquet")
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class ScoreHistory:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, as_of: date, version: str) -> Path:
        return self.root / f"as_of={as_of.isoformat()}" / f"{version}.parquet"

    def write(self, table: pa.Table) -> Path:
        """Publishes one run (one as-of date, one model); returns its file."""
        if table.schema != SCORE_SCHEMA:
            raise ModelError("a score run must have the score schema.")
        if table.num_rows == 0:
            raise ModelError("refusing to publish an empty score run.")
        as_of = table.column("as_of")[0].as_py()
        version = table.column("model")[0].as_py()
        target = self.path(as_of, version)
        write_whole(table, target)
        return target

    def runs(self) -> list[tuple[date, str]]:
        """Every (as-of date, model version) published, oldest first."""
        if not self.root.exists():
            return []
        out = []
        for folder in self.root.glob("as_of=*"):
            day = date.fromisoformat(folder.name.removeprefix("as_of="))
            out += [(day, f.stem) for f in folder.glob("*.parquet") if not f.name.startswith(".")]
        return sorted(out)

    def read(self, as_of: date, version: str) -> pa.Table:
        path = self.path(as_of, version)
        if not path.exists():
            raise ModelError(f"no scores as of {as_of} from model {version}.")
        return pq.read_table(path, schema=SCORE_SCHEMA)

    def latest_before(self, as_of: date) -> pa.Table | None:
        """The most recent run strictly before ``as_of`` (friends' scores feed connections)."""
        earlier = [run for run in self.runs() if run[0] < as_of]
        if not earlier:
            return None
        day, version = earlier[-1]
        return self.read(day, version)
