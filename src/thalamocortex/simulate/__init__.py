"""The in-silico experiment: a generative model of the whole study with ground truth.

* :mod:`.params` -- :class:`SimulationConfig`, :func:`preset` ("tiny", "demo", "paper"),
  :meth:`SimulationConfig.null` (every learning effect off) and ``effect_scale``;
* :mod:`.behavior` -- learning curve, learned trajectory, trials, lever;
* :mod:`.circuits` -- input axons and M1 L2/3 neurons, thalamic weights, photostimulation;
* :mod:`.measurement` -- spikes -> indicator -> F / Fneu with noise, neuropil and artefacts;
* :mod:`.cohort` -- :func:`simulate_session` (in memory) and :func:`simulate_cohort` (NWB
  dataset + ``ground_truth/``).
"""

from thalamocortex.simulate.cohort import cohort_design, simulate_cohort, simulate_session
from thalamocortex.simulate.params import SimulationConfig, preset

__all__ = ["SimulationConfig", "cohort_design", "preset", "simulate_cohort", "simulate_session"]
