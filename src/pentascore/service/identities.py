"""Partners and consumer tokens: created here, shown once, stored as hashes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from pentascore.core.errors import ConfigError
from pentascore.service.authorizations import audit
from pentascore.service.credentials import (
    CONSUMER_TOKEN_PREFIX,
    PARTNER_KEY_PREFIX,
    hash_secret,
    new_id,
    new_secret,
)
from pentascore.service.db import ConsumerToken, Database, Partner


@dataclass(frozen=True)
class NewPartner:
    partner_id: str
    name: str
    api_key: str  # the only time it exists outside the partner's hands


def add_partner(
    database: Database,
    name: str,
    now: datetime,
    *,
    furnisher: bool = False,
    reads_per_minute: int | None = None,
) -> NewPartner:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise ConfigError(f"a partner's name must have 1 to 200 characters; got {len(name)}.")
    if reads_per_minute is not None and reads_per_minute < 1:
        raise ConfigError(f"reads_per_minute must be at least 1; got {reads_per_minute}.")
    key = new_secret(PARTNER_KEY_PREFIX)
    partner = Partner(
        id=new_id("ptn_"),
        name=name,
        key_hash=hash_secret(key),
        furnisher=furnisher,
        reads_per_minute=reads_per_minute,
        created_at=now,
    )
    with database.session() as session:
        session.add(partner)
        audit(session, now, "operator", "partner.added", None, partner_id=partner.id, name=name)
    return NewPartner(partner_id=partner.id, name=name, api_key=key)


def partners(database: Database) -> list[Partner]:
    with database.session() as session:
        return list(session.scalars(sa.select(Partner).order_by(Partner.created_at)).all())


def consumer_token(database: Database, user_ref: str, now: datetime) -> str:
    """A new bearer token for the person with pseudonym ``user_ref``."""
    token = new_secret(CONSUMER_TOKEN_PREFIX)
    with database.session() as session:
        session.add(ConsumerToken(user_ref=user_ref, token_hash=hash_secret(token), created_at=now))
        audit(session, now, "operator", "consumer_token.issued", user_ref)
    return token
