"""Parameters of the behaviour stage (lever parsing, trials, learning metrics)."""

from __future__ import annotations

from thalamocortex.config import ParamGroup, param


class BehaviorParams(ParamGroup):
    resample_hz: float = param(1000.0, "Hz", "lever resampling rate before parsing (lab: 1 kHz)", gt=0)
    lowpass_hz: float = param(
        10.0, "Hz", "4th-order Butterworth low-pass, applied forward-backward", gt=0
    )
