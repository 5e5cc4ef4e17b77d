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


def _keyed_digest(keyed: hmac.HMAC, field: str, value: str) -> str:
    # Copying a keyed HMAC skips re-deriving the key pads: the same digest, about twice as fast.
    mac = keyed.copy()
    mac.update(normalize(field, value).encode())
    return mac.hexdigest()[:PSEUDONYM_HEX_CHARS]


def pseudonymize_table(key: bytes, table: pa.Table) -> pa.Table:
    """``table`` with every personal-identifier column pseudonymized (see `Pseudonymizer`)."""
    return Pseudonymizer(key).table(table)


class Pseudonymizer:
    """Pseudonymizes the identifier columns of tables, remembering what it hashed.

    Identifiers repeat a lot (a user has hundreds of events, across every chunk of a batch):
    each column is dictionary-encoded, the dictionary is looked up in what this object already
    hashed (vectorized), only new values are hashed, and the column is rebuilt by index.
    """

    _MAX_REMEMBERED = 4_000_000

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._values: dict[str, pa.Array] = {}
        self._pseudonyms: dict[str, pa.Array] = {}

    def _lookup(self, field: str, values: pa.Array) -> pa.Array:
        known = self._values.get(field)
        if known is None or len(known) > self._MAX_REMEMBERED:
            known = pa.array([], pa.string())
            self._pseudonyms[field] = pa.array([], pa.string())
        where = pc.index_in(values, value_set=known)
        missing = values.filter(pc.is_null(where))
        if len(missing):
            keyed = hmac.new(self._key, digestmod=hashlib.sha256)
            fresh = pa.array(
                [_keyed_digest(keyed, field, v) for v in missing.to_pylist()], pa.string()
            )
            known = pa.concat_arrays([known, missing])
            self._pseudonyms[field] = pa.concat_arrays([self._pseudonyms[field], fresh])
            where = pc.index_in(values, value_set=known)
        self._values[field] = known
        return pc.take(self._pseudonyms[field], where)

    def table(self, table: pa.Table) -> pa.Table:
        """``table`` with every personal-identifier column replaced by its pseudonyms."""
        for field in PII_FIELDS:
            if field not in table.column_names:
                continue
            index = table.schema.get_field_index(field)
            encoded = pc.dictionary_encode(table.column(field)).combine_chunks()
            hashed = self._lookup(field, encoded.dictionary.cast(pa.string()))
            table = table.set_column(
                index, table.schema.field(index), pc.take(hashed, encoded.indices)
            )
        return table
