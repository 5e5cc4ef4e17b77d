"""What every command shares: the context, JSON output, usage errors, and table files."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.console import Console

from pentascore.core.dates import parse_as_of
from pentascore.core.errors import ConfigError
from pentascore.core.settings import Settings

if TYPE_CHECKING:
    from pentascore.features.engine import FeatureEngine

USAGE_ERROR = 2


@dataclass(frozen=True)
class Context:
    settings: Settings
    console: Console
    errors: Console


def ctx_of(ctx: typer.Context) -> Context:
    obj = ctx.obj
    assert isinstance(obj, Context)
    return obj


def emit_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")


def fail(errors: Console, message: str, code: int = USAGE_ERROR) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def as_of_and_engine(
    c: Context, as_of: str, engine: str, **options: str
) -> tuple[datetime, FeatureEngine]:
    """The parsed as-of date and the chosen feature engine, or a usage error (exit 2)."""
    from pentascore.features.engine import make_engine

    try:
        return parse_as_of(as_of), make_engine(engine, **options)
    except ConfigError as exc:
        raise fail(c.errors, str(exc)) from exc


def write_table(table: pa.Table, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out, compression="zstd")
