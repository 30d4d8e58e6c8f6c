"""Parameters of the preprocessing stage (ROIs, neuropil, dF/F, events, merging, tracking)."""

from __future__ import annotations

from thalamocortex.config import ParamGroup, param


class PreprocessParams(ParamGroup):
    neuropil_coefficient: float = param(
        0.7, "", "fixed neuropil coefficient r in F - r*Fneu (field convention ~0.7)", ge=0, le=1.5
    )
