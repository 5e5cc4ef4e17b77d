"""What every CLI test shares: a runner with the test pseudonym key, and JSON output."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.conftest import KEY


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("PENTASCORE_PSEUDONYM_KEY", KEY.decode())
    return CliRunner()


def last_json(output: str) -> dict[str, object]:
    """The JSON object a ``--json`` command printed last."""
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]
