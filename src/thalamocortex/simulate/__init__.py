"""The in-silico experiment: a generative model of the whole study with ground truth.

Modules in the order data flows (each imports only the ones above it):

* :mod:`.params` -- :class:`SimulationConfig`, :func:`preset` ("tiny", "demo", "paper"),
  :meth:`SimulationConfig.null` (kinds "zero" and "varied") and ``effect_scale``;
* :mod:`.effects` -- each mouse's own multiplier of every learning-related change;
* :mod:`.motor` -- the motor process: sub-movements of a low-dimensional latent, plans that
  are learned, variability that shrinks with learning, the lever readout;
* :mod:`.behavior` -- learning curve, task (cues, reaction times, outcomes), lever;
* :mod:`.activity` -- sparse bursty spiking and the calcium indicators (GCaMP6s/7f/8m);
* :mod:`.circuits` -- input axons and M1 L2/3 neurons driven by the movements and latents,
  thalamic weights, photostimulation;
* :mod:`.fov` -- the field of view (somata, boutons, neuropil, neurites, vessels, ...);
* :mod:`.scene` -- the field's components with their time courses, the photon budget;
* :mod:`.measurement` -- trace-level F / Fneu of the scene with shot and read noise;
* :mod:`.movies` -- raw movies of the same scene with motion, light and noise;
* :mod:`.cohort` -- :func:`simulate_session` (in memory), :func:`simulate_cohort` (NWB
  dataset + ``ground_truth/``) and :func:`write_cohort_movies`.
"""

from thalamocortex.simulate.cohort import (
    cohort_design,
    simulate_cohort,
    simulate_session,
    write_cohort_movies,
)
from thalamocortex.simulate.params import SimulationConfig, preset

__all__ = [
    "SimulationConfig",
    "cohort_design",
    "preset",
    "simulate_cohort",
    "simulate_session",
    "write_cohort_movies",
]
