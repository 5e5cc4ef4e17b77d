from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pentascore.core.duck import ThreadCursors
from pentascore.events.pseudonym import Pseudonymizer, pseudonymize_many, pseudonymize_value
from pentascore.events.schema import PII_FIELDS

KEY = b"test-pseudonym-key-0123456789abcdef"
CON = duckdb.connect()
CURSORS = ThreadCursors(CON)


@settings(max_examples=60, deadline=None)
@given(
    field=st.sampled_from(PII_FIELDS),
    values=st.lists(st.text(max_size=40), min_size=1, max_size=20),
    key=st.binary(min_size=16, max_size=100),
)
def test_the_bulk_hash_equals_the_one_the_service_uses(
    field: str, values: list[str], key: bytes
) -> None:
    bulk = pseudonymize_many(CON, key, field, pa.array(values, pa.string())).to_pylist()
    assert bulk == [pseudonymize_value(key, field, v) for v in values]


def test_trivial_spelling_differences_hash_alike_and_real_ones_do_not() -> None:
    def same(field: str, a: str, b: str) -> bool:
        return pseudonymize_value(KEY, field, a) == pseudonymize_value(KEY, field, b)

    assert same("phone", "+86 138 0013 8000", "+8613800138000")
    assert same("address", "No. 8  Wensan Road ", "no. 8 wensan road")
    assert not same("address", "No. 8 Wensan Road", "No. 9 Wensan Road")
    assert not same("user_id", "U1", "u1")
    assert pseudonymize_value(KEY, "user_id", "U1") != pseudonymize_value(
        b"x" * 32, "user_id", "U1"
    )


def test_a_table_is_pseudonymized_column_by_column_with_a_memory() -> None:
    table = pa.table({"user_id": ["U1", "U2", "U1"], "amount": [1, 2, 3]})
    pseudonyms = Pseudonymizer(KEY, CURSORS)
    first = pseudonyms.table(table)
    assert first.column("amount").to_pylist() == [1, 2, 3]
    assert first.column("user_id").to_pylist() == [
        pseudonymize_value(KEY, "user_id", u) for u in ["U1", "U2", "U1"]
    ]
    assert pseudonyms.table(table).equals(first)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.text(max_size=30),
            st.text(alphabet=" \t\n\r\f\v\x1c\x85\u00a0\u3000AaZz09+-()É", max_size=20),
        ),
        min_size=1,
        max_size=12,
    ),
    key=st.binary(min_size=1, max_size=100),
)
def test_a_pseudonymizer_gives_the_service_hash_of_every_field(
    values: list[str], key: bytes
) -> None:
    pseudonyms = Pseudonymizer(key, CURSORS)
    table = pa.table({field: pa.array(values, pa.string()) for field in PII_FIELDS})
    for _ in range(2):  # hashed, then recalled
        out = pseudonyms.table(table)
        for field in PII_FIELDS:
            expected = [pseudonymize_value(key, field, v) for v in values]
            assert out.column(field).to_pylist() == expected, field


@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(
        st.lists(
            st.sampled_from(["U1", "u1", "U2", " a  B ", "a b", "A\tb", "+86 1", "+861", "x"]),
            min_size=1,
            max_size=8,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_values_seen_in_earlier_chunks_keep_their_pseudonyms(chunks: list[list[str]]) -> None:
    """Chunk after chunk, values are recalled or hashed: either way gives the service's
    hash."""
    pseudonyms = Pseudonymizer(KEY, CURSORS)
    for values in chunks:
        table = pa.table({field: pa.array(values, pa.string()) for field in PII_FIELDS})
        out = pseudonyms.table(table)
        for field in PII_FIELDS:
            expected = [pseudonymize_value(KEY, field, v) for v in values]
            assert out.column(field).to_pylist() == expected, field


def test_a_pseudonymizer_is_shared_by_threads() -> None:
    pseudonyms = Pseudonymizer(KEY, CURSORS)
    tables = [
        pa.table({f: pa.array([f"V{(i * 7 + j) % 90}" for j in range(40)]) for f in PII_FIELDS})
        for i in range(30)
    ]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(pseudonyms.table, tables))
    for table, out in zip(tables, results, strict=True):
        for field in PII_FIELDS:
            expected = [pseudonymize_value(KEY, field, v) for v in table.column(field).to_pylist()]
            assert out.column(field).to_pylist() == expected


def test_values_of_any_earlier_chunk_are_remembered_not_hashed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hashed: list[str] = []
    pseudonyms = Pseudonymizer(KEY, CURSORS)
    original = Pseudonymizer._hash

    def counting(self: Pseudonymizer, normalized: list[str]) -> pa.Array:
        hashed.extend(normalized)
        return original(self, normalized)

    monkeypatch.setattr(Pseudonymizer, "_hash", counting)
    for values in (["U1", "U2"], ["U3"], ["U1", "U3", "U4"]):
        out = pseudonyms.table(pa.table({"user_id": values}))
        assert out.column("user_id").to_pylist() == [
            pseudonymize_value(KEY, "user_id", v) for v in values
        ]
    assert hashed == ["U1", "U2", "U3", "U4"]
    # A counterparty is looked for among the user ids remembered.
    out = pseudonyms.table(pa.table({"counterparty_id": ["U2", "U9"]}))
    assert out.column("counterparty_id").to_pylist() == [
        pseudonymize_value(KEY, "counterparty_id", v) for v in ["U2", "U9"]
    ]
    assert hashed[4:] == ["U9"]


def test_a_fingerprint_shared_by_other_values_never_lends_its_pseudonym(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every value given the same fingerprint: each is still told apart by its own text."""
    monkeypatch.setattr(
        Pseudonymizer, "_fingerprints", lambda self, values: np.zeros(len(values), np.uint64)
    )
    pseudonyms = Pseudonymizer(KEY, CURSORS)
    for values in (["U1", "U2"], ["U2", "U3", "U1"], ["U3", "U4"]):
        out = pseudonyms.table(pa.table({"user_id": values}))
        assert out.column("user_id").to_pylist() == [
            pseudonymize_value(KEY, "user_id", v) for v in values
        ]


def test_a_full_memory_starts_over_and_keeps_giving_the_same_pseudonyms() -> None:
    pseudonyms = Pseudonymizer(KEY, CURSORS, memory=3)
    for values in (["A", "B"], ["C", "D"], ["A", "E", "C"], ["B"]):
        out = pseudonyms.table(pa.table({"account_id": values}))
        assert out.column("account_id").to_pylist() == [
            pseudonymize_value(KEY, "account_id", v) for v in values
        ]
        assert len(pseudonyms._memory["account_id"].fingerprints) <= 3
