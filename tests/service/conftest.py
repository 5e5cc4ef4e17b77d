"""A scored home (a simulated lake, a champion model, a batch run) shared by the service
tests, and each test's own database: a SQLite file, and a PostgreSQL database on the server at
127.0.0.1:5432 (``PENTASCORE_TEST_POSTGRES``), which .ci/run makes mandatory."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pentascore.core.clock import FixedClock
from pentascore.core.settings import DEV_OPERATOR_TOKEN, Settings
from pentascore.events.pseudonym import pseudonymize_value
from pentascore.features.duckdb_engine import DuckDBEngine
from pentascore.service.app import Service, create_app
from pentascore.service.db import Base, Database, Dispute
from pentascore.service.identities import add_partner, consumer_token
from pentascore.service.published import publish
from pentascore.service.refresh import Rescorer
from tests.conftest import KEY, NOW, ScoredHome

POSTGRES = os.environ.get(
    "PENTASCORE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_database() -> Iterator[str]:
    """A fresh database on the PostgreSQL server for this session, dropped at the end."""
    try:
        admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            name = f"pentascore_test_{secrets.token_hex(4)}"
            connection.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        message = f"no PostgreSQL server at {POSTGRES}: {exc.orig}"
        if os.environ.get("PENTASCORE_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    yield from _postgres_database()


@pytest.fixture(scope="session")
def postgres_database(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty, migrated database of each kind."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'state.db'}")
        database.upgrade()
        yield database
        database.dispose()
        return
    database = request.getfixturevalue("postgres_database")
    tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
    with database.engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield database


@dataclass
class World:
    """A running service over a copy of the scored home, with two partners and tokens."""

    client: TestClient
    database: Database
    clock: FixedClock
    home: ScoredHome
    settings: Settings
    hotel_key: str
    bikes_key: str
    hotel_id: str

    def token(self, user_id: str) -> str:
        return consumer_token(
            self.database, pseudonymize_value(KEY, "user_id", user_id), self.clock.now()
        )

    def me(self, user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id)}"}

    @property
    def hotel(self) -> dict[str, str]:
        return {"X-API-Key": self.hotel_key}

    @property
    def bikes(self) -> dict[str, str]:
        return {"X-API-Key": self.bikes_key}

    @property
    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {DEV_OPERATOR_TOKEN}"}

    @property
    def rescorer(self) -> Rescorer:
        rescorer = self.client.app.state.service.rescorer  # type: ignore[attr-defined]
        assert isinstance(rescorer, Rescorer)
        return rescorer

    def uphold(self, dispute_id: int, note: str, **decision: Any) -> Dispute:
        """Upholds the dispute as the operator, in this world's lake, clock and rescorer."""
        service = self.client.app.state.service  # type: ignore[attr-defined]
        assert isinstance(service, Service)
        return service.uphold_dispute(dispute_id, note, **decision)


def make_world(
    scored_home: ScoredHome,
    database: Database,
    root: Path,
    *,
    copy: bool = True,
    **settings: object,
) -> World:
    """``copy`` False serves the shared home itself: only for tests that write nothing to it
    (no events posted, no refresh, no inquiry export)."""
    if copy:
        shutil.copytree(scored_home.root, root)
    else:
        root = scored_home.root
    # The tests' clock stands still, so no allowance refills: only a test of the limit sets it.
    settings.setdefault("consumer_computations_per_minute", 100_000)
    config = Settings(
        home=root,
        pseudonym_key=KEY.decode(),
        operator_token=DEV_OPERATOR_TOKEN,
        dev=True,
        **settings,  # type: ignore[arg-type]
    )
    clock = FixedClock(NOW)
    publish(database, scored_home.scores, clock.now())
    hotel = add_partner(database, "Hotel One", clock.now())
    bikes = add_partner(database, "Bikes Two", clock.now(), furnisher=True)
    app = create_app(config, clock=clock, database=database, engine=DuckDBEngine(threads=1))
    return World(
        client=TestClient(app),
        database=database,
        clock=clock,
        home=scored_home,
        settings=config,
        hotel_key=hotel.api_key,
        bikes_key=bikes.api_key,
        hotel_id=hotel.partner_id,
    )


@pytest.fixture
def world(scored_home: ScoredHome, database: Database, tmp_path: Path) -> World:
    return make_world(scored_home, database, tmp_path / "home")
