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
import threading
from typing import NamedTuple

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pentascore.core.arrow import as_one_array
from pentascore.core.duck import ThreadCursors
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


class _Memory(NamedTuple):
    """Every value of one field that a pseudonymizer has hashed, with its pseudonym, found by
    a 64-bit fingerprint: a sorted array of fingerprints is searched in numpy in log time,
    where a hash table of the strings would have to be rebuilt (or the strings probed) at a
    cost per remembered value on every chunk. Held in this process's memory only, for one
    pseudonymizer (one ingest batch): the identifiers as sent are never written anywhere."""

    values: pa.ChunkedArray  # as sent
    pseudonyms: pa.ChunkedArray
    fingerprints: np.ndarray  # uint64, sorted
    rows: np.ndarray  # the row of ``values`` of each fingerprint

    def recall(self, values: pa.Array, fingerprints: np.ndarray) -> pa.Array:
        """The pseudonym of each of ``values`` that is remembered, else null. A fingerprint
        only points at a candidate; the candidate counts when its value is equal."""
        # Searched in ascending order, each search starts where the last one ended: several
        # times faster than the same searches at random places.
        order = np.argsort(fingerprints)
        at = np.empty(len(fingerprints), np.int64)
        at[order] = np.searchsorted(self.fingerprints, fingerprints[order])
        at[at == len(self.fingerprints)] = 0
        hit = np.flatnonzero(self.fingerprints[at] == fingerprints)
        rows = self.rows[at[hit]]
        same = pc.equal(values.take(hit), self.values.take(rows)).to_numpy(zero_copy_only=False)
        source = np.full(len(values), -1, dtype=np.int64)
        source[hit[same]] = rows[same]
        return pc.take(self.pseudonyms, pa.array(source, mask=source < 0)).combine_chunks()

    def add(self, values: pa.Array, pseudonyms: pa.Array, fingerprints: np.ndarray) -> _Memory:
        order = np.argsort(fingerprints)
        sorted_new = fingerprints[order]
        at = np.searchsorted(self.fingerprints, sorted_new)
        return _Memory(
            pa.chunked_array([*self.values.chunks, values], pa.string()),
            pa.chunked_array([*self.pseudonyms.chunks, pseudonyms], pa.string()),
            np.insert(self.fingerprints, at, sorted_new),
            np.insert(self.rows, at, order + len(self.values)),
        )


_EMPTY = _Memory(
    pa.chunked_array([], pa.string()),
    pa.chunked_array([], pa.string()),
    np.empty(0, np.uint64),
    np.empty(0, np.int64),
)


class Pseudonymizer:
    """Pseudonymizes the identifier columns of tables, remembering what it has hashed.

    Identifiers repeat a lot (a user has hundreds of events; an account, a phone or an address
    turns up month after month): each column is dictionary-encoded, so each distinct value of a
    chunk is handled once, and each field remembers every value it has hashed with its
    pseudonym (`_Memory`: up to ``memory`` values a field, about 80 bytes each, then it starts
    over). Only values it has not seen are normalized and hashed, with `hmac`'s own construction
    and the key's pads hashed once, so exactly `pseudonymize_value`: 1.1-1.5 microseconds a
    value in hashlib here, against about 0.3 to find one remembered. Fingerprints are DuckDB's
    ``hash``, on ``cursors`` (an ingest's own: a database of its own would cost a one-event
    batch about 20 ms more). Safe to use from several threads at once.
    """

    def __init__(self, key: bytes, cursors: ThreadCursors, memory: int = 2_000_000) -> None:
        block = hashlib.sha256(key).digest() if len(key) > _BLOCK else key
        block = block.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        self._limit = memory
        # Replaced whole under the lock, never changed in place, so a thread reading one sees
        # it whole; a value hashed by two threads at once is remembered twice, harmlessly.
        self._memory: dict[str, _Memory] = {}
        self._lock = threading.Lock()
        self._cursors = cursors

    def _fingerprints(self, values: pa.Array) -> np.ndarray:
        hashed = (
            self._cursors.get()
            .from_arrow(pa.table({"v": values}))
            .project("hash(v)")
            .to_arrow_table()
        )
        return np.asarray(hashed.column(0).to_numpy(), dtype=np.uint64)

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

    def _lookup(self, field: str, values: pa.Array, fingerprints: np.ndarray) -> pa.Array:
        """The pseudonyms of ``values`` (distinct, no nulls), normalized and hashed as
        `normalize` and `pseudonymize_value` do."""
        hashed = pa.nulls(len(values), pa.string())
        # A counterparty is another user, most likely one with events already: look among the
        # user ids too (pseudonymized first in each table).
        for known in (field, *_SAME_VALUES.get(field, ())):
            memory = self._memory.get(known)
            if memory is not None and hashed.null_count:
                hashed = pc.coalesce(hashed, memory.recall(values, fingerprints))
        if hashed.null_count:
            missing = hashed.is_null()
            new_values = values.filter(missing)
            new = self._new(field, new_values)
            hashed = pc.replace_with_mask(hashed, missing, new)
            new_fingerprints = fingerprints[missing.to_numpy(zero_copy_only=False)]
            with self._lock:
                memory = self._memory.get(field, _EMPTY)
                if len(memory.fingerprints) + len(new_fingerprints) > self._limit:
                    memory = _EMPTY
                self._memory[field] = memory.add(new_values, new, new_fingerprints)
        return hashed

    def _new(self, field: str, values: pa.Array) -> pa.Array:
        return self._hash(normalize_many(field, values).to_pylist())

    def table(self, table: pa.Table) -> pa.Table:
        """``table`` with every personal-identifier column replaced by its pseudonyms."""
        encoded: dict[str, pa.DictionaryArray] = {}
        for field in PII_FIELDS:
            if field in table.column_names and table.column(field).null_count < table.num_rows:
                encoded[field] = as_one_array(pc.dictionary_encode(table.column(field)))
        if not encoded:
            return table
        # One fingerprint query for the distinct values of every field.
        dictionaries = [column.dictionary.cast(pa.string()) for column in encoded.values()]
        fingerprints = self._fingerprints(pa.concat_arrays(dictionaries))
        bounds = np.cumsum([0, *map(len, dictionaries)])
        for i, (field, column) in enumerate(encoded.items()):
            hashed = self._lookup(field, dictionaries[i], fingerprints[bounds[i] : bounds[i + 1]])
            index = table.schema.get_field_index(field)
            table = table.set_column(
                index, table.schema.field(index), pc.take(hashed, column.indices)
            )
        return table
