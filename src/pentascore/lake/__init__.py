"""The lake: an append-only, idempotent store of pseudonymized events, and the ingest into it."""

from pentascore.lake.ingest import IngestReport, ingest_chunks, ingest_files, records_chunk
from pentascore.lake.store import CommitResult, LakeStats, ParquetLake

__all__ = [
    "CommitResult",
    "IngestReport",
    "LakeStats",
    "ParquetLake",
    "ingest_chunks",
    "ingest_files",
    "records_chunk",
]
