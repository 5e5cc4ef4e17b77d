"""Keyed hashing of personal identifiers, before anything is stored.

HMAC-SHA256 with the home's key, truncated to 128 bits and written as 32 hex characters: the
same person gets the same pseudonym in every batch (so events join up), nobody without the key
can test a guess, and the lake holds neither the identifier nor the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pentascore.events.schema import PII_FIELDS

PSEUDONYM_HEX_CHARS = 32
_BLOCK = 64  # SHA-256 block size, for the HMAC pads
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_SPACES = re.compile(r"[ \t\n\r\f\v]+")

# Normalization is written twice, here and in SQL below, and kept to ASCII rules that both
# implement identically (a test checks it on arbitrary text): phones keep digits and "+";
# addresses and national ids fold ASCII case and runs of ASCII whitespace; ids are as sent.
_SQL_NORMALIZE = {
    "phone": "regexp_replace(v, '[^0-9+]', '', 'g')",
    "address": (
        "trim(regexp_replace(translate(v, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
        "'abcdefghijklmnopqrstuvwxyz'), '[ \\t\\n\\r\\f\\v]+', ' ', 'g'), ' ')"
    ),
}
_SQL_NORMALIZE["national_id"] = _SQL_NORMALIZE["address"]


def normalize(field: str, value: str) -> str:
    """The canonical form of an identifier, so trivial spelling differences hash alike."""
    if field == "phone":
        return re.sub(r"[^0-9+]", "", value)
    if field in ("address", "national_id"):
        return _SPACES.sub(" ", value.translate(_ASCII_LOWER)).strip(" ")
    return value


def pseudonymize_value(key: bytes, field: str, value: str) -> str:
    """The pseudonym of one identifier (what the service uses to look a person up)."""
    digest = hmac.new(key, normalize(field, value).encode(), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX_CHARS]


def pseudonymize_many(
    con: duckdb.DuckDBPyConnection, key: bytes, field: str, values: pa.Array
) -> pa.Array:
    """`pseudonymize_value` of every value at once: HMAC-SHA256 spelled out in SQL,
    H((K ^ opad) || H((K ^ ipad) || m)), so DuckDB hashes in parallel, outside Python."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    ipad = bytes(b ^ 0x36 for b in key).hex()
    opad = bytes(b ^ 0x5C for b in key).hex()
    message = _SQL_NORMALIZE.get(field, "v")
    con.register("identifiers", pa.table({"v": values}))
    try:
        result = con.sql(
            f"""
            SELECT left(sha256(unhex('{opad}') ||
                   unhex(sha256(unhex('{ipad}') || encode({message})))), {PSEUDONYM_HEX_CHARS})
                   AS p
            FROM identifiers
            """
        ).to_arrow_table()
    finally:
        con.unregister("identifiers")
    return result.column("p").combine_chunks().cast(pa.string())


class Pseudonymizer:
    """Pseudonymizes the identifier columns of tables, remembering what it hashed.

    Identifiers repeat a lot (a user has hundreds of events, across every chunk of a batch):
    each column is dictionary-encoded, the dictionary is looked up in what this object already
    hashed (vectorized), only new values are hashed, and the column is rebuilt by index.
    """

    _MAX_REMEMBERED = 4_000_000

    def __init__(self, key: bytes, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self._key = key
        self._con = con if con is not None else duckdb.connect()
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
            fresh = pseudonymize_many(self._con, self._key, field, missing)
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
