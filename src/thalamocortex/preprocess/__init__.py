"""preprocess: raw movies -> ROIs -> dF/F and events; artefacts, boutons -> axons, tracking.

Nothing here imports torch or suite2p at import time; the suite2p route imports them lazily.
"""
