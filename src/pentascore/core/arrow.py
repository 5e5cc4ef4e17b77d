"""Small Arrow helpers that several stages share."""

from __future__ import annotations

import pyarrow as pa


def as_one_array(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array: its only chunk as it is (``combine_chunks`` copies even a
    single chunk), else its chunks joined."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
