"""The ``dataset`` stage: the sessions table of the dataset, for the report and provenance."""

from __future__ import annotations


def run(ctx) -> None:
    table = ctx.sessions.copy()
    table["path"] = table["path"].astype(str)
    ctx.write_table(table, "sessions")
