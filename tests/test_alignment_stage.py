"""The ``alignment`` stage on a small simulated cohort, and its report section."""

from __future__ import annotations

import pandas as pd
import pytest

from thalamocortex.alignment.stage import run
from thalamocortex.behavior.stage import run as run_behavior
from thalamocortex.config import Config
from thalamocortex.pipeline.context import StageContext
from thalamocortex.report.sections import alignment as section
from thalamocortex.simulate.cohort import simulate_cohort
from thalamocortex.simulate.params import preset


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("align")
    cfg = preset("tiny")
    cfg.axon_imaging.mice_per_region = 2
    cfg.axon_imaging.sessions = [1, 14]
    cfg.axon_imaging.n_axons = 8
    cfg.behavior.n_trials = 30
    data = simulate_cohort(cfg, root / "data", progress=False, experiments=["axon_imaging"])
    conf = Config()
    conf.alignment.n_permutations = 10
    conf.alignment.min_trials = 6
    run_behavior(StageContext(data, root / "results", conf, "behavior"))
    run(StageContext(data, root / "results", conf, "alignment"))
    return root / "results"


def test_stage_writes_tables_per_region_and_stage(results):
    d = results / "alignment"
    groups = pd.read_parquet(d / "groups.parquet")
    mice = pd.read_parquet(d / "mice.parquet")
    assert set(groups["region"]) == {"MTh", "M2"}
    assert set(groups["stage"]) == {"naive", "expert"}
    assert (groups["n_mice"] == 2).all()
    assert groups["p_shared"].between(1 / 11, 1).all()  # 10 permutations
    # the units are merged axons (8 simulated axons per mouse; merging may split a few)
    assert len(mice) == 8 and mice["n_units"].between(6, 16).all()
    for col in ("decode_r2", "shared_var", "private_var", "lomo_r2"):
        assert mice[col].notna().all(), col
    learn = pd.read_parquet(d / "learning.parquet")
    assert set(learn["region"]) == {"MTh", "M2"} and (learn["n_mice"] == 2).all()


def test_report_section_renders_from_tables(results, tmp_path):
    html = section.render(results, tmp_path)
    assert "<img" in html and "p_shared" in html and "MTh" in html
    assert "<figcaption>" in html and "10 permutations" in html and "MTh naive 2" in html
