"""partners, consumers, db and serve: the service's commands, end to end."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx
from typer.testing import CliRunner

from pentascore.cli.main import app
from pentascore.core.clock import FixedClock
from pentascore.lake import ParquetLake
from pentascore.service.credentials import hash_secret
from pentascore.service.db import Database, Partner
from pentascore.service.disputes import file_dispute
from tests.cli.conftest import last_json
from tests.conftest import KEY, NOW, ScoredHome


def test_partners_and_consumers(runner: CliRunner, tmp_path: Path) -> None:
    h = ["--home", str(tmp_path)]
    assert runner.invoke(app, [*h, "db", "upgrade"]).exit_code == 0
    added = runner.invoke(app, [*h, "partners", "add", "Hotel One", "--furnisher", "--json"])
    assert added.exit_code == 0, added.output
    made = last_json(added.stdout)
    assert str(made["api_key"]).startswith("psk_") and made["name"] == "Hotel One"
    # Only the hash is kept.
    with Database(f"sqlite:///{tmp_path / 'state.db'}").session() as session:
        partner = session.get(Partner, str(made["partner_id"]))
        assert partner is not None and partner.furnisher
        assert partner.key_hash == hash_secret(str(made["api_key"]))
    listed = last_json(runner.invoke(app, [*h, "partners", "list", "--json"]).stdout)
    assert listed["partners"][0]["partner_id"] == made["partner_id"]  # type: ignore[index]
    assert "api_key" not in json.dumps(listed)

    token = last_json(runner.invoke(app, [*h, "consumers", "token", "alice", "--json"]).stdout)
    assert str(token["token"]).startswith("pct_")
    bad = runner.invoke(app, [*h, "partners", "add", " ", "--json"])
    assert bad.exit_code == 2 and "name" in bad.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_over_http(tmp_path: Path) -> None:
    env = {**os.environ, "PENTASCORE_PSEUDONYM_KEY": KEY.decode()}
    port = _free_port()
    command = [sys.executable, "-m", "pentascore", "--home", str(tmp_path), "serve"]
    server = subprocess.Popen(
        [*command, "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        # The command says where it serves once the app is built; then uvicorn binds.
        banner = server.stderr.readline()
        assert f"http://127.0.0.1:{port}" in banner
        transport = httpx.HTTPTransport(retries=50)
        with httpx.Client(transport=transport, base_url=f"http://127.0.0.1:{port}") as client:
            assert client.get("/v1/ping").json() == {"ok": True}
            assert client.get("/v1/me/score").status_code == 401
            assert "/v1/scores/{user_id}" in client.get("/openapi.json").json()["paths"]
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stderr is not None:
            server.stderr.close()


def test_thresholds_and_the_dispute_queue(
    runner: CliRunner, scored_home: ScoredHome, tmp_path: Path
) -> None:
    root = tmp_path / "home"
    shutil.copytree(scored_home.root, root)
    h = ["--home", str(root)]
    partner = last_json(runner.invoke(app, [*h, "partners", "add", "Bikes", "--json"]).stdout)
    marks = runner.invoke(
        app, [*h, "partners", "threshold", str(partner["partner_id"]), "bike", "580", "--json"]
    )
    assert marks.exit_code == 0, marks.output
    assert last_json(marks.stdout)["thresholds"]["bike"] == 580  # type: ignore[index]
    bad = runner.invoke(app, [*h, "partners", "threshold", str(partner["partner_id"]), "x", "600"])
    assert bad.exit_code == 2 and "scenario must be one of" in bad.stderr

    database = Database(f"sqlite:///{root / 'state.db'}")
    lake = ParquetLake(root / "lake")
    user = str(scored_home.scores.column("user_id")[0])
    record = next(e for e in lake.read(current=True).to_pylist() if e["user_id"] == user)
    filed = file_dispute(database, lake, FixedClock(NOW), user, record["event_id"], "not mine")
    queued = last_json(runner.invoke(app, [*h, "disputes", "list", "--json"]).stdout)
    assert [d["dispute_id"] for d in queued["disputes"]] == [filed.id]  # type: ignore[attr-defined]
    decided = runner.invoke(
        app,
        [*h, "disputes", "decide", str(filed.id), "--note", "it was not", "--reject", "--json"],
    )
    assert decided.exit_code == 0, decided.output
    assert last_json(decided.stdout)["status"] == "rejected"
    again = runner.invoke(
        app, [*h, "disputes", "decide", str(filed.id), "--note", "x", "--uphold", "--void"]
    )
    assert again.exit_code == 2 and "not_pending" in again.stderr
