"""opto: photostimulation responses, thalamus-driven / suppressed M1 neurons, their relation to
movement encoding, and the effect of inactivating thalamic inputs on behaviour."""

# config imports every stage's params module at import time; importing it first here keeps
# ``import thalamocortex.opto.<module>`` from hitting that circular import half-way.
import thalamocortex.config  # noqa: F401
