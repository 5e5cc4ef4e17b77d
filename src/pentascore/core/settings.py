"""Settings, built only in entry points (CLI callback, app factory) and passed down."""

import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from pentascore.core.errors import ConfigError

_KEY_FILE = "secrets/pseudonym.key"
_MIN_KEY_BYTES = 16
_MIN_OPERATOR_TOKEN = 24
# Tokens people copy from examples and forget to change; refused outside dev mode.
KNOWN_DEFAULT_TOKENS = frozenset(
    {"changeme", "change-me", "admin", "operator", "secret", "password", "token", "dev", "test"}
)
DEV_OPERATOR_TOKEN = "dev-operator-token"


class Settings(BaseSettings):
    """Where pentascore keeps its data, and the keys it uses.

    Every field can be set from the environment with the ``PENTASCORE_`` prefix,
    e.g. ``PENTASCORE_HOME=/srv/pentascore``.
    """

    model_config = SettingsConfigDict(env_prefix="PENTASCORE_", extra="forbid", frozen=True)

    home: Path = Field(default=Path(".pentascore"), description="Home folder: lake, state, keys.")
    pseudonym_key: SecretStr | None = Field(
        default=None,
        description=(
            "Key of the HMAC-SHA256 that pseudonymizes personal identifiers. When unset, a random "
            "key is created once in <home>/secrets/pseudonym.key (mode 0600), outside the lake."
        ),
    )

    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the operational database (consumers, partners, authorizations, "
            "inquiries, published scores). Default: a SQLite file, <home>/state.db. "
            "PostgreSQL: postgresql+psycopg://user@host:5432/db."
        ),
    )
    operator_token: SecretStr | None = Field(
        default=None,
        description=(
            "Bearer token of the operators' endpoints. Unset: those endpoints refuse everyone. "
            f"At least {_MIN_OPERATOR_TOKEN} characters, and never a known default outside dev."
        ),
    )
    dev: bool = Field(
        default=False,
        description=f"Dev mode: allows the operator token {DEV_OPERATOR_TOKEN!r} (demo, tests).",
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest request body accepted (413)."
    )
    partner_reads_per_minute: int = Field(
        default=600, ge=1, description="Default rate limit of a partner's requests."
    )
    consumer_computations_per_minute: int = Field(
        default=12,
        ge=1,
        description="Rate limit of a person's requests that rescore them (explanation, "
        "what-if, refresh): each reads the lake.",
    )
    inquiry_export_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often the service writes recorded score reads to the lake as inquiries.",
    )

    repair_max_amount: int = Field(
        default=1_000_000,
        ge=0,
        description=(
            "Overdue repair policy: the largest bill (minor units) that can be repaired once "
            "repaid in full (default 10,000.00, as in the PBOC's 2025 scheme)."
        ),
    )
    repair_max_days_to_repay: int = Field(
        default=365,
        ge=0,
        description="Overdue repair policy: repaid in full at most this many days after due.",
    )

    @property
    def database(self) -> str:
        """The database URL in use."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'state.db').resolve()}"

    def checked_operator_token(self) -> str | None:
        """The operator token, or None when unset; a weak or default token is refused."""
        if self.operator_token is None:
            return None
        token = self.operator_token.get_secret_value()
        if self.dev and token == DEV_OPERATOR_TOKEN:
            return token
        if token.lower() in KNOWN_DEFAULT_TOKENS or token == DEV_OPERATOR_TOKEN:
            raise ConfigError(
                "operator_token is a known default; set PENTASCORE_OPERATOR_TOKEN to a random "
                "secret (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')."
            )
        if len(token) < _MIN_OPERATOR_TOKEN:
            raise ConfigError(
                f"operator_token must be at least {_MIN_OPERATOR_TOKEN} characters; "
                f"got {len(token)}."
            )
        return token

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def rejects_dir(self) -> Path:
        return self.home / "rejects"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def scores_dir(self) -> Path:
        return self.home / "scores"

    @property
    def features_dir(self) -> Path:
        """Monthly feature snapshots (`pentascore.scores.snapshots`), read by monitoring."""
        return self.home / "features"

    @property
    def runs_dir(self) -> Path:
        """The monthly runs' manifests (`pentascore.scores.monthly`)."""
        return self.home / "runs"

    def resolve_pseudonym_key(self) -> bytes:
        """The pseudonymization key: from settings, else the home's key file, else a new one."""
        if self.pseudonym_key is not None:
            key = self.pseudonym_key.get_secret_value().encode()
            if len(key) < _MIN_KEY_BYTES:
                raise ConfigError(
                    f"pseudonym_key must be at least {_MIN_KEY_BYTES} bytes; got {len(key)}."
                )
            return key
        path = self.home / _KEY_FILE
        if path.exists():
            return bytes.fromhex(path.read_text().strip())
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        key = secrets.token_bytes(32)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key.hex())
        os.replace(tmp, path)
        return key
