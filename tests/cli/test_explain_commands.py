"""explain and whatif through the CLI, on the shared scored home."""

from __future__ import annotations

from typer.testing import CliRunner

from pentascore.cli.main import app
from tests.cli.conftest import last_json
from tests.conftest import NOW, ScoredHome


def test_explain_and_whatif(runner: CliRunner, scored_home: ScoredHome) -> None:
    h = ["--home", str(scored_home.root)]
    user, at = scored_home.users[0], NOW.date().isoformat()
    explained = runner.invoke(app, [*h, "explain", user, "--as-of", at, "--json"])
    assert explained.exit_code == 0, explained.output
    data = last_json(explained.stdout)
    assert {"score", "band", "dimensions", "reasons", "plan"} <= set(data)
    assert 350 <= int(data["score"]) <= 950  # type: ignore[call-overload]
    for reason in data["reasons"]:  # type: ignore[attr-defined]
        assert {"feature", "text", "points_lost"} <= set(reason)
    for step in data["plan"]:  # type: ignore[attr-defined]
        assert {"action", "points", "months"} <= set(step)

    predicted = runner.invoke(
        app,
        [*h, "whatif", user, "--as-of", at, "--action", "pay_utilities_6m", "--json"],
    )
    assert predicted.exit_code == 0, predicted.output
    result = last_json(predicted.stdout)
    assert result["score_now"] == data["score"]
    assert int(result["low"]) <= int(result["predicted"]) <= int(result["high"])  # type: ignore[call-overload]

    target = str(int(data["score"]) + 1)  # type: ignore[call-overload]
    reached = runner.invoke(app, [*h, "whatif", user, "--as-of", at, "--target", target, "--json"])
    assert reached.exit_code in (0, 1), reached.output
    if reached.exit_code == 0:
        assert int(last_json(reached.stdout)["predicted"]) >= int(target)  # type: ignore[call-overload]
    neither = runner.invoke(app, [*h, "whatif", user])
    assert neither.exit_code == 2 and "--target" in neither.stderr

    unknown = runner.invoke(app, [*h, "whatif", user, "--action", "fly"])
    assert unknown.exit_code == 2 and "actions must be among" in unknown.stderr
