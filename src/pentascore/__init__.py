"""pentascore: behavioral credit scoring over five dimensions, 350-950."""

import os
import sys

# Arrow's memory pool, unless the operator chose one. pyarrow's default, mimalloc, returns
# freed memory to the kernel within milliseconds and backs the next chunk with fresh huge pages
# the kernel zeroes on first touch. jemalloc keeps freed memory for reuse a while. Measured on
# the benchmark's 9.48M events, in fresh processes, one pool against another alternately: a
# Parquet ingest spent 0.46-0.53 CPU-s per million events in the kernel with mimalloc, against
# 0.13-0.19 with jemalloc or malloc; with jemalloc, CSV ran at 781,000-846,000 events/s and JSON
# lines at 694,000-727,000, against 744,000-758,000 and 640,000-678,000 with malloc
# (docs/benchmarks.md, "Ingest"). pyarrow's Linux wheels on PyPI, which the project pins, have
# jemalloc (a build without it warns and keeps mimalloc); elsewhere malloc. It takes effect only
# when pentascore is imported before pyarrow, as in the CLI and the benchmarks: pyarrow reads
# the choice once, as it loads.
os.environ.setdefault(
    "ARROW_DEFAULT_MEMORY_POOL", "jemalloc" if sys.platform == "linux" else "system"
)

__version__ = "0.1.0"

__all__ = ["__version__"]
