"""Shared vocabulary of every stage: errors, settings, clock, domain types."""

from pentascore.core.clock import Clock, FixedClock, SystemClock
from pentascore.core.errors import (
    ConfigError,
    IngestError,
    LakeError,
    PentascoreError,
    StrictIngestError,
)
from pentascore.core.settings import Settings
from pentascore.core.types import Dimension

__all__ = [
    "Clock",
    "ConfigError",
    "Dimension",
    "FixedClock",
    "IngestError",
    "LakeError",
    "PentascoreError",
    "Settings",
    "StrictIngestError",
    "SystemClock",
]
