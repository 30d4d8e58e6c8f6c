"""Parameters of the movement-encoding stage."""

from __future__ import annotations

from thalamocortex.config import ParamGroup, param


class EncodingParams(ParamGroup):
    n_shuffles: int = param(
        10000, "resamples", "resamples of the movement-related null (lab: 10,000)", ge=100
    )
