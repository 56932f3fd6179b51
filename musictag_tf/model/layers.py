"""Custom Keras layers that do not depend on the audio front end.

Every layer here is registered for ``.keras`` serialization under the package ``musictag``
and converts to TFLite builtin ops (no Flex / SELECT_TF_OPS).

- :class:`SelfAttention` -- structured self-attention over the BiLSTM states (Lin et al.
  2017, "A Structured Self-attentive Sentence Embedding"), r heads, optional Frobenius
  penalty ``||A A^T - I||_F^2``.
- :class:`MaskedGlobalMaxPool1D` -- max over time that ignores padded steps (the TextCNN
  pool); Keras's ``GlobalMaxPooling1D`` ignores masks.
- :class:`TokenMask` -- token ids -> bool mask of real (non-pad) tokens.
- :class:`LyricsPresence` -- token ids -> ``has_lyrics`` flag per clip.
- :class:`FixedChunkPooling` -- equal-length chunk means, the non-adaptive alternative to
  adaptive segment pooling.
- :class:`MissingLyricsEmbedding` -- swaps the lyrics vector of clips without lyrics for
  one learned "no lyrics" vector, so an instrumental clip is not represented by an
  all-zero (or all-pad) lyrics feature.

Shapes use ``batch`` for clips, ``time`` for sequence steps (audio steps after the
Conv2D/Conv1D front end, or segments), ``tokens`` for lyrics token ids.
"""

from __future__ import annotations

import keras
from keras import ops

# How far below every unmasked score a masked score sits before the softmax. A score is
# W2_r . tanh(...), so |score_r| <= ||W2_r||_1; masked steps get the constant score
# -(||W2_r||_1 + margin) <= min(unmasked scores) - margin: their share of the
# float32 softmax denominator is < steps * exp(-30) ~ steps * 1e-13, below float32
# resolution, and they are then multiplied by 0 (exact zeros). A bounded shift instead of
# -1e9 keeps the score tensor's range small, which full-integer (int8) TFLite quantization
# needs: with -1e9 the calibrated int8 range swallows the real scores (BUILD_NOTES.md).
_MASK_MARGIN = 30.0


@keras.saving.register_keras_serializable(package="musictag")
class SelfAttention(keras.layers.Layer):
    """Structured self-attention (Lin et al. 2017) with ``heads`` attention hops.

    With ``X`` the BiLSTM states of one clip, ``W1: [hidden, features]`` and
    ``W2: [heads, hidden]`` (no biases, as in the paper)::

        A = softmax_time(W2 · tanh(W1 · Xᵀ))     # [heads, time], each row sums to 1
        M = A · X                                # [heads, features]

    Each of the ``heads`` rows of ``A`` is one attention distribution over time; ``M``
    stacks the ``heads`` weighted sums of the states. The layer does not flatten ``M``;
    the model flattens it to ``[batch, heads * features]``.

    Masking: steps where ``mask`` is False get the score ``-(||W2_r||_1 + 30)`` before the
    (float32) softmax -- at least 30 below every unmasked score, since
    ``|score_r| <= ||W2_r||_1`` -- and are multiplied by 0 afterwards, so their
    weight is exactly 0.0 and the unmasked weights equal the softmax over unmasked steps to
    float32 precision. (A bounded shift rather than -1e9 keeps int8 TFLite quantization of
    the scores usable.) A clip
    whose steps are *all* masked has ``A = 0`` and therefore ``M = 0`` (not NaN, not a
    uniform average of padding). The mask can arrive implicitly (Keras mask propagation,
    e.g. from ``Masking`` or ``Embedding(mask_zero=True)``) or explicitly as the
    ``mask=`` call argument; an explicit mask wins.

    Penalty: if ``penalty > 0`` the layer calls ``add_loss(penalty * mean_b
    ||A_b A_bᵀ - I||_F^2)``, the paper's redundancy penalty that pushes the heads to
    attend to different steps. The mean runs over the whole batch; a fully-masked clip
    contributes 0 (its ``A`` is all zero by definition, and a constant ``r`` there would
    only distort the reported loss). The penalty is added on every call (training or
    not); it is cheap (``heads x heads`` per clip) and pruned from inference graphs.

    Mixed precision: ``W1 · Xᵀ``, ``tanh`` and ``A · X`` run in the layer's compute dtype;
    the scores are cast to float32 for masking, softmax and the penalty. Outputs are in
    the compute dtype (float16/bfloat16 under a mixed policy).

    Args:
      heads: r, the number of attention rows (ModelParams.attention_heads).
      hidden: d_a, the width of the scoring MLP (ModelParams.attention_hidden).
      penalty: coefficient of ``||A Aᵀ - I||_F^2`` (ModelParams.attention_penalty); 0 off.
      return_attention: also return ``A``.
      kernel_initializer: initializer of ``W1`` and ``W2``.

    Call args:
      inputs: float ``[batch, time, features]`` (features = 2u for a BiLSTM of u units).
      mask: optional bool ``[batch, time]``, True for real steps.

    Returns:
      ``M``: ``[batch, heads, features]``; with ``return_attention`` the list
      ``[M, A]`` with ``A``: ``[batch, heads, time]``.
    """

    def __init__(self, heads: int = 4, hidden: int = 64, penalty: float = 0.0,
                 return_attention: bool = False, kernel_initializer="glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        if int(heads) <= 0 or int(hidden) <= 0:
            raise ValueError(f"SelfAttention needs heads > 0 and hidden > 0, got "
                             f"heads={heads} hidden={hidden}")
        if float(penalty) < 0:
            raise ValueError(f"SelfAttention penalty must be >= 0, got {penalty}")
        self.heads = int(heads)
        self.hidden = int(hidden)
        self.penalty = float(penalty)
        self.return_attention = bool(return_attention)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError("SelfAttention expects inputs [batch, time, features] with a "
                             f"known feature size, got shape {input_shape}")
        features = int(input_shape[-1])
        # Stored in the paper's orientation: W1 [d_a, 2u], W2 [r, d_a].
        self.w1 = self.add_weight(name="w1", shape=(self.hidden, features),
                                  initializer=self.kernel_initializer)
        self.w2 = self.add_weight(name="w2", shape=(self.heads, self.hidden),
                                  initializer=self.kernel_initializer)

    def call(self, inputs, mask=None):
        x = inputs  # [batch, time, features], compute dtype
        hidden = ops.tanh(ops.matmul(x, ops.transpose(self.w1)))  # [batch, time, d_a]
        scores = ops.matmul(hidden, ops.transpose(self.w2))  # [batch, time, r]
        scores = ops.transpose(ops.cast(scores, "float32"), (0, 2, 1))  # [batch, r, time]

        if mask is None:
            attention = ops.softmax(scores, axis=-1)  # float32 [batch, r, time]
            valid_clip = None
        else:
            step_mask = ops.cast(ops.expand_dims(ops.cast(mask, "bool"), 1), "float32")
            # [r]: every unmasked score of head r lies in [-||W2_r||_1, ||W2_r||_1], so
            # -(||W2_r||_1 + margin) is at least `margin` below all of them. Masked scores
            # are that constant (no dependence on the padding values or their gradients).
            floor = ops.stop_gradient(
                ops.sum(ops.abs(ops.cast(self.w2, "float32")), axis=1) + _MASK_MARGIN)
            scores = scores * step_mask - (1.0 - step_mask) * ops.reshape(
                floor, (1, self.heads, 1))
            attention = ops.softmax(scores, axis=-1)
            # Re-mask: exact zeros, and a fully-masked row becomes zeros, not uniform.
            attention = attention * step_mask  # [batch, r, time]
            valid_clip = ops.cast(ops.any(ops.cast(mask, "bool"), axis=-1), "float32")

        if self.penalty > 0:
            self.add_loss(self.penalty * self._redundancy(attention, valid_clip))

        attention_cd = ops.cast(attention, x.dtype)
        embedding = ops.matmul(attention_cd, x)  # [batch, r, features]
        if self.return_attention:
            return [embedding, attention_cd]
        return embedding

    def _redundancy(self, attention, valid_clip):
        """mean_b ||A_b A_bᵀ - I||_F^2 in float32; fully-masked clips contribute 0."""
        gram = ops.matmul(attention, ops.transpose(attention, (0, 2, 1)))  # [batch, r, r]
        eye = ops.eye(self.heads, dtype="float32")
        per_clip = ops.sum(ops.square(gram - eye), axis=(1, 2))  # [batch]
        if valid_clip is not None:
            per_clip = per_clip * valid_clip
        return ops.mean(per_clip)

    def compute_mask(self, inputs, mask=None):
        # The time axis is consumed: nothing downstream is masked.
        return [None, None] if self.return_attention else None

    def compute_output_shape(self, input_shape):
        batch, time, features = input_shape
        m_shape = (batch, self.heads, features)
        if self.return_attention:
            return [m_shape, (batch, self.heads, time)]
        return m_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "heads": self.heads,
            "hidden": self.hidden,
            "penalty": self.penalty,
            "return_attention": self.return_attention,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config


@keras.saving.register_keras_serializable(package="musictag")
class MaskedGlobalMaxPool1D(keras.layers.Layer):
    """Max over time of the unmasked steps.

    Call args:
      inputs: float ``[batch, time, channels]``.
      mask: optional bool ``[batch, time]`` (implicit Keras mask or explicit ``mask=``),
        True for real steps.

    Returns:
      float ``[batch, channels]``: per channel, the max over unmasked steps. A row with
      no unmasked step gives zeros (not -inf), e.g. a clip without lyrics in the TextCNN.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.max(inputs, axis=1)
        step_mask = ops.cast(mask, "bool")  # [batch, time]
        # Fill masked steps with the per-channel minimum over all steps: never above an
        # unmasked value, so the max is unchanged, and the filled tensor keeps the input's
        # range for any dtype (no -inf / -FLT_MAX constant). With TF 2.21's converter a
        # -FLT_MAX fill gave the same int8 error (~1%), so this is caution, not a fix.
        floor = ops.min(inputs, axis=1, keepdims=True)  # [batch, 1, channels]
        filled = ops.where(ops.expand_dims(step_mask, -1), inputs, floor)
        pooled = ops.max(filled, axis=1)  # [batch, channels]
        any_valid = ops.any(step_mask, axis=1, keepdims=True)  # [batch, 1]
        return ops.where(any_valid, pooled, ops.zeros_like(pooled))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="musictag")
class TokenMask(keras.layers.Layer):
    """Real-token mask from lyrics token ids.

    Call args:
      inputs: int ``[batch, tokens]`` token ids; ``pad_id`` (LyricsParams.pad_id, 0)
        marks padding.

    Returns:
      bool ``[batch, tokens]``, True where the id is not ``pad_id``.
    """

    def __init__(self, pad_id: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.pad_id = int(pad_id)

    def call(self, inputs):
        return ops.not_equal(inputs, ops.cast(self.pad_id, inputs.dtype))

    def get_config(self):
        config = super().get_config()
        config.update({"pad_id": self.pad_id})
        return config


@keras.saving.register_keras_serializable(package="musictag")
class LyricsPresence(keras.layers.Layer):
    """Whether each clip has any lyrics.

    Call args:
      inputs: int ``[batch, tokens]`` token ids; a clip without lyrics is all ``pad_id``.

    Returns:
      float ``[batch, 1]`` (layer compute dtype): 1.0 if any id differs from ``pad_id``,
      else 0.0. The model feeds it to :class:`MissingLyricsEmbedding`.
    """

    def __init__(self, pad_id: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.pad_id = int(pad_id)

    def call(self, inputs):
        present = ops.any(ops.not_equal(inputs, ops.cast(self.pad_id, inputs.dtype)),
                          axis=-1, keepdims=True)
        return ops.cast(present, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        config = super().get_config()
        config.update({"pad_id": self.pad_id})
        return config


@keras.saving.register_keras_serializable(package="musictag")
class MissingLyricsEmbedding(keras.layers.Layer):
    """Learned stand-in for the lyrics vector of clips without lyrics.

    ``out = has · v + (1 - has) · absent`` with ``absent`` a trainable ``[features]``
    vector. Clips with lyrics pass through unchanged; clips without lyrics all get the
    same learned vector, so "no lyrics" is a representation the fusion layers can learn
    from (instrumental music is informative) instead of whatever the TextCNN makes of an
    all-pad sequence. Only clips without lyrics send gradient to ``absent``.

    Call args:
      inputs: list ``[lyrics_vector, has_lyrics]``: float ``[batch, features]`` and
        float ``[batch, 1]`` in {0, 1} (from :class:`LyricsPresence`).

    Returns:
      float ``[batch, features]``.
    """

    def __init__(self, absent_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.absent_initializer = keras.initializers.get(absent_initializer)

    def build(self, input_shape):
        vector_shape, flag_shape = input_shape
        if len(vector_shape) != 2 or vector_shape[-1] is None:
            raise ValueError("MissingLyricsEmbedding expects lyrics_vector [batch, features] "
                             f"with known features, got {vector_shape}")
        if flag_shape[-1] != 1:
            raise ValueError(f"MissingLyricsEmbedding expects has_lyrics [batch, 1], got {flag_shape}")
        self.absent = self.add_weight(name="absent", shape=(int(vector_shape[-1]),),
                                      initializer=self.absent_initializer)

    def call(self, inputs):
        vector, has_lyrics = inputs
        has_lyrics = ops.cast(has_lyrics, vector.dtype)  # [batch, 1]
        absent = ops.expand_dims(ops.cast(self.absent, vector.dtype), 0)  # [1, features]
        return has_lyrics * vector + (1.0 - has_lyrics) * absent

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update({
            "absent_initializer": keras.initializers.serialize(self.absent_initializer),
        })
        return config


@keras.saving.register_keras_serializable(package="musictag")
class FixedChunkPooling(keras.layers.Layer):
    """Mean-pool a step sequence into ``chunks`` equal-length chunks (the non-adaptive baseline).

    The alternative to adaptive segment pooling: instead of segments found from the
    self-similarity matrix, step ``t`` of ``T`` belongs to chunk ``floor(t * chunks / T)``.
    Implemented as a constant ``[chunks, T]`` averaging matrix (a matmul, TFLite builtin).

    Call args:
      inputs: float ``[batch, time, features]`` with static ``time >= chunks``.

    Returns:
      ``[chunk_vectors [batch, chunks, features], mask bool [batch, chunks]]`` (all True),
      the same signature as AdaptiveSegmentPooling so the BiLSTM can take either.
    """

    def __init__(self, chunks: int, **kwargs):
        super().__init__(**kwargs)
        if chunks <= 0:
            raise ValueError(f"chunks must be positive, got {chunks}")
        self.chunks = int(chunks)

    def build(self, input_shape):
        steps = input_shape[1]
        if steps is None or steps < self.chunks:
            raise ValueError(f"FixedChunkPooling needs a static time axis >= {self.chunks}, got {steps}")
        import numpy as np
        owner = (np.arange(steps) * self.chunks) // steps  # [time] chunk index of each step
        weights = (owner[None, :] == np.arange(self.chunks)[:, None]).astype("float32")
        self._weights = weights / weights.sum(axis=1, keepdims=True)  # [chunks, time]

    def call(self, inputs):
        weights = ops.cast(ops.convert_to_tensor(self._weights), inputs.dtype)
        pooled = ops.einsum("kt,btf->bkf", weights, inputs)
        mask = ops.ones((ops.shape(inputs)[0], self.chunks), dtype="bool")
        return pooled, mask

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.chunks, input_shape[2]), (input_shape[0], self.chunks)

    def get_config(self):
        return {**super().get_config(), "chunks": self.chunks}
