"""The operational database: tables, connections and migrations.

SQLite (a file under the home folder) by default, PostgreSQL in production; the schema is
created and changed only by the Alembic migrations in ``migrations/``. People appear here only
by their pseudonym (``user_ref``, the same keyed hash the lake uses), never by the platform's
own identifier.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from pentascore.core.errors import ConfigError

REF = 32  # a pseudonym: 32 hex characters
ID = 40


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every database: SQLite keeps no zone, so values are
    stored as naive UTC and read back as aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"datetimes must be timezone-aware; got {value!r}.")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
        }
    )


class Partner(Base):
    """An institution that reads scores (and, when ``furnisher``, sends events)."""

    __tablename__ = "partners"
    id: Mapped[str] = mapped_column(sa.String(ID), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    furnisher: Mapped[bool] = mapped_column(default=False)
    reads_per_minute: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ConsumerToken(Base):
    """A bearer token of one person."""

    __tablename__ = "consumer_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_ref: Mapped[str] = mapped_column(sa.String(REF), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Authorization(Base):
    """A partner's request to read one person's score for one purpose, and its answer.

    ``status`` is what was decided; an active or pending authorization whose time has passed
    is expired whether or not the row says so yet (`authorizations.effective_status`).
    """

    __tablename__ = "authorizations"
    __table_args__ = (sa.Index(None, "user_ref", "partner_id", "purpose"),)
    id: Mapped[str] = mapped_column(sa.String(ID), primary_key=True)
    partner_id: Mapped[str] = mapped_column(sa.ForeignKey("partners.id"))
    user_ref: Mapped[str] = mapped_column(sa.String(REF))
    purpose: Mapped[str] = mapped_column(sa.String(32))
    scope: Mapped[str] = mapped_column(sa.String(24))
    days: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(16))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    reason: Mapped[str | None] = mapped_column(sa.String(500), default=None)


class Inquiry(Base):
    """One attempt by a partner to read a score, allowed or refused: the query record.

    ``outcome`` is ``allowed`` or the machine-readable reason of the refusal. Allowed reads are
    written to the lake as inquiry events (``exported`` marks those already written).
    """

    __tablename__ = "inquiries"
    __table_args__ = (
        sa.Index(None, "user_ref", "id"),
        sa.Index(None, "exported", "outcome"),
    )
    # SQLite autoincrements only an INTEGER primary key.
    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    partner_id: Mapped[str] = mapped_column(sa.ForeignKey("partners.id"))
    user_ref: Mapped[str] = mapped_column(sa.String(REF))
    purpose: Mapped[str] = mapped_column(sa.String(32))
    authorization_id: Mapped[str | None] = mapped_column(sa.String(ID), default=None)
    outcome: Mapped[str] = mapped_column(sa.String(40))
    score: Mapped[int | None] = mapped_column(default=None)
    as_of: Mapped[date | None] = mapped_column(default=None)
    model: Mapped[str | None] = mapped_column(sa.String(ID), default=None)
    exported: Mapped[bool] = mapped_column(default=False)
    # A scenario decision (`scenarios.decide`) is recorded here too: approve or decline.
    decision: Mapped[str | None] = mapped_column(sa.String(8), default=None)
    credit_line: Mapped[int | None] = mapped_column(default=None)


BATCH, REFRESH, CORRECTION = "batch", "refresh", "correction"


class PublishedScore(Base):
    """A person's score from one batch run or refresh: what partners and the person read."""

    __tablename__ = "scores"
    __table_args__ = (sa.Index(None, "user_ref", "as_of"),)
    user_ref: Mapped[str] = mapped_column(sa.String(REF), primary_key=True)
    as_of: Mapped[date] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(sa.String(ID), primary_key=True)
    score: Mapped[int]
    band: Mapped[str] = mapped_column(sa.String(16))
    base: Mapped[int]
    credit_history: Mapped[int]
    behavior_preference: Mapped[int]
    fulfillment_capacity: Mapped[int]
    identity_traits: Mapped[int]
    connections: Mapped[int]
    credit_history_radar: Mapped[int]
    behavior_preference_radar: Mapped[int]
    fulfillment_capacity_radar: Mapped[int]
    identity_traits_radar: Mapped[int]
    connections_radar: Mapped[int]
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # What computed it: the monthly "batch", a person's "refresh", or a "correction" (an
    # upheld dispute's rescore). A batch never replaces a refresh or correction of its day.
    source: Mapped[str] = mapped_column(sa.String(12), server_default=BATCH, default=BATCH)
    # Set when an upheld dispute left the file too thin to score: the score no longer stands.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Refresh(Base):
    """A person's own rescoring; one per calendar month (the unique key enforces it even when
    two requests race)."""

    __tablename__ = "refreshes"
    __table_args__ = (sa.UniqueConstraint("user_ref", "month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_ref: Mapped[str] = mapped_column(sa.String(REF))
    month: Mapped[str] = mapped_column(sa.String(7))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    score: Mapped[int | None] = mapped_column(default=None)
    model: Mapped[str | None] = mapped_column(sa.String(ID), default=None)


class ScenarioThreshold(Base):
    """A partner's own pass mark for a scenario, over the defaults."""

    __tablename__ = "scenario_thresholds"
    partner_id: Mapped[str] = mapped_column(sa.ForeignKey("partners.id"), primary_key=True)
    scenario: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    threshold: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Repair(Base):
    """A person's request to repair an overdue record they have repaid, and its answer.

    A granted repair also grants one extra refresh (``refresh_used`` until it is taken)."""

    __tablename__ = "repairs"
    __table_args__ = (sa.Index(None, "user_ref", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_ref: Mapped[str] = mapped_column(sa.String(REF))
    event_id: Mapped[str] = mapped_column(sa.String(ID * 4))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.String(500), default=None)
    correction_event_id: Mapped[str | None] = mapped_column(sa.String(ID * 4), default=None)
    refresh_used: Mapped[bool] = mapped_column(default=False)


class Dispute(Base):
    """A person contests one of their records; an operator upholds or rejects it by the
    deadline. The row keeps the last state; `audit_log` keeps every step."""

    __tablename__ = "disputes"
    __table_args__ = (sa.Index(None, "status", "due_at"), sa.Index(None, "user_ref", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    user_ref: Mapped[str] = mapped_column(sa.String(REF))
    event_id: Mapped[str] = mapped_column(sa.String(ID * 4))
    reason: Mapped[str] = mapped_column(sa.String(2000))
    status: Mapped[str] = mapped_column(sa.String(16))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    operator_note: Mapped[str | None] = mapped_column(sa.String(2000), default=None)
    correction_event_id: Mapped[str | None] = mapped_column(sa.String(ID * 4), default=None)
    new_score: Mapped[int | None] = mapped_column(default=None)


class AuditEntry(Base):
    """Everything else that touches a person's data or consent: who, what, when."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index(None, "subject_ref", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(sa.String(80))
    action: Mapped[str] = mapped_column(sa.String(60))
    subject_ref: Mapped[str | None] = mapped_column(sa.String(REF), default=None)
    detail: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, default=None)


def _migrations_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("pentascore.service") / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


class Database:
    """An engine and its session factory, for one database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = _engine(url)
        except (sa.exc.ArgumentError, ModuleNotFoundError) as exc:
            raise ConfigError(f"database_url cannot be used: {exc}") from exc
        if self.engine.url.get_backend_name() == "sqlite" and self.engine.url.database:
            Path(self.engine.url.database).parent.mkdir(parents=True, exist_ok=True)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def where(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.OperationalError as exc:
            raise ConfigError(f"cannot use the database at {self.where}: {exc.orig}") from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self.sessions.begin() as session:
            yield session

    def upgrade(self) -> None:
        """Brings the schema to the newest migration (idempotent)."""
        with self._reachable(), self.engine.begin() as connection:
            config = _migrations_config(self.url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def downgrade(self, revision: str = "base") -> None:
        with self.engine.begin() as connection:
            config = _migrations_config(self.url)
            config.attributes["connection"] = connection
            command.downgrade(config, revision)

    def check_current(self) -> None:
        """Raises unless the schema is at the newest migration."""
        head = ScriptDirectory.from_config(_migrations_config(self.url)).get_current_head()
        with self._reachable(), self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        if current != head:
            raise ConfigError(
                f"the database at {self.where} is at "
                f"migration {current or 'none'}, not {head}: run `pentascore db upgrade`."
            )

    def dispose(self) -> None:
        self.engine.dispose()


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL: readers never wait for the writer; NORMAL sync is durable across process
            # crashes (not power loss), the usual trade for a service's SQLite.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def open_database(url: str) -> Database:
    """The database at ``url``, migrated to the newest schema."""
    database = Database(url)
    database.upgrade()
    return database
