"""Weighted binary cross-entropy for multi-label tagging.

The paper's formula (6) reads ``-[α·y·log ŷ + (1-ŷ)·log(1-ŷ)]``; the second factor is a
typo for ``(1-y)`` (with ``(1-ŷ)`` the negative term would not vanish for positive labels
and the loss would not be a cross-entropy). Implemented here, per tag::

    L(y, ŷ) = -[α·y·log ŷ + (1-y)·log(1-ŷ)],   α >= 1 (TrainParams.pos_weight)

α > 1 up-weights the positive labels, which are rare in MTAT-style tag matrices
(about 1-2 positives among 50 tags per clip). α = 1 is the ordinary binary cross-entropy.

Soft targets (distillation, issue 13): ``y`` may be any value in [0, 1], e.g. a teacher's
probability. The loss is then minimised at ``ŷ = α·y / (α·y + 1 - y)`` (set dL/dŷ = 0), not at
``ŷ = y``: with α = 1 the student matches the teacher's probabilities exactly; with α > 1 it
learns the teacher's scores shifted up, i.e. its log-odds are ``log α`` above the teacher's
(``logit ŷ* = logit y + log α``). Ranking-based agreement (ROC-AUC, Pearson r on log-odds, top-k)
is unaffected by that monotone shift, but calibrated probabilities need α = 1
(``--pos_weight=1``), the setting the distillation recipe uses. With hard 0/1 labels α keeps its
usual meaning (positives weigh α times more).

Reduction: ``call`` averages over the last axis (tags), giving one loss per clip
``[batch]``; the Keras reduction (default ``"sum_over_batch_size"``) then averages over
clips, applying ``sample_weight`` per clip if given. So the default result is the mean
over tags and batch, exactly like ``keras.losses.BinaryCrossentropy``.
"""

from __future__ import annotations

from typing import Dict

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="musictag")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """``-[α·y·log ŷ + (1-y)·log(1-ŷ)]`` averaged over tags and batch.

    With logits ``z`` (``from_logits=True``, the default and the numerically safe
    choice) the loss uses the log-sigmoid form::

        L = (1-y)·z + (1 + (α-1)·y)·softplus(-z)

    which is ``tf.nn.weighted_cross_entropy_with_logits(y, z, pos_weight=α)`` and is
    finite with finite gradients for any finite ``z`` (``dL/dz = (1-y) - (1+(α-1)y)·σ(-z)``).

    With probabilities (``from_logits=False``) ``ŷ`` is clipped to
    ``[ε, 1-ε]`` (``keras.backend.epsilon()``) as Keras's ``BinaryCrossentropy`` does; and,
    as Keras does on the TensorFlow backend, if ``ŷ`` came straight out of
    ``keras.activations.sigmoid`` its logits are used instead (no clipping error).

    Everything is computed in float32 (float16/bfloat16 predictions are cast up).

    Args:
      pos_weight: α >= 1, weight of the positive term (TrainParams.pos_weight).
      from_logits: whether ``y_pred`` holds logits (default) or probabilities.
      label_smoothing: in [0, 1]; labels become ``y·(1-s) + s/2`` (as in Keras).
      reduction, name, dtype: as for ``keras.losses.Loss``.

    Call args:
      y_true: ``[batch, tags]`` in [0, 1] (hard 0/1 or soft teacher scores; any float/int
        dtype). With soft y the optimum is ``logit ŷ = logit y + log α`` (module docstring).
      y_pred: ``[batch, tags]`` logits or probabilities.

    Raises:
      ValueError: ``pos_weight < 1`` or ``label_smoothing`` outside [0, 1].
    """

    def __init__(self, pos_weight: float = 1.0, from_logits: bool = True,
                 label_smoothing: float = 0.0, reduction="sum_over_batch_size",
                 name: str = "weighted_binary_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype or "float32")
        if not float(pos_weight) >= 1.0:  # also rejects NaN
            raise ValueError(f"pos_weight (alpha) must be >= 1, got {pos_weight}")
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.pos_weight = float(pos_weight)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        from_logits = self.from_logits
        logits = getattr(y_pred, "_keras_logits", None)  # set by keras sigmoid (TF backend)
        if not from_logits and logits is not None:
            y_pred, from_logits = logits, True
        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "float32")
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        alpha = self.pos_weight

        if from_logits:
            per_tag = (1.0 - y_true) * y_pred + \
                (1.0 + (alpha - 1.0) * y_true) * ops.softplus(-y_pred)
        else:
            eps = keras.backend.epsilon()
            prob = ops.clip(y_pred, eps, 1.0 - eps)
            per_tag = -(alpha * y_true * ops.log(prob) + (1.0 - y_true) * ops.log(1.0 - prob))
        return ops.mean(per_tag, axis=-1)  # [batch]

    def get_config(self):
        config = super().get_config()
        config.update({
            "pos_weight": self.pos_weight,
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "dtype": self.dtype,
        })
        return config


@keras.saving.register_keras_serializable(package="musictag")
class LogitSquaredError(keras.losses.Loss):
    """Squared error between student and teacher log-odds, averaged over tags (distillation).

    ``L = mean_tags (z - logit(clip(y, ε, 1-ε)))²`` with ``z`` the student's logits and ``y``
    the teacher's probabilities (Ba & Caruana 2014, "Do deep nets really need to be deep?").
    Against soft targets the BCE's gradient ``σ(z) - y`` is tiny wherever the teacher is
    confident (most tags sit at 0.01-0.1), so the student learns the teacher's *ranking* of
    clips on a rare tag slowly; the log-odds error weighs a 0.01-vs-0.1 difference as much as a
    0.5-vs-0.9 one. Both losses share the optimum ``σ(z) = y``.

    Args:
      epsilon: probabilities are clipped to ``[ε, 1-ε]`` (default 1e-4: log-odds within ±9.2),
        so hard 0/1 labels stay finite (but use the BCE for them).
    Call args: y_true ``[batch, tags]`` in [0, 1]; y_pred ``[batch, tags]`` logits.
    Returns ``[batch]`` (then reduced like any Keras loss).
    """

    def __init__(self, epsilon: float = 1e-4, reduction="sum_over_batch_size",
                 name: str = "logit_squared_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype or "float32")
        if not 0.0 < float(epsilon) < 0.5:
            raise ValueError(f"epsilon must be in (0, 0.5), got {epsilon}")
        self.epsilon = float(epsilon)

    def call(self, y_true, y_pred):
        y = ops.clip(ops.cast(y_true, "float32"), self.epsilon, 1.0 - self.epsilon)
        target = ops.log(y) - ops.log1p(-y)
        return ops.mean(ops.square(ops.cast(y_pred, "float32") - target), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon, "dtype": self.dtype})
        return config


class MultiHeadLoss:
    """Per-example training loss over the model's heads.

    tags: weighted BCE from logits (alpha = TrainParams.pos_weight), mean over tags, against
    ``labels["tag_targets"]`` (soft teacher scores, or the multi-hot) when present, else ``tags``;
    with ``TrainParams.soft_target_loss == "logit_mse"`` the squared log-odds error
    (:class:`LogitSquaredError`) against ``tag_targets`` instead (soft targets only: the train
    job refuses it for records without them);
    emotion heads: softmax cross-entropy, zero where the label is unknown (-1).
    total = tag_loss_weight * tags + emotion_loss_weight * sum(emotion heads).
    ``train_params``: a musictag_tf.params.TrainParams. ``per_example`` takes logits
    head -> [batch, classes] and labels (tags float32 [batch, num_tags], emotion int [batch])
    and returns float32 [batch].
    """

    def __init__(self, heads, train_params):
        self.heads = tuple(heads)
        self.tp = train_params
        if train_params.soft_target_loss == "logit_mse":
            self.tag_loss = LogitSquaredError(reduction=None)
        else:
            self.tag_loss = WeightedBinaryCrossentropy(
                pos_weight=train_params.pos_weight, from_logits=True, reduction=None)

    def per_example(self, logits: Dict[str, tf.Tensor], labels: Dict[str, tf.Tensor]) -> tf.Tensor:
        total = 0.0
        for head in self.heads:
            out = tf.cast(logits[head], tf.float32)
            if head == "tags":
                total += self.tp.tag_loss_weight * self.tag_loss(labels.get("tag_targets", labels["tags"]), out)
            else:
                y = tf.cast(labels[head], tf.int32)
                ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(y, 0), logits=out)
                total += self.tp.emotion_loss_weight * tf.where(y >= 0, ce, tf.zeros_like(ce))
        return total
