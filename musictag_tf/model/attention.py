"""Where cnn_sam listened: its SelfAttention weights mapped onto seconds (issue 13, item 6).

``attention_model(model, spec)`` wraps a built or loaded cnn_sam (logits outputs, as trained)
into a model with the same inputs and, besides the tag probabilities, the outputs below
(``with_attention`` adds them to a model's own outputs instead: the SavedModel export):

    attention_weights      float32 [batch, r, K]  the r = ModelParams.attention_heads rows of A
                                                  over the K segment slots (rows sum to 1 over
                                                  the used slots, 0 on unused ones)
    segment_start_seconds  float32 [batch, K]     start of each slot within the window, s
    segment_end_seconds    float32 [batch, K]     end of each slot, s; both -1 for unused slots

The segments are the model's own: the adaptive segments (``AdaptiveSegmentPooling``'s ids from
the window's log-mel, contiguous runs of model steps) or the fixed chunks
(``FixedChunkPooling``: step t of T in chunk floor(t·K/T)). A model step covers
``time_downsample`` log-mel frames, so step s starts at ``s · time_downsample / frame_rate_hz``.
Nothing is retrained or changed: ``A`` comes from a copy of the trained SelfAttention layer
(same config, ``return_attention=True``, the trained weights copied) applied to the trained
BiLSTM's outputs, so runs trained before this module existed load and explain as they are.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from musictag_tf.audio.segmentation import AdaptiveSegmentPooling
from musictag_tf.model import layers as mt_layers
from musictag_tf.params import ConfigError

OUTPUTS = ("attention_weights", "segment_start_seconds", "segment_end_seconds")


@keras.saving.register_keras_serializable(package="musictag")
class SegmentBounds(keras.layers.Layer):
    """Segment ids int [batch, T] -> (start s, end s) float32 [batch, K]; -1 for empty slots.

    Slot k spans model steps [min{t: id_t = k}, max{t: id_t = k} + 1) times ``seconds_per_step``.
    """

    def __init__(self, max_segments: int, seconds_per_step: float, **kwargs):
        super().__init__(**kwargs)
        self.max_segments = int(max_segments)
        self.seconds_per_step = float(seconds_per_step)

    def call(self, ids):
        onehot = tf.one_hot(tf.cast(ids, tf.int32), self.max_segments, dtype=tf.float32)  # [B, T, K]
        steps = tf.cast(tf.range(tf.shape(ids)[1]), tf.float32)[None, :, None]
        present = tf.reduce_max(onehot, axis=1) > 0.5  # [B, K]
        big = tf.cast(tf.shape(ids)[1], tf.float32)
        start = tf.reduce_min(onehot * steps + (1.0 - onehot) * big, axis=1)
        end = tf.reduce_max(onehot * (steps + 1.0), axis=1)
        start = tf.where(present, start * self.seconds_per_step, -1.0)
        end = tf.where(present, end * self.seconds_per_step, -1.0)
        return start, end

    def get_config(self):
        return {**super().get_config(), "max_segments": self.max_segments, "seconds_per_step": self.seconds_per_step}


@keras.saving.register_keras_serializable(package="musictag")
class AdaptiveSegmentIds(keras.layers.Layer):
    """[frame_features [B, T, C], log_mel [B, frames, n_mels]] -> int32 ids [B, T] (cnn_sam's segments)."""

    def __init__(self, pooling_config: dict, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.pooling_config = dict(pooling_config)
        config = {k: v for k, v in self.pooling_config.items() if k not in ("name", "trainable", "dtype")}
        self._pooling = AdaptiveSegmentPooling(**config)

    def build(self, input_shape):  # no weights: the segmentation is a fixed function of the log-mel
        self._pooling.built = True

    def call(self, inputs):
        features, log_mel = inputs
        steps = features.shape[1] if features.shape[1] is not None else tf.shape(features)[1]
        return self._pooling.segment_ids(log_mel, steps)

    def get_config(self):
        return {**super().get_config(), "pooling_config": self.pooling_config}


@keras.saving.register_keras_serializable(package="musictag")
class FixedChunkIds(keras.layers.Layer):
    """frame_features [B, T, C] -> int32 ids [B, T], step t of T in chunk floor(t·K/T)."""

    def __init__(self, chunks: int, **kwargs):
        super().__init__(**kwargs)
        self.chunks = int(chunks)

    def call(self, features):
        steps = features.shape[1]
        owner = tf.constant((np.arange(steps) * self.chunks) // steps, tf.int32)
        return tf.tile(owner[None], [tf.shape(features)[0], 1])

    def get_config(self):
        return {**super().get_config(), "chunks": self.chunks}


def attention_outputs(model: keras.Model, spec) -> dict:
    """The OUTPUTS of the module docstring as Keras tensors of ``model``'s graph.

    ``model``: a built or loaded cnn_sam, with logits outputs or its ``variants.with_activations``
    copy (the attention does not depend on the heads' activations). ``spec``: the run's
    variants.ModelSpec. ConfigError for a model without SelfAttention.
    """
    if not has_attention(model):
        raise ConfigError(f"{model.name}: no self-attention over segments to show (cnn_sam only)")
    names = {layer.name for layer in model.layers}
    trained = model.get_layer("self_attention")
    frames = model.get_layer("audio_steps").output  # [B, T, C]
    sequence = model.get_layer("bilstm").output  # [B, K, 2u]
    seconds_per_step = spec.model.time_downsample / spec.audio.frame_rate_hz
    if "adaptive_segments" in names:
        pooling = model.get_layer("adaptive_segments")
        _, mask = pooling.output
        log_mel = model.get_layer("log_mel").output
        ids = AdaptiveSegmentIds(pooling.get_config(), name="segment_ids")([frames, log_mel])
        slots = pooling.max_segments
    else:
        chunks = model.get_layer("fixed_chunks")
        _, mask = chunks.output
        ids = FixedChunkIds(chunks.chunks, name="segment_ids")(frames)
        slots = chunks.chunks
    copy = mt_layers.SelfAttention(**{**trained.get_config(), "return_attention": True, "penalty": 0.0,
                                      "name": "attention_weights_of_self_attention"})
    _, weights = copy(sequence, mask=mask)
    copy.set_weights(trained.get_weights())
    start, end = SegmentBounds(slots, seconds_per_step, name="segment_bounds")(ids)
    return {"attention_weights": keras.layers.Activation("linear", dtype="float32", name="attention")(weights),
            "segment_start_seconds": start, "segment_end_seconds": end}


def has_attention(model: keras.Model) -> bool:
    """True for a model ``attention_outputs`` can explain (cnn_sam: SelfAttention over BiLSTM segments)."""
    names = {layer.name for layer in model.layers}
    return "self_attention" in names and "bilstm" in names


def attention_model(model: keras.Model, spec) -> keras.Model:
    """cnn_sam (logits) -> model with ``tags`` probabilities and the OUTPUTS of the module docstring.

    ``spec``: the run's variants.ModelSpec. ConfigError for a model without SelfAttention.
    """
    extra = attention_outputs(model, spec)
    outputs = {"tags": keras.layers.Activation("sigmoid", dtype="float32", name="tags_probabilities")(
                   model.output["tags"]), **extra}
    return keras.Model(model.inputs, outputs, name=f"{model.name}_attention")


def with_attention(model: keras.Model, spec) -> keras.Model:
    """``model``'s dict outputs (e.g. the probability heads of ``variants.with_activations``) plus
    the OUTPUTS of the module docstring, in one forward pass (the export's serving graph)."""
    return keras.Model(model.inputs, {**model.output, **attention_outputs(model, spec)},
                       name=f"{model.name}_attention")
