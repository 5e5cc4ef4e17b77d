"""One exception hierarchy for the whole library.

::

    PentascoreError
     ├── ConfigError          settings or arguments that cannot work
     │                        ("<param> must be <rule>; got <value>.")
     ├── IngestError          an input that cannot be read at all (missing file, unknown format)
     │    └── StrictIngestError   --strict: the first bad row stops the whole batch
     ├── LakeError            the lake is unusable (corrupt commit, locked by another writer)
     └── ModelError           a model that cannot be trained, loaded or applied

Bad *rows* are not exceptions: they are returned as rejects naming the row and the field.
"""

from pydantic import ValidationError


class PentascoreError(Exception):
    """Base of every error pentascore raises on purpose."""


class ConfigError(PentascoreError, ValueError):
    """A setting or argument that cannot work."""


class IngestError(PentascoreError):
    """An input that cannot be read at all."""


class StrictIngestError(IngestError):
    """In strict mode, a bad row rejects its whole batch."""

    def __init__(self, source: str, row: int, field: str, reason: str) -> None:
        self.source = source
        self.row = row
        self.field = field
        self.reason = reason
        super().__init__(
            f"{source} row {row}: {field}: {reason} "
            "(strict mode: nothing from this batch was stored)"
        )


class LakeError(PentascoreError):
    """The lake cannot be read or written."""


class ModelError(PentascoreError):
    """A model cannot be trained, loaded, found or applied."""


def first_problem(error: ValidationError) -> str:
    """``where: what`` of the first problem pydantic found, for a message naming the field."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}"
