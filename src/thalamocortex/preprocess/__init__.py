"""preprocess: raw movies -> ROIs -> dF/F and events; artefacts, boutons -> axons, tracking.

Nothing here imports torch or suite2p at import time; the suite2p route imports them lazily.
"""

# config.py imports every stage's params module; loading it first avoids a circular import
# when a preprocess submodule is the first thing imported (params -> config -> params).
import thalamocortex.config  # noqa: F401
