"""Movement encoding of inputs and M1 neurons: movement-related ROIs, peri-movement tensors and
timing, reliability, and decoding of the lever trajectory."""
