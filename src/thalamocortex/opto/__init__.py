"""opto: photostimulation responses, thalamus-driven / suppressed M1 neurons, their relation to
movement encoding, and the effect of inactivating thalamic inputs on behaviour."""
