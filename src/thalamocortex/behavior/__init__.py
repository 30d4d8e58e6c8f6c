"""Lever behaviour and motor learning: movement parsing, trials, learning metrics, template.

Public API (imported lazily, on first use):

- :func:`detect_movements`, :func:`parse_lever` — lever movement bouts;
- :func:`analyse_session`, :func:`rewarded_movement_onsets` — per-trial movement timing;
- :mod:`thalamocortex.behavior.learning` — stereotypy, session matrix, template, similarity.
"""

from __future__ import annotations

_EXPORTS = {
    "detect_movements": "thalamocortex.behavior.parse",
    "parse_lever": "thalamocortex.behavior.parse",
    "LeverParse": "thalamocortex.behavior.parse",
    "analyse_session": "thalamocortex.behavior.session",
    "rewarded_movement_onsets": "thalamocortex.behavior.session",
    "SessionBehavior": "thalamocortex.behavior.session",
    "trial_table": "thalamocortex.behavior.trials",
    "template_for": "thalamocortex.behavior.learning",
    "BehaviorParams": "thalamocortex.behavior.params",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'thalamocortex.behavior' has no attribute {name!r}")
