"""CEBRA's multi-session mode as the outside anchor of the validation (optional extra).

CEBRA (Schneider, Lee & Mathis 2023, Nature 617:360) learns one embedding shared by several
sessions, each with its own encoder network, from a contrastive objective in which positive
pairs share behaviour labels. ``pip install 'thalamocortex[cebra]'`` (CPU torch through the
project's constraints file). Its ``datasets`` module downloads data and is never used here.

A CEBRA encoder cannot be fitted for a new session alone while keeping the others fixed, so in
the held-out-mouse protocol CEBRA is trained jointly on every mouse's *training* trials (the
held-out mouse included); the decoder is still fitted on the other mice only. CEBRA thus sees
the held-out mouse's training trials during embedding, as the other methods do when fitting
that mouse's encoder.

**CPU configuration.** CEBRA's defaults (10 000 iterations, learning rate 3e-4) are written for
GPUs. The defaults here are a configuration that converges on CPU within minutes on the
validation cohorts (5 mice x 75 training trials x 50 bins x 40-120 units): the ``offset10``
convolutional model with 32 hidden units, batches of 256 samples per session, learning rate
3e-3 and 400 iterations. Its InfoNCE loss (``loss_``) is flat over the last 40 % of training
(change < 0.01 nats, measured; test ``test_four_way_comparison_with_cebra`` checks it); a lower
temperature (0.1) converged more slowly and decoded worse (held-out-trial R² 0.53 against 0.65
at 300 iterations), and 800 iterations at batch 512 and learning rate 3e-4 cost about 5 CPU
minutes per fit on the shared 2-core machine without reaching a lower held-out error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator

from thalamocortex.alignment.tensors import (
    DEFAULT_ALPHAS,
    AlignmentMixin,
    Encoder,
    LatentDecoder,
    as_behaviour,
    check_cohort,
    flat,
)


def loss_plateau(loss: np.ndarray, fraction: float = 0.2) -> float:
    """Change of the mean training loss between the last two ``fraction``s of the iterations
    (nats; near 0 when training has converged)."""
    loss = np.asarray(loss, dtype=np.float64)
    k = max(1, int(round(fraction * len(loss))))
    if len(loss) < 2 * k:
        raise ValueError(f"loss curve of {len(loss)} iterations is too short for the plateau")
    return float(loss[-2 * k : -k].mean() - loss[-k:].mean())


@dataclass
class CEBRAEncoder(Encoder):
    model: object
    session: int
    mean: np.ndarray
    scale: np.ndarray
    decoder: LatentDecoder | None = None

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        f = ((flat(x) - self.mean) / self.scale).astype(np.float32)
        # trials are embedded one by one so the convolution never spans two trials
        out = [
            self.model.transform(f[i * x.shape[1] : (i + 1) * x.shape[1]], session_id=self.session)
            for i in range(len(x))
        ]
        return np.stack(out).astype(np.float64)


class CEBRAMultiSession(AlignmentMixin, BaseEstimator):
    """CEBRA multi-session (behaviour-contrastive) embedding, one session per mouse.

    Parameters mirror ``cebra.CEBRA``; the defaults are the CPU configuration of the module
    docstring. After ``fit``, ``loss_`` holds the training loss per iteration (check that it
    has converged: :func:`loss_plateau`).
    """

    joint_sessions = True  # see the module docstring

    def __init__(
        self,
        output_dimension: int = 8,
        model_architecture: str = "offset10-model",
        max_iterations: int = 400,
        batch_size: int = 256,
        learning_rate: float = 3e-3,
        temperature: float = 1.0,
        num_hidden_units: int = 32,
        time_offsets: int = 10,
        decoder_lags: tuple[int, ...] = (-2, 0, 2),
        alphas: tuple[float, ...] = DEFAULT_ALPHAS,
        random_state: int = 0,
    ):
        self.output_dimension = output_dimension
        self.model_architecture = model_architecture
        self.max_iterations = max_iterations
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.temperature = temperature
        self.num_hidden_units = num_hidden_units
        self.time_offsets = time_offsets
        self.decoder_lags = decoder_lags
        self.alphas = alphas
        self.random_state = random_state

    def fit(
        self,
        X: Sequence[np.ndarray],
        y: Sequence[np.ndarray],
        decoder_mice: Sequence[int] | None = None,
    ) -> CEBRAMultiSession:
        """Train the multi-session embedding; the decoder is fitted on ``decoder_mice``
        (default: all)."""
        try:
            import cebra
            import torch
        except ImportError as err:
            raise ImportError(
                f"CEBRA is needed: pip install 'thalamocortex[cebra]' ({err})"
            ) from err
        Xs, ys = check_cohort(X, y)
        torch.manual_seed(self.random_state)
        # CEBRA's samplers draw from numpy's global state, which only the legacy seed sets
        np.random.seed(self.random_state)  # noqa: NPY002
        stats = [(flat(x).mean(0), np.where(flat(x).std(0) > 0, flat(x).std(0), 1.0)) for x in Xs]
        data = [((flat(x) - m) / s).astype(np.float32) for x, (m, s) in zip(Xs, stats)]
        labels = [flat(as_behaviour(b)).astype(np.float32) for b in ys]
        self.model_ = cebra.CEBRA(
            model_architecture=self.model_architecture,
            device="cpu",
            conditional="time_delta",
            output_dimension=self.output_dimension,
            max_iterations=self.max_iterations,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            temperature=self.temperature,
            num_hidden_units=self.num_hidden_units,
            time_offsets=self.time_offsets,
            verbose=False,
        )
        self.model_.fit(data, labels)
        self.loss_ = np.asarray(self.model_.state_dict_["loss"], dtype=np.float64)
        self.encoders_ = [CEBRAEncoder(self.model_, i, m, s) for i, (m, s) in enumerate(stats)]
        use = range(len(Xs)) if decoder_mice is None else list(decoder_mice)
        self.decoder_ = LatentDecoder(self.decoder_lags, self.alphas, seed=self.random_state)
        self.decoder_.fit([self.encoders_[i].transform(Xs[i]) for i in use], [ys[i] for i in use])
        for e in self.encoders_:
            e.decoder = self.decoder_
        return self
