"""The schema comes only from the migrations, on SQLite and PostgreSQL alike; settings that
cannot work are refused with the reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import SecretStr

from pentascore.core.errors import ConfigError
from pentascore.core.settings import DEV_OPERATOR_TOKEN, Settings
from pentascore.events.schema import SCENARIOS
from pentascore.service.app import create_app
from pentascore.service.db import Base, Database, Partner
from pentascore.service.identities import add_partner
from pentascore.service.schemas import Purpose


def _columns(database: Database) -> dict[str, set[str]]:
    inspector = sa.inspect(database.engine)
    return {
        t: {c["name"] for c in inspector.get_columns(t)}
        for t in inspector.get_table_names()
        if t != "alembic_version"
    }


def test_migrations_build_the_models_schema_and_go_down_and_up(database: Database) -> None:
    expected = {t.name: set(t.columns.keys()) for t in Base.metadata.sorted_tables}
    assert _columns(database) == expected
    database.check_current()
    database.downgrade("base")
    assert _columns(database) == {}
    with pytest.raises(ConfigError, match="pentascore db upgrade"):
        database.check_current()
    database.upgrade()
    database.upgrade()  # idempotent
    assert _columns(database) == expected


def test_the_migrations_and_the_models_agree_on_every_type_index_and_constraint(
    database: Database,
) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_datetimes_come_back_aware_utc(database: Database) -> None:
    at = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    made = add_partner(database, "  Clock Co  ", at)
    with database.session() as session:
        partner = session.get(Partner, made.partner_id)
        assert partner is not None
        assert partner.created_at == at and partner.created_at.tzinfo is not None
        assert partner.name == "Clock Co" and partner.key_hash != made.api_key
    with pytest.raises(ConfigError, match="name"):
        add_partner(database, " ", at)


def test_an_unmigrated_database_is_refused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, pseudonym_key="k" * 32)
    with pytest.raises(ConfigError, match="pentascore db upgrade"):
        create_app(settings)
    unreachable = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(ConfigError, match="cannot use the database"):
        unreachable.upgrade()
    with pytest.raises(ConfigError, match="database_url"):
        Database("nosuchdialect://x")


@pytest.mark.parametrize("token", ["changeme", "admin", DEV_OPERATOR_TOKEN, "short-but-random"])
def test_weak_operator_tokens_are_refused_outside_dev(token: str) -> None:
    with pytest.raises(ConfigError, match="operator_token"):
        Settings(operator_token=SecretStr(token)).checked_operator_token()


def test_operator_tokens() -> None:
    assert Settings().checked_operator_token() is None
    dev = Settings(operator_token=SecretStr(DEV_OPERATOR_TOKEN), dev=True)
    assert dev.checked_operator_token() == DEV_OPERATOR_TOKEN
    strong = "x7Qm2" * 6
    assert Settings(operator_token=SecretStr(strong)).checked_operator_token() == strong


def test_purposes_are_the_event_scenarios() -> None:
    assert tuple(p.value for p in Purpose) == SCENARIOS
