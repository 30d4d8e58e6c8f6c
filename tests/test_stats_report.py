"""The report's primary-tests section: headlines, a captioned forest figure, the table."""

from __future__ import annotations

import html

import pandas as pd

from thalamocortex.report.html import build_report
from thalamocortex.stats.params import StatsParams
from thalamocortex.stats.primary import PRIMARY, headlines
from thalamocortex.validate.cohorts import TableDesign, table_tests


def test_stats_section_has_headlines_captioned_figure_and_table(tmp_path):
    tests = table_tests(3, "effect", TableDesign(), StatsParams())
    primary = tests[tests["role"] == PRIMARY].reset_index(drop=True)
    heads = headlines(primary)
    out = tmp_path / "results" / "stats"
    out.mkdir(parents=True)
    primary.to_parquet(out / "primary_tests.parquet")
    heads.to_parquet(out / "headlines.parquet")
    page = build_report(tmp_path / "results").read_text()
    start = page.index("<h2>Primary tests (mice as the unit)</h2>")
    section = page[start : page.index("</section>", start)]
    assert "<pre class='err'>" not in section
    for sentence in heads["sentence"]:
        assert html.escape(sentence) in section
    assert "<figcaption><b>Primary tests: estimate and 95 % CI per claim.</b>" in section
    figs = tmp_path / "results" / "figures"
    assert (figs / "stats_primary_tests.png").is_file()
    assert (figs / "stats_primary_tests.svg").is_file()
    # every claim's primary rows are in the table
    assert all(c in section for c in set(primary["claim"]))
    assert len(pd.read_parquet(out / "primary_tests.parquet")) == len(primary)
