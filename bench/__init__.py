"""Benchmarks: ``python -m bench.<name>``; each writes its section of docs/benchmarks.md."""

# Imported before anything that loads pyarrow, so that Arrow allocates from the pool that
# pentascore chooses (see pentascore/__init__.py), as it does under the CLI the figures describe.
import pentascore  # noqa: F401
