"""Keyed hashing of personal identifiers, before anything is stored.

HMAC-SHA256 with the home's key, truncated to 128 bits and written as 32 hex characters: the
same person gets the same pseudonym in every batch (so events join up), nobody without the key
can test a guess, and the lake holds neither the identifier nor the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import pyarrow as pa
import pyarrow.compute as pc

from pentascore.events.schema import PII_FIELDS

PSEUDONYM_HEX_CHARS = 32
_SPACES = re.compile(r"\s+")


def normalize(field: str, value: str) -> str:
    """The canonical form of an identifier, so trivial spelling differences hash alike."""
    if field == "phone":
        return re.sub(r"[^0-9+]", "", value)
    if field == "address":
        return _SPACES.sub(" ", value.strip().lower())
    return value.strip()


def pseudonymize_value(key: bytes, field: str, value: str) -> str:
    """The pseudonym of one identifier (what the service uses to look a person up)."""
    digest = hmac.new(key, normalize(field, value).encode(), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX_CHARS]


class Pseudonymizer:
    """Pseudonymizes the identifier columns of tables, remembering what it hashed.

    Identifiers repeat a lot (a user has hundreds of events, across every chunk of a batch), so
    each distinct value is hashed once per column and the column is rebuilt from its dictionary.
    """

    _MAX_REMEMBERED = 4_000_000

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._known: dict[tuple[str, str], str] = {}

    def value(self, field: str, value: str) -> str:
        known = self._known.get((field, value))
        if known is None:
            if len(self._known) >= self._MAX_REMEMBERED:
                self._known.clear()
            known = pseudonymize_value(self._key, field, value)
            self._known[(field, value)] = known
        return known

    def table(self, table: pa.Table) -> pa.Table:
        """``table`` with every personal-identifier column replaced by its pseudonyms."""
        for field in PII_FIELDS:
            if field not in table.column_names:
                continue
            index = table.schema.get_field_index(field)
            encoded = pc.dictionary_encode(table.column(field)).combine_chunks()
            hashed = pa.array(
                [self.value(field, v) for v in encoded.dictionary.to_pylist()], pa.string()
            )
            table = table.set_column(
                index, table.schema.field(index), pc.take(hashed, encoded.indices)
            )
        return table
