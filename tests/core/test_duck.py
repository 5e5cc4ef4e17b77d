from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import duckdb
import pytest

from pentascore.core.duck import ThreadCursors


def test_each_thread_gets_a_cursor_of_its_own_on_the_same_database() -> None:
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t AS SELECT 42 AS x")
        cursors = ThreadCursors(con)
        mine = cursors.get()
        assert cursors.get() is mine
        with ThreadPoolExecutor(1) as pool:
            theirs = pool.submit(cursors.get).result()
        assert theirs is not mine
        assert theirs.execute("SELECT x FROM t").fetchall() == [(42,)]
        cursors.close()
        with pytest.raises(duckdb.ConnectionException):
            mine.execute("SELECT 1")
        assert con.execute("SELECT x FROM t").fetchall() == [(42,)]
