"""Calibrating the simulator to a recording (`realism --fit`): parameter recovery on a simulated
"recording" with known measurement parameters, and the fitted YAML works with simulate."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from thalamocortex.config import load_yaml
from thalamocortex.realism.fit import FIT_MAP, base_config, fit_simulator, simulated_soma_statistics
from thalamocortex.simulate.params import SimulationConfig

FRAME_RATE = 15.0  # half the frames of 30 Hz: the suite stays fast
#: the "rig" to recover: a dim, neuropil-heavy preparation with big, rare bursts
TRUTH = {
    "measurement": {"neuropil_photon_rate": 1.2},
    "field": {"soma_brightness": 0.22},
    "m1": {"spiking": {"burst_size_mean": 10.0, "burst_rate_hz": 0.02}},
}


def _errors(medians: dict, target: dict) -> dict:
    return {k: abs(np.log(medians[k] / target[k])) for k in target}


def test_fit_recovers_a_known_rig_and_its_yaml_simulates_closer(tmp_path):
    recording = base_config(FRAME_RATE, seed=11).with_overrides(TRUTH)
    rec_table = simulated_soma_statistics(recording)
    target = {k: float(np.nanmedian(rec_table[k])) for k in FIT_MAP}
    result = fit_simulator(target, FRAME_RATE, iterations=6, seed=0)
    assert len(result.history) <= 6 and result.history["chosen"].sum() == 1

    # the YAML is what `thalamocortex simulate --config` reads (validated, deep-merged)
    path = tmp_path / "fit.yaml"
    path.write_text(result.to_yaml())
    assert yaml.safe_load(path.read_text()) == result.overrides
    fitted_cfg = load_yaml(SimulationConfig, path)
    assert fitted_cfg.measurement.frame_rate_hz == FRAME_RATE
    over = fitted_cfg.model_dump(exclude_unset=True)

    # simulated with the fitted parameters (another seed), the statistics move to the target
    before = simulated_soma_statistics(base_config(FRAME_RATE, seed=5))
    after = simulated_soma_statistics(base_config(FRAME_RATE, seed=5).with_overrides(over))
    e0 = _errors({k: float(np.nanmedian(before[k])) for k in target}, target)
    e1 = _errors({k: float(np.nanmedian(after[k])) for k in target}, target)
    for k in target:
        assert e1[k] < e0[k], k
        assert e1[k] < np.log(1.5), (k, e1[k])  # within 50 % after 6 simulations
    # and the parameters toward the rig's (defaults: 2.2 photons/us, 0.38, 6 spikes, 0.05 Hz).
    # The burst size and rate are not asserted: photon budget, soma brightness, burst size and
    # burst rate trade off against each other (the elasticity matrix's smallest singular value
    # is ~0.01), so the statistics do not pin them down (measured: burst size 5.6 for the rig's
    # 10; burst rate 0.073 for the rig's 0.02 since issue 12's balanced feed-forward inhibition
    # changed the control neurons' task activity -- < 0.04 was asserted before -- while every
    # statistic still lands within 50 % of the rig's above)
    assert 0.8 < result.overrides["measurement"]["neuropil_photon_rate"] < 1.6  # rig 1.2
    assert 0.15 < result.overrides["field"]["soma_brightness"] < 0.3  # rig 0.22
    assert result.elasticity is not None
    assert result.elasticity.loc["fneu_over_f", "field.soma_brightness"] < -0.1


def test_fit_needs_a_target():
    with pytest.raises(ValueError, match="no finite positive target"):
        fit_simulator({"noise_sd": np.nan, "skewness": 1.0}, 30.0)
