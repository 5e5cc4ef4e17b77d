"""pentascore: behavioral credit scoring over five dimensions, 350-950."""

import os

# Arrow allocates from the C library's malloc unless the operator chose a pool. pyarrow's
# default, mimalloc, backs short-lived buffers with huge pages the kernel zeroes on first
# touch: measured on 2 million Parquet events, 2.9 to 3.4 of 7.2 to 7.9 CPU-seconds of an
# ingest went to system time, against 0.6 of 4.8 with malloc (docs/benchmarks.md, "Ingest").
# It takes effect only when pyarrow is imported after pentascore, as the CLI does.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

__version__ = "0.1.0"

__all__ = ["__version__"]
