"""Keyed hashing of personal identifiers, before anything is stored.

HMAC-SHA256 with the home's key, truncated to 128 bits and written as 32 hex characters: the
same person gets the same pseudonym in every batch (so events join up), nobody without the key
can test a guess, and the lake holds neither the identifier nor the key.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pentascore.events.schema import PII_FIELDS

PSEUDONYM_HEX_CHARS = 32
_BLOCK = 64  # SHA-256 block size, for the HMAC pads
_DIGEST = 32
# Fields whose values are values of another field too, as sent: look there before hashing.
_SAME_VALUES = {"counterparty_id": ("user_id",)}
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
    """Pseudonymizes the identifier columns of tables.

    Identifiers repeat a lot (a user has hundreds of events, across every chunk of a batch):
    each column is dictionary-encoded, so each distinct value of a chunk is handled once. Values
    that were in the field's last chunk (most of them: the same people, accounts and addresses)
    are matched in Arrow against that chunk's values; the others are normalized in Arrow and
    hashed with `hmac`'s own construction, the key's pads hashed once, so exactly
    `pseudonymize_value`. hashlib's SHA-256 costs about a microsecond a value here, under half
    of what the same HMAC spelled out in SQL (`pseudonymize_many`) costs DuckDB with its query
    overhead. Safe to use from several threads at once.
    """

    def __init__(self, key: bytes) -> None:
        block = hashlib.sha256(key).digest() if len(key) > _BLOCK else key
        block = block.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        # By field: the last chunk's distinct values as sent, and their pseudonyms. Replaced
        # whole, never changed in place, so that a thread holding one sees it whole.
        self._recent: dict[str, tuple[pa.Array, pa.Array]] = {}

    def _hash(self, normalized: list[str]) -> pa.Array:
        inner, outer = self._inner.copy, self._outer.copy
        digests: list[bytes] = []
        append = digests.append
        for value in normalized:
            h = inner()
            h.update(value.encode())
            o = outer()
            o.update(h.digest())
            append(o.digest())
        # Every pseudonym has the same length: one buffer of hex text and fixed offsets.
        kept = np.frombuffer(b"".join(digests), np.uint8).reshape(-1, _DIGEST)
        text = binascii.hexlify(kept[:, : PSEUDONYM_HEX_CHARS // 2].tobytes())
        offsets = np.arange(0, len(text) + 1, PSEUDONYM_HEX_CHARS, dtype=np.int32)
        return pa.StringArray.from_buffers(len(digests), pa.py_buffer(offsets), pa.py_buffer(text))

    def _lookup(self, field: str, values: pa.Array) -> pa.Array:
        """The pseudonyms of ``values`` (distinct, no nulls), normalized and hashed as
        `normalize` and `pseudonymize_value` do."""
        hashed: pa.Array | None = None
        # A counterparty is another user, most likely one with events in this chunk too:
        # user ids are pseudonymized first, so this chunk's are already known.
        for known in (field, *_SAME_VALUES.get(field, ())):
            recent = self._recent.get(known)
            if recent is None or (hashed is not None and not hashed.null_count):
                continue
            found = pc.take(recent[1], pc.index_in(values, value_set=recent[0]))
            hashed = found if hashed is None else pc.coalesce(hashed, found)
        if hashed is None:
            hashed = pa.nulls(len(values), pa.string())
        if hashed.null_count:
            missing = hashed.is_null()
            hashed = pc.replace_with_mask(hashed, missing, self._new(field, values.filter(missing)))
        self._recent[field] = (values, hashed)
        return hashed

    def _new(self, field: str, values: pa.Array) -> pa.Array:
        return self._hash(normalize_many(field, values).to_pylist())

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
