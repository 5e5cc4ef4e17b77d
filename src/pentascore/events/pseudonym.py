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


def normalize_many(field: str, values: pa.Array) -> pa.Array:
    """`normalize` of every value at once, in Arrow compute (a test checks they agree)."""
    if field == "phone":
        return pc.replace_substring_regex(values, pattern="[^0-9+]", replacement="")
    if field in ("address", "national_id"):
        folded = pc.replace_substring_regex(
            pc.ascii_lower(values), pattern="[ \t\n\r\f\v]+", replacement=" "
        )
        return pc.utf8_trim(folded, characters=" ")
    return values


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
    each column is dictionary-encoded, so each distinct value of a chunk is looked up once in a
    dictionary of what this object already hashed; only new values are hashed (`hmac`'s own
    construction with the key's pads hashed once, so exactly `pseudonymize_value`), and the
    column is rebuilt by index. Fields that normalize alike share what they remember: a
    counterparty's id is hashed once, as a user id.
    """

    _MAX_REMEMBERED = 2_000_000  # values over all fields (~400 MB); then it starts again

    def __init__(self, key: bytes, con: duckdb.DuckDBPyConnection | None = None) -> None:
        del con  # hashing is done here; kept for callers that pass their connection
        block = hashlib.sha256(key).digest() if len(key) > _BLOCK else key
        block = block.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        self._memos: dict[str, dict[str, str]] = {}
        self._remembered = 0

    def _hash(self, normalized: list[str]) -> list[str]:
        inner, outer = self._inner, self._outer
        found = []
        for value in normalized:
            h = inner.copy()
            h.update(value.encode())
            o = outer.copy()
            o.update(h.digest())
            found.append(o.hexdigest()[:PSEUDONYM_HEX_CHARS])
        return found

    def _lookup(self, field: str, values: pa.Array) -> pa.Array:
        """The pseudonyms of ``values`` (distinct), normalized and hashed as `normalize` and
        `pseudonymize_value` do, remembered by normalized value."""
        if self._remembered > self._MAX_REMEMBERED:
            self._memos.clear()
            self._remembered = 0
        normalized = normalize_many(field, values).to_pylist()
        memo = self._memos.setdefault(_SQL_NORMALIZE.get(field, "as sent"), {})
        get = memo.get
        hashed = [get(v) for v in normalized]
        missing = list({v for v, h in zip(normalized, hashed, strict=True) if h is None})
        if missing:
            memo.update(zip(missing, self._hash(missing), strict=True))
            self._remembered += len(missing)
            hashed = [memo[v] for v in normalized]
        return pa.array(hashed, pa.string())

    def table(self, table: pa.Table) -> pa.Table:
        """``table`` with every personal-identifier column replaced by its pseudonyms."""
        for field in PII_FIELDS:
            if field not in table.column_names:
                continue
            index = table.schema.get_field_index(field)
            column = table.column(field)
            if column.null_count == len(column):
                continue
            encoded = pc.dictionary_encode(column)
            encoded = encoded.chunk(0) if encoded.num_chunks == 1 else encoded.combine_chunks()
            hashed = self._lookup(field, encoded.dictionary.cast(pa.string()))
            table = table.set_column(
                index, table.schema.field(index), pc.take(hashed, encoded.indices)
            )
        return table
