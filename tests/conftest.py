from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pentascore.core.clock import FixedClock
from pentascore.lake import ParquetLake

KEY = b"test-pseudonym-key-0123456789abcdef"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 4, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def lake(tmp_path: Path) -> ParquetLake:
    return ParquetLake(tmp_path / "home" / "lake")
