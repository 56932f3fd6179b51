"""Late fusion of per-modality predictions (the paper's "linear weighted fusion" baseline)."""

from __future__ import annotations

import keras
from keras import ops

_EPS = 1e-7


@keras.saving.register_keras_serializable(package="musictag")
class LinearWeightedFusion(keras.layers.Layer):
    """p = w * p_audio + (1 - w) * p_lyrics with w = sigmoid(trainable scalar), returned as logits.

    Inputs: ``[audio_logits, lyrics_logits]``, float [batch, classes] each.
    Output: float32 [batch, classes] logits of the fused probabilities — log-odds for
    ``kind="sigmoid"`` (multi-label tags), log-probabilities for ``kind="softmax"`` (a valid
    softmax logit vector, since softmax(log p) = p when p sums to 1).
    The weight starts at 0.5 (``initial_weight``) and is learned with the rest of the model.
    """

    def __init__(self, kind: str = "sigmoid", initial_weight: float = 0.5, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if kind not in ("sigmoid", "softmax"):
            raise ValueError(f"kind must be 'sigmoid' or 'softmax', got {kind!r}")
        if not 0.0 < initial_weight < 1.0:
            raise ValueError(f"initial_weight must be in (0, 1), got {initial_weight}")
        self.kind = kind
        self.initial_weight = float(initial_weight)

    def build(self, input_shape):
        logit = float(ops.convert_to_numpy(ops.log(self.initial_weight / (1.0 - self.initial_weight))))
        self.weight_logit = self.add_weight(
            name="audio_weight_logit", shape=(), initializer=keras.initializers.Constant(logit))

    @property
    def audio_weight(self):
        """w, the share of the audio prediction."""
        return ops.sigmoid(self.weight_logit)

    def _probabilities(self, logits):
        logits = ops.cast(logits, "float32")
        return ops.sigmoid(logits) if self.kind == "sigmoid" else ops.softmax(logits, axis=-1)

    def call(self, inputs):
        audio_logits, lyrics_logits = inputs
        w = self.audio_weight
        p = w * self._probabilities(audio_logits) + (1.0 - w) * self._probabilities(lyrics_logits)
        p = ops.clip(p, _EPS, 1.0 - _EPS)
        if self.kind == "sigmoid":
            return ops.log(p) - ops.log1p(-p)
        return ops.log(p)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "initial_weight": self.initial_weight}
