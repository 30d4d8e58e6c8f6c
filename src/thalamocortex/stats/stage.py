"""The ``stats`` stage: the study's primary tests in one table, with a sentence per claim.

Each analysis stage computes its own tests in the layout of :mod:`thalamocortex.stats.primary`
(encoding: region x learning and the region comparison; opto: expert enrichment and drive
refinement; inactivation: the learned movement; behavior: learning). This stage reads them and
writes under ``results/stats/``:

``tests``           every test row of every stage (primary and secondary), with its stage
``primary_tests``   the declared primary tests only (one per claim; a family of regions for
                    region x learning), the table the report and ``thalamocortex validate`` use
``headlines``       one sentence per primary claim: estimate, CI, n mice, test, p
"""

from __future__ import annotations

import pandas as pd

from thalamocortex.stats.primary import PRIMARY, TEST_TABLES, collect_tests, headlines


def run(ctx) -> None:
    tables = {}
    for stage, name in TEST_TABLES:
        path = ctx.results / stage / f"{name}.parquet"
        tables[(stage, name)] = pd.read_parquet(path) if path.is_file() else None
    tests = collect_tests(tables)
    primary = tests[tests["role"] == PRIMARY].reset_index(drop=True)
    ctx.write_table(tests, "tests")
    ctx.write_table(primary, "primary_tests")
    heads = headlines(primary, ctx.config.stats.alpha, ctx.config.stats.ci_level)
    ctx.write_table(heads, "headlines")
    for s in heads["sentence"]:
        ctx.log(s)
