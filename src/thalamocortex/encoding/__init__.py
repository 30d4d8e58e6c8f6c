"""Movement encoding of inputs and M1 neurons: movement-related ROIs, peri-movement tensors and
timing, reliability, and decoding of the lever trajectory."""

# config imports every stage's params module; importing it first keeps
# ``from thalamocortex.encoding.params import EncodingParams`` free of a circular import
import thalamocortex.config  # noqa: F401
