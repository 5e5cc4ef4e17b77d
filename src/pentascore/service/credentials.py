"""Secrets handed to partners and consumers, stored only as hashes.

Every secret is 256 random bits, so a plain SHA-256 is enough to store it: there is no
dictionary to try, and a fast hash lets a request find its partner by an indexed lookup.
(Slow password hashes such as argon2 exist for low-entropy, human-chosen secrets.)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PARTNER_KEY_PREFIX = "psk_"
CONSUMER_TOKEN_PREFIX = "pct_"


def new_secret(prefix: str) -> str:
    """A fresh secret; the prefix tells a leaked one's kind at a glance (secret scanners)."""
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_id(prefix: str) -> str:
    """A public, unguessable identifier such as ``auth_3kq...``."""
    return prefix + secrets.token_hex(10)


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison, for the operator token."""
    return hmac.compare_digest(given.encode(), expected.encode())
