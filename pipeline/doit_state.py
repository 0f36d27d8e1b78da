"""doit's task-state database, opened only when a task's state is read or written.

doit opens its dependency file for every command, `list` and `help` included, and the sqlite3
backend creates the file on open: on a fresh checkout `doit list` wrote `.doit.db`, which breaks
"the menu does no work and writes nothing". This is doit's own sqlite3 backend (rows written only
for the tasks a run changed, crash-safe commits) with the connection made on first use; it is
registered as a doit backend plugin by an entry point in `pyproject.toml`, so `doit -f …/dodo.py` from
another directory finds it too.
"""

from __future__ import annotations

import sqlite3
from functools import cached_property

from doit.dependency import SqliteDB


class LazySqliteDB(SqliteDB):
    """SqliteDB that connects on first use, so commands that never touch task state write nothing."""

    desc = "sqlite3, opened on first use"

    def __init__(self, name: str, codec, *, module_name: str | None = None) -> None:
        self.name = name
        self.codec = codec
        self._cache: dict = {}
        self._dirty: set = set()

    @cached_property
    def _conn(self) -> sqlite3.Connection:
        return self._sqlite3(self.name)

    def dump(self) -> None:
        """Commit and close; a database never opened and with nothing to write stays unopened."""
        if "_conn" not in self.__dict__ and not self._dirty:
            return
        super().dump()
