"""Errors raised on bad input data."""

from __future__ import annotations


class DataError(ValueError):
    """Input data are missing, malformed or inconsistent.

    The message names the file (when there is one), the field, and what was expected.
    """

    def __init__(self, message: str, path: object | None = None, field: str | None = None):
        self.path = None if path is None else str(path)
        self.field = field
        where = []
        if self.path:
            where.append(self.path)
        if field:
            where.append(f"field {field!r}")
        super().__init__(f"{': '.join(where)}: {message}" if where else message)
