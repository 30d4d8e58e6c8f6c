"""Learning-related effects per mouse: the population change and each mouse's own change.

Every learning-related quantity of the generative model (an *effect*, listed in
:data:`EFFECTS` with the switch of :class:`~.params.EffectSwitches` that controls it) takes the
value

    value_m(p) = naive + k[m, e] * p * (expert - naive)

in a session of mouse ``m`` at learning progress ``p``, where ``expert - naive`` is the
configured population change and ``k[m, e]`` the mouse's multiplier of effect ``e``:

* switch on:  ``k = scale(switch) * (1 + effect_mouse_sd * z[m, e])``, ``scale = effect_scale
  x effect_scales[switch]``
  (the population change, scaled per mouse around its mean; ``effect_mouse_sd = 0`` gives
  every mouse exactly the population change);
* switch off: ``k = null_mouse_change_sd * z[m, e]``
  (no population change; ``null_mouse_change_sd = 0`` is the "zero" null in which every change
  is exactly 0, ``> 0`` the "varied" null in which mice change around zero with a spread set
  relative to the configured effect size -- :meth:`~.params.SimulationConfig.null`).

A negative draw of a behavioural effect in the varied null (``k < 0``, :data:`REVERSIBLE`,
``null_negative_change = "reverse"``, the default) runs the mouse's change backwards in time
instead of below the naive value:

    value_m(p) = naive + |k| * (1 - p) * (expert - naive),

so the mouse starts where a mouse with ``+|k|`` ends and returns to the naive value. Its
naive -> expert change is still ``k * (expert - naive)``, and since ``z`` and ``-z`` are
equally likely, every statistic measured as a change between the two stages changes by the
exact negative of what a positive draw's change gives: the null is null for any change
statistic. (Not for a level measured in one stage: a reversed mouse ends naive, so expert-stage
levels move one way only; no varied null built from per-mouse changes avoids that.) Continuing
the line instead (``"extrapolate"``) is not: the plan stage is clipped at the naive plan and
stereotypy is a convex function of the motor variability, so on a behaviour-only bank of 1,200
varied-null mice (calibration design, seed 300) the mean stereotypy change was +0.025 (SE 0.006;
reversed +0.004 +- 0.006; zero null -0.002 +- 0.005) and the behaviour test rejected in 6 of 52
whole-pipeline cohorts (docs/statistics.md).

The input effects are not reversed: the M1 circuit's plasticity and the opto claims read each
stage's inputs, and a reversed mouse's inputs are naive at the expert stage while a positive
draw's are above naive, which moves expert-stage levels one way. Reversing them too (session 7,
78 paired all-optical varied cohorts of the reduced design, same seeds) raised the mean expert
enrichment from +0.45 +- 0.08 (inputs extrapolated) to +0.76 +- 0.08 and the mean drive change
from +0.18 to +0.69 (zero null: +0.11 and -0.03).

``z[m, e] ~ N(0, 1)`` is drawn from its own generator, seeded by the root seed, the mouse and a
hash of the effect name, so adding an effect or a mouse never changes the others' draws.
Inactivation is handled the same way with ``naive = 0`` and ``expert = efficacy``: the mouse's
fraction of thalamic axons silenced by light (in a varied null a negative draw strengthens the
axons instead, which takes nothing from M1's readout of the movement, so the light's change of
the movement there is one-signed; measured negligible -- mean square lever change 1/200 of the
default effect's -- and the primary test's null false-positive rate is unaffected:
docs/statistics.md). The refinement of the thalamic weights
(``m1.refinement``) scales the strength of the plasticity rule: the mouse's rule strength is
``refinement_rate x k`` (m1.py), so its weights change by what the rule makes of it (a
negative draw is an anti-Hebbian rule). Neither of these two is a trajectory over learning
progress, so neither is reversed. The anti-Hebbian draws are not the mirror image of learning
on the measured scale (mean expert enrichment +0.44 over 80 whole-pipeline varied cohorts,
zero null +0.11), so the varied null is not an exact null for the expert-enrichment claim, a
level measured in one stage (its 3-mouse test still held 5/80; docs/statistics.md, session 7).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from thalamocortex.simulate.params import SimulationConfig

#: effect name -> the switch (field of EffectSwitches) that turns it on
EFFECTS: dict[str, str] = {
    "behavior.learned_plan": "behavior_learning",
    "behavior.motor_variability": "behavior_learning",
    "behavior.reaction_time": "behavior_learning",
    "behavior.engagement": "behavior_learning",
    "behavior.spontaneous_rate": "behavior_learning",
    "input.movement_fraction": "input_learning",
    "input.lag": "input_lead_shift",
    "input.reliability": "input_learning",
    "input.encoding": "input_learning",
    "m1.refinement": "m1_refinement",
    "inactivation.efficacy": "inactivation",
}

#: effects whose negative varied-null draws run backwards in time (``null_negative_change =
#: "reverse"``): the behavioural ones; why the others extrapolate: module docstring
REVERSIBLE: frozenset[str] = frozenset(e for e, sw in EFFECTS.items() if sw == "behavior_learning")

#: stream index of the per-mouse effect draws (cohort.py's mouse-level streams are 0..3)
EFFECT_STREAM = 4


def effect_z(seed: int, experiment_index: int, mouse_index: int, name: str) -> float:
    """The standard-normal draw ``z[m, e]`` of one mouse and effect (reproducible)."""
    key = (experiment_index, mouse_index, 0, EFFECT_STREAM, zlib.crc32(name.encode()))
    return float(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key)).normal())


@dataclass(frozen=True)
class MouseEffects:
    """The multipliers ``k[m, e]`` of one mouse (see the module docstring).

    Attributes
    ----------
    k : dict effect name -> multiplier of the population change
    z : dict effect name -> the standard-normal draw behind it (0 for the population)
    reversed : frozenset of the effects whose (negative, varied-null) change runs backwards
    """

    k: dict[str, float]
    z: dict[str, float] = field(default_factory=dict)
    reversed: frozenset[str] = frozenset()

    @classmethod
    def population(cls, cfg: SimulationConfig) -> MouseEffects:
        """The population effects (every mouse's ``z = 0``): ``k = scale(switch)``."""
        return cls({e: cfg.scale(sw) for e, sw in EFFECTS.items()}, dict.fromkeys(EFFECTS, 0.0))

    @classmethod
    def draw(cls, cfg: SimulationConfig, experiment_index: int, mouse_index: int) -> MouseEffects:
        """The multipliers of one mouse, drawn from its seeds."""
        k, z, rev = {}, {}, set()
        reverse = cfg.null_negative_change == "reverse"
        for e, sw in EFFECTS.items():
            z[e] = effect_z(cfg.seed, experiment_index, mouse_index, e)
            on = bool(getattr(cfg.effects, sw))
            if on:
                k[e] = cfg.scale(sw) * (1.0 + cfg.effect_mouse_sd * z[e])
            else:
                k[e] = cfg.null_mouse_change_sd * z[e]
                if reverse and k[e] < 0 and e in REVERSIBLE:
                    rev.add(e)
        return cls(k, z, frozenset(rev))

    def value(self, effect: str, naive: float, expert: float, progress: float) -> float:
        """``naive + k * progress * (expert - naive)`` for this mouse, or, for a reversed
        effect, ``naive + |k| * (1 - progress) * (expert - naive)`` (module docstring)."""
        k = self.k[effect]
        if effect in self.reversed:
            return float(naive + abs(k) * (1.0 - progress) * (expert - naive))
        return float(naive + k * progress * (expert - naive))
