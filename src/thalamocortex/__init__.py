"""thalamocortex: motor learning, M1 and its inputs — analysis pipeline and in-silico experiment.

Implements the experimental system of Ramot, Taschbach et al., "Motor learning refines thalamic
influence on motor cortex", Nature 643:725-734 (2025).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("thalamocortex")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
