"""Feature snapshots: the features each monthly run scored, kept for drift monitoring.

``<home>/features/as_of=YYYY-MM-DD/features.parquet``: ``user_id`` then one float64 column per
catalogue feature, as the engine returned them (everyone with an event before the as-of date,
thin files included). Written whole and published by a rename, like the score history.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pentascore.core.errors import ModelError
from pentascore.scores.history import write_whole


class FeatureSnapshots:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, as_of: date) -> Path:
        return self.root / f"as_of={as_of.isoformat()}" / "features.parquet"

    def write(self, as_of: date, features: pa.Table) -> Path:
        target = self.path(as_of)
        write_whole(features, target)
        return target

    def dates(self) -> list[date]:
        """Every as-of date with a snapshot, oldest first."""
        if not self.root.exists():
            return []
        return sorted(
            date.fromisoformat(folder.name.removeprefix("as_of="))
            for folder in self.root.glob("as_of=*")
            if (folder / "features.parquet").exists()
        )

    def read(self, as_of: date, columns: list[str] | None = None) -> pa.Table:
        path = self.path(as_of)
        if not path.exists():
            raise ModelError(f"no feature snapshot as of {as_of}; run `pentascore run-month`.")
        return pq.read_table(path, columns=columns)
