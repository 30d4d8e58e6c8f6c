"""The registry of pipeline stages, in dependency order.

Each stage is a function ``run(ctx: StageContext) -> None`` in its own package. The CLI creates
one sub-command per stage, and ``thalamocortex run``/``demo`` run them all in order.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StageSpec:
    """One registered stage.

    Attributes
    ----------
    target : str
        ``"module:function"`` of ``run(ctx)``.
    requires : tuple of str
        Stages whose results it reads (run first; their digests enter its digest).
    help : str
        One line for the CLI.
    params : tuple of str, optional
        The parameter groups the stage reads (``"behavior"``, or a sub-group such as
        ``"opto.inactivation"``); ``data`` (the NWB names) is always included. Only these
        enter the stage's resume digest, and ``ctx.config`` refuses to read others. None =
        the whole config (every change reruns the stage).
    raw_inputs : bool
        The stage reads raw data beside the session files (movies, suite2p folders): their
        content enters its digest.
    """

    target: str  # "module:function"
    requires: tuple[str, ...] = ()
    help: str = ""
    params: tuple[str, ...] | None = None
    raw_inputs: bool = False

    def load(self) -> Callable:
        mod, func = self.target.split(":")
        return getattr(importlib.import_module(mod), func)


STAGES: dict[str, StageSpec] = {
    "dataset": StageSpec(
        "thalamocortex.pipeline.dataset_stage:run",
        help="sessions table of the dataset",
        params=(),
    ),
    "preprocess": StageSpec(
        "thalamocortex.preprocess.stage:run",
        help="raw movies/suite2p folders -> ROIs; dF/F once per session (artefact frames "
        "blanked); boutons -> axons; cross-session tracking",
        params=("preprocess",),
        raw_inputs=True,
    ),
    "behavior": StageSpec(
        "thalamocortex.behavior.stage:run",
        help="lever movements, trials, learning metrics and the learned template per mouse",
        params=("behavior", "stats"),
    ),
    "encoding": StageSpec(
        "thalamocortex.encoding.stage:run",
        requires=("preprocess", "behavior"),
        help="movement encoding of inputs and M1 across learning",
        params=("encoding", "behavior", "preprocess", "stats"),
    ),
    "opto": StageSpec(
        "thalamocortex.opto.stage:run_opto",
        requires=("preprocess", "encoding"),
        help="photostimulation-driven/suppressed M1 neurons and their relation to encoding",
        params=("opto", "preprocess", "stats"),
    ),
    "alignment": StageSpec(
        "thalamocortex.alignment.stage:run",
        requires=("preprocess", "behavior"),
        help="shared movement-relevant representations across mice per region and stage",
        params=("alignment", "encoding", "preprocess", "stats"),
    ),
    "inactivation": StageSpec(
        "thalamocortex.opto.stage:run_inactivation",
        requires=("behavior",),
        help="light-on vs light-off behaviour when thalamic inputs to M1 are silenced",
        params=("opto.inactivation", "stats"),
    ),
    "stats": StageSpec(
        "thalamocortex.stats.stage:run",
        requires=("behavior", "encoding", "opto", "inactivation"),
        help="the primary mouse-level test of every claim and a headline sentence per claim",
        params=("stats",),
    ),
}


def ancestors(name: str) -> set[str]:
    """Every stage ``name`` requires, directly or through others."""
    out: set[str] = set()
    todo = list(STAGES[name].requires)
    while todo:
        n = todo.pop()
        if n not in out:
            out.add(n)
            todo.extend(STAGES[n].requires)
    return out


def ordered(names: list[str] | None = None) -> list[str]:
    """Stage names in dependency order (all stages when ``names`` is None)."""
    wanted = list(STAGES) if names is None else list(names)
    out: list[str] = []

    def visit(n: str, stack: tuple[str, ...] = ()) -> None:
        if n not in STAGES:
            raise KeyError(f"unknown stage {n!r}; known: {list(STAGES)}")
        if n in stack:
            raise ValueError(f"stage dependency cycle: {stack + (n,)}")
        for r in STAGES[n].requires:
            visit(r, stack + (n,))
        if n not in out:
            out.append(n)

    for n in wanted:
        visit(n)
    return out
