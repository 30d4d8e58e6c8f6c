"""Guarded compatibility shim so that suite2p can be imported next to a mismatched torchvision.

Why: suite2p 1.1 imports cellpose, which imports torchvision. When the installed torchvision
wheel does not match torch (here a CUDA torchvision 0.28 next to CPU torch 2.13), torchvision's
compiled extension ``_C.so`` fails to load, and ``torchvision/_meta_registrations.py`` then calls
``torch.library.register_fake("torchvision::nms")`` (and ``qnms``) *unconditionally* — which
raises ``RuntimeError: operator torchvision::nms does not exist`` and aborts ``import torchvision``
(and with it ``import suite2p``).

What: before torchvision's first import, and only if its extension cannot be loaded, we define
the *schemas* of those two operators in a ``torch.library`` fragment. torchvision's fake (meta)
registrations then succeed; the operators have no real kernel, so calling
``torchvision.ops.nms`` still raises torchvision's own "Couldn't load custom C++ ops" error.
Neither suite2p's registration/detection/extraction nor cellpose's transforms used here call
them. Nothing else in torch or torchvision is changed, and nothing is done when torchvision
loads normally (a matching wheel) or was already imported.

This module is imported only by the suite2p route of :mod:`thalamocortex.preprocess`;
``import thalamocortex`` never imports torch.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

#: operators torchvision registers fake kernels for without checking that its extension loaded
_UNGUARDED_OPS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_fragment = None  # keeps the torch.library fragment (and its definitions) alive
_state: dict[str, object] = {"applied": False, "reason": "not run"}


def _extension_loads() -> bool:
    """Whether torchvision's compiled extension loads next to this torch."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True  # no torchvision: nothing to fix
    import torch

    root = Path(list(spec.submodule_search_locations)[0])
    candidates = sorted(root.glob("_C*.so")) + sorted(root.glob("_C*.pyd"))
    if not candidates:
        return False
    try:
        torch.ops.load_library(str(candidates[0]))
    except (OSError, RuntimeError, ImportError):
        return False
    return True


def ensure_torchvision_importable() -> dict[str, object]:
    """Apply the shim if needed; returns ``{"applied": bool, "reason": str}``.

    Idempotent. Safe to call when torchvision is absent, already imported or working.
    """
    global _fragment
    if _state["applied"] or "torchvision" in sys.modules:
        if not _state["applied"]:
            _state["reason"] = "torchvision already imported"
        return dict(_state)
    if _extension_loads():
        _state["reason"] = "torchvision extension loads; no shim needed"
        return dict(_state)
    import torch

    missing = [n for n in _UNGUARDED_OPS if not hasattr(torch.ops.torchvision, n)]
    if missing:
        _fragment = torch.library.Library("torchvision", "FRAGMENT")  # noqa: TOR901
        for name in missing:
            _fragment.define(_UNGUARDED_OPS[name])
    _state["applied"] = True
    _state["reason"] = f"torchvision extension does not load; defined schemas of {missing}"
    return dict(_state)


def import_suite2p():
    """``import suite2p`` with the shim applied first; raises ImportError with advice."""
    try:
        ensure_torchvision_importable()
        import suite2p
    except ImportError as err:
        raise ImportError(
            "the raw-movie route needs suite2p and torch: pip install 'thalamocortex[imaging]'"
        ) from err
    return suite2p
