"""train -> models promote -> score, end to end through the CLI, on a simulated lake and on a
shipped real data set."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from pentascore.cli.main import app
from pentascore.core.clock import FixedClock
from pentascore.core.dates import add_months, parse_as_of
from pentascore.core.types import Dimension
from pentascore.lake import ParquetLake
from pentascore.model.dataset import shipped_mapping_path
from pentascore.scores.batch import SCORE_SCHEMA
from pentascore.service.db import Database, PublishedScore
from pentascore.sim import SimulationConfig, populate_lake, simulate
from tests.cli.conftest import last_json
from tests.conftest import KEY
from tests.model.conftest import needs_data


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("home")
    population = simulate(SimulationConfig(users=1500, months=12, seed=5))
    clock = FixedClock(datetime(2026, 11, 1, tzinfo=UTC))
    populate_lake(
        population, ParquetLake(root / "lake"), key=KEY, work_dir=root / "sim", clock=clock
    )
    return root, population.config.as_of.date().isoformat()


def test_train_promote_score_on_the_lake(runner: CliRunner, home: tuple[Path, str]) -> None:
    root, as_of = home
    h = ["--home", str(root)]
    refused = runner.invoke(app, [*h, "score", "--as-of", as_of, "--json"])
    assert refused.exit_code == 2 and "no champion" in refused.stderr

    # Train on the people as of three months earlier, validate out of time on the as-of date.
    earlier = add_months(parse_as_of(as_of), -3).date().isoformat()
    trained = runner.invoke(
        app,
        [
            *h,
            "train",
            "--as-of",
            earlier,
            "--out-of-time",
            as_of,
            "--cv",
            "3",
            "--repeats",
            "1",
            "--json",
        ],
    )
    assert trained.exit_code == 0, trained.output
    summary = last_json(trained.stdout)
    assert {"auc", "gini", "ks", "brier", "model", "dimension_shares"} <= set(summary)
    assert summary["status"] == "candidate"
    # The simulated behaviours carry real signal about the outcome.
    assert float(summary["auc"]) > 0.8  # type: ignore[arg-type]
    variants = summary["variants"]
    assert isinstance(variants, dict)
    assert variants[f"out of time ({as_of})"] > 0.8
    shares = summary["dimension_shares"]
    assert isinstance(shares, dict) and set(shares) == {d.value for d in Dimension}
    assert abs(sum(shares.values()) - 1) < 1e-6
    version = str(summary["model"])

    listed = last_json(runner.invoke(app, [*h, "models", "list", "--json"]).stdout)
    assert [(m["model"], m["status"]) for m in listed["models"]] == [(version, "candidate")]  # type: ignore[index]
    promoted = runner.invoke(app, [*h, "models", "promote", version, "--json"])
    assert last_json(promoted.stdout) == {"champion": version, "replaced": None}
    card = runner.invoke(app, [*h, "models", "show", version])
    assert card.exit_code == 0 and f"# Model card: {version}" in card.stdout

    first = runner.invoke(app, [*h, "score", "--as-of", as_of, "--json"])
    assert first.exit_code == 0, first.output
    run = last_json(first.stdout)
    table = pq.read_table(str(run["file"]))
    assert table.schema == SCORE_SCHEMA
    assert table.num_rows == run["users"] and table.num_rows > 1000
    assert set(table.column("model").to_pylist()) == {version}
    scores = table.column("score").to_numpy()
    parts = table.column("base").to_numpy() + sum(
        table.column(d.value).to_numpy() for d in Dimension
    )
    assert np.array_equal(scores, parts)
    assert scores.min() >= 350 and scores.max() <= 950
    for d in Dimension:
        on_radar = table.column(f"{d.value}_radar").to_numpy()
        assert on_radar.min() >= 0 and on_radar.max() <= 100

    # The same inputs give the same scores, published again in place.
    again = runner.invoke(app, [*h, "score", "--as-of", as_of, "--json"])
    assert last_json(again.stdout)["file"] == run["file"]
    assert pq.read_table(str(run["file"])).equals(table)
    # ... and published to the service's database once, not twice.
    assert run["published"] == last_json(again.stdout)["published"] == table.num_rows
    with Database(f"sqlite:///{root / 'state.db'}").session() as session:
        stored = session.scalar(sa.select(sa.func.count()).select_from(PublishedScore))
    assert stored == table.num_rows

    # `score` is the month's run: `run-month` on the same date finds every stage done.
    monthly = runner.invoke(app, [*h, "run-month", "--as-of", as_of, "--json"])
    assert monthly.exit_code == 0, monthly.output
    stages = last_json(monthly.stdout)["stages"]
    assert isinstance(stages, dict)
    assert {name: s["ran"] for name, s in stages.items()} == {
        "inquiries": True,
        "features": False,
        "scores": False,
        "publish": False,
    }
    next_month = add_months(parse_as_of(as_of), 1).date().isoformat()
    shown = runner.invoke(app, [*h, "run-month", "--as-of", next_month])
    assert shown.exit_code == 0, shown.output
    assert "people scored" in shown.stdout and "publish" in shown.stdout
    with Database(f"sqlite:///{root / 'state.db'}").session() as session:
        months = session.scalars(sa.select(PublishedScore.as_of).distinct()).all()
    assert sorted(d.isoformat() for d in months) == [as_of, next_month]


def test_train_on_a_shipped_data_set_as_gbdt(runner: CliRunner, tmp_path: Path) -> None:
    needs_data("german_credit/germancredit.csv.gz")
    result = runner.invoke(
        app,
        [
            "--home",
            str(tmp_path),
            "train",
            "--dataset",
            "german",
            "--kind",
            "gbdt",
            "--cv",
            "2",
            "--repeats",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = last_json(result.stdout)
    assert str(summary["model"]).startswith("gb-") and summary["kind"] == "gbdt"
    assert 0.7 < float(summary["auc"]) < 0.85  # type: ignore[arg-type]
    assert summary["gini"] == pytest.approx(2 * float(summary["auc"]) - 1, abs=1e-5)  # type: ignore[arg-type]


def test_usage_errors_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    h = ["--home", str(tmp_path)]
    both = runner.invoke(app, [*h, "train", "--dataset", "german", "--as-of", "2025-10-01"])
    assert both.exit_code == 2 and "exactly one of" in both.stderr
    unknown = runner.invoke(app, [*h, "train", "--dataset", "nowhere"])
    assert unknown.exit_code == 2 and "dataset must be one of" in unknown.stderr
    kind = runner.invoke(app, [*h, "train", "--dataset", "german", "--kind", "forest"])
    assert kind.exit_code == 2 and "scorecard|gbdt" in kind.stderr
    missing = runner.invoke(app, [*h, "models", "promote", "sc-000000000000"])
    assert missing.exit_code == 2 and "no model" in missing.stderr


def test_train_on_any_table_with_a_mapping(runner: CliRunner, tmp_path: Path) -> None:
    table = needs_data("german_credit/germancredit.csv.gz")
    mapping = tmp_path / "german.yaml"
    # The shipped mapping, pointed at the table by --table instead of its own `table:` line.
    shipped = shipped_mapping_path("german").read_text().splitlines()
    mapping.write_text(
        "\n".join(line for line in shipped if not line.startswith("table:"))
        + "\ntable: not-used.csv\n"
    )

    def train_table(bad: str, *extra: str) -> Result:
        args = f"train --table {table} --target creditability --bad {bad} --dimensions {mapping}"
        return runner.invoke(app, ["--home", str(tmp_path / "home"), *args.split(), *extra])

    result = train_table("bad", "--cv", "2", "--repeats", "1", "--allocation", "learned", "--json")
    assert result.exit_code == 0, result.output
    summary = last_json(result.stdout)
    assert summary["rows"] == 1000 and summary["bad_rate"] == 0.3
    assert str(summary["model"]).startswith("sc-")
    wrong = train_table("good-ish")
    assert wrong.exit_code == 2 and "no row has creditability == 'good-ish'" in wrong.stderr
