import pyarrow as pa

from pentascore.core.arrow import as_one_array


def test_a_single_chunk_is_returned_without_a_copy() -> None:
    chunk = pa.array(["a", "b", None])
    whole = as_one_array(pa.chunked_array([chunk]))
    assert whole.buffers()[2].address == chunk.buffers()[2].address


def test_several_chunks_are_joined_in_order() -> None:
    column = pa.chunked_array([pa.array([1, 2]), pa.array([], pa.int64()), pa.array([3])])
    whole = as_one_array(column)
    assert isinstance(whole, pa.Array)
    assert whole.to_pylist() == [1, 2, 3]


def test_no_chunks_is_an_empty_array_of_the_type() -> None:
    whole = as_one_array(pa.chunked_array([], pa.string()))
    assert len(whole) == 0
    assert whole.type == pa.string()
