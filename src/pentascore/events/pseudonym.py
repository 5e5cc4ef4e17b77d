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
    each column is dictionary-encoded, so each distinct value of a chunk is looked up once in
    what this object already hashed, by the value as sent; only values not seen yet are
    normalized, and only new normalized values are hashed (`hmac`'s own construction with the
    key's pads hashed once, so exactly `pseudonymize_value`); the column is rebuilt by index.
    Fields that normalize alike share what they remember: a counterparty's id is hashed once, as
    a user id. Values that were in the field's last chunk are matched in Arrow first; given a
    DuckDB connection, `table` hashes the rest there (`pseudonymize_many`) instead. Safe to use
    from several threads at once (each with its own connection).
    """

    _MAX_REMEMBERED = 2_000_000  # values over all fields (~400 MB); then it starts again

    def __init__(self, key: bytes, con: duckdb.DuckDBPyConnection | None = None) -> None:
        del con  # connections are passed to `table`; kept for callers that pass one here
        self._key = key
        block = hashlib.sha256(key).digest() if len(key) > _BLOCK else key
        block = block.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        # By normalization: normalized value -> pseudonym. By field: value as sent -> pseudonym
        # (the same dictionary when the field is not normalized). Replaced, never cleared, when
        # full, so that a thread holding one sees it whole.
        self._memos: dict[str, dict[str, str]] = {}
        self._sent: dict[str, dict[str, str]] = {}
        self._remembered = 0
        # By field: the last chunk's distinct values as sent, and their pseudonyms.
        self._recent: dict[str, tuple[pa.Array, pa.Array]] = {}

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

    def _memo(self, field: str) -> tuple[dict[str, str], dict[str, str]]:
        """(by value as sent, by normalized value) for ``field``."""
        if self._remembered > self._MAX_REMEMBERED:
            self._memos, self._sent, self._remembered = {}, {}, 0
        memos, sent = self._memos, self._sent
        rule = _SQL_NORMALIZE.get(field)
        by_normalized = memos.setdefault(rule or "as sent", {})
        by_sent = by_normalized if rule is None else sent.setdefault(field, {})
        return by_sent, by_normalized

    def _lookup(
        self, field: str, values: pa.Array, con: duckdb.DuckDBPyConnection | None
    ) -> pa.Array:
        """The pseudonyms of ``values`` (distinct, no nulls), normalized and hashed as
        `normalize` and `pseudonymize_value` do.

        Most of a chunk's values were in the chunk before (the same people, accounts and
        addresses), so those are matched in Arrow against the last chunk's values of the field.
        The others are hashed by DuckDB on ``con`` (in parallel, and without holding the
        interpreter), or without one looked up one by one in what this object remembers."""
        recent = self._recent.get(field)
        if recent is None:
            hashed = self._new(field, values, con)
        else:
            where = pc.index_in(values, value_set=recent[0])
            hashed = pc.take(recent[1], where)
            if hashed.null_count:
                new = hashed.is_null()
                found = self._new(field, values.filter(new), con)
                hashed = pc.replace_with_mask(hashed, new, found)
        self._recent[field] = (values, hashed)
        return hashed

    def _new(self, field: str, values: pa.Array, con: duckdb.DuckDBPyConnection | None) -> pa.Array:
        if con is None:
            return self._remember(field, values)
        return pseudonymize_many(con, self._key, field, values)

    def _remember(self, field: str, values: pa.Array) -> pa.Array:
        """`_lookup` by what this object remembers, one value at a time."""
        by_sent, by_normalized = self._memo(field)
        texts = values.to_pylist()
        get = by_sent.get
        hashed = [get(v) for v in texts]
        if None in hashed:
            where = [i for i, h in enumerate(hashed) if h is None]
            if by_sent is by_normalized:  # not normalized: the values are new and distinct
                new = [texts[i] for i in where]
                fresh = self._hash(new)
            else:
                normalized = normalize_many(field, values.take(where)).to_pylist()
                known = by_normalized.get
                found = [known(v) for v in normalized]
                unseen = list({v for v, h in zip(normalized, found, strict=True) if h is None})
                by_normalized.update(zip(unseen, self._hash(unseen), strict=True))
                self._remembered += len(unseen)
                new = [texts[i] for i in where]
                fresh = [
                    h if h is not None else by_normalized[v]
                    for v, h in zip(normalized, found, strict=True)
                ]
            by_sent.update(zip(new, fresh, strict=True))
            self._remembered += len(new)
            for i, h in zip(where, fresh, strict=True):
                hashed[i] = h
        return pa.array(hashed, pa.string())

    def table(self, table: pa.Table, con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
        """``table`` with every personal-identifier column replaced by its pseudonyms (new
        values hashed on ``con`` when given: one per thread)."""
        for field in PII_FIELDS:
            if field not in table.column_names:
                continue
            index = table.schema.get_field_index(field)
            column = table.column(field)
            if column.null_count == len(column):
                continue
            encoded = pc.dictionary_encode(column)
            encoded = encoded.chunk(0) if encoded.num_chunks == 1 else encoded.combine_chunks()
            hashed = self._lookup(field, encoded.dictionary.cast(pa.string()), con)
            table = table.set_column(
                index, table.schema.field(index), pc.take(hashed, encoded.indices)
            )
        return table
