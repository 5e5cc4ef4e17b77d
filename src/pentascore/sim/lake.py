"""A simulated population landed in a lake, the way an operator would: files, then ingest."""

from __future__ import annotations

from pathlib import Path

from pentascore.core.clock import Clock
from pentascore.core.errors import IngestError
from pentascore.lake import IngestReport, ParquetLake, ingest_files
from pentascore.sim.population import Population
from pentascore.sim.writer import write_population


def populate_lake(
    population: Population, lake: ParquetLake, *, key: bytes, work_dir: Path, clock: Clock
) -> IngestReport:
    """Write ``population``'s events as Parquet under ``work_dir`` and ingest them into
    ``lake`` as one batch; every simulated event must be accepted."""
    write_population(population, work_dir, fmt="parquet")
    report = ingest_files(
        [work_dir / "events"], lake=lake, key=key, rejects_dir=work_dir / "rejects", clock=clock
    )
    if report.rejected or report.accepted != population.events.num_rows:
        raise IngestError(
            f"simulated events were not all accepted: {report.accepted:,} of "
            f"{population.events.num_rows:,}, {report.rejected:,} rejected "
            f"(see {report.rejects_file})."
        )
    return report
