"""DuckDB connections shared by threads."""

from __future__ import annotations

import threading

import duckdb


class ThreadCursors:
    """One cursor per thread on a DuckDB connection: a connection must not be used by two
    threads at once, and its cursors share its database. `close` closes every cursor made."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()

    def get(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor, made on first use."""
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None:
            with self._lock:
                cursor = self._con.cursor()
                self._cursors.append(cursor)
            self._local.cursor = cursor
        return cursor

    def close(self) -> None:
        with self._lock:
            for cursor in self._cursors:
                cursor.close()
            self._cursors.clear()
