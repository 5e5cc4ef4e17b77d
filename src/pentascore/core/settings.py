"""Settings, built only in entry points (CLI callback, app factory) and passed down."""

import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from pentascore.core.errors import ConfigError

_KEY_FILE = "secrets/pseudonym.key"
_MIN_KEY_BYTES = 16


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
