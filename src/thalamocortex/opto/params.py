"""Parameters of photostimulation mapping and inactivation analyses."""

from __future__ import annotations

from thalamocortex.config import ParamGroup, param


class OptoParams(ParamGroup):
    fdr_alpha: float = param(
        0.05, "", "Benjamini-Hochberg FDR level within each population", gt=0, lt=1
    )
