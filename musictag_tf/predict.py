"""Clip-level predictions from records: chunk the clips, run the model, average per clip.

Shared by the training loop (validation each epoch) and ``musictag_tf.evaluate``.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List

import keras
import numpy as np
import tensorflow as tf

from musictag_tf.data import pipeline


@dataclasses.dataclass
class ClipPredictions:
    """Per-clip averaged probabilities and labels, rows in record order.

    probabilities: head -> float32 [clips, classes] (tags: sigmoid; emotion: softmax)
    labels: "tags" float32 [clips, num_tags]; "energy"/"stress"/"quadrant" int [clips] (-1 unknown)
    """

    clip_ids: List[str]
    probabilities: Dict[str, np.ndarray]
    labels: Dict[str, np.ndarray]
    chunks_per_clip: np.ndarray


def aggregate_by_clip(values: np.ndarray, clip_index: np.ndarray) -> np.ndarray:
    """Mean of the rows of ``values`` [chunks, ...] sharing a clip index -> [clips, ...]."""
    clip_index = np.asarray(clip_index, np.int64)
    clips = int(clip_index.max()) + 1
    sums = np.zeros((clips,) + values.shape[1:], np.float64)
    np.add.at(sums, clip_index, values)
    counts = np.bincount(clip_index, minlength=clips).reshape((clips,) + (1,) * (values.ndim - 1))
    return (sums / np.maximum(counts, 1)).astype(np.float32)


def first_by_clip(values: np.ndarray, clip_index: np.ndarray) -> np.ndarray:
    """The first row per clip (labels repeat across a clip's chunks)."""
    _, first = np.unique(clip_index, return_index=True)
    return values[first]


def make_predict_fn(model: keras.Model):
    """A compiled forward pass returning probabilities per head (float32).

    Traced once for any batch size: the signature fixes every input but the batch dimension.
    """
    signature = {t.name.split(":")[0]: tf.TensorSpec((None,) + tuple(t.shape[1:]), t.dtype, name=t.name)
                 for t in model.inputs}

    @tf.function(input_signature=[signature])
    def predict(features):
        logits = model(features, training=False)
        return {name: tf.sigmoid(tf.cast(v, tf.float32)) if name == "tags"
                else tf.nn.softmax(tf.cast(v, tf.float32)) for name, v in logits.items()}

    return predict


def predict_clips(model: keras.Model, files: List[str], config: pipeline.PipelineConfig,
                  batch_size: int = 32, max_chunks: int = 16, predict_fn=None,
                  progress: bool = False) -> ClipPredictions:
    """Run ``model`` over every clip of ``files`` (eval chunks averaged per clip)."""
    predict_fn = predict_fn or make_predict_fn(model)
    dataset = pipeline.evaluation_dataset(files, config, batch_size, max_chunks)
    probs: Dict[str, list] = {}
    labels: Dict[str, list] = {}
    index = []
    bar = keras.utils.Progbar(None, unit_name="batch") if progress else None
    for features, batch_labels, clip_index in dataset:
        for name, value in predict_fn(features).items():
            probs.setdefault(name, []).append(value.numpy())
        for name, value in batch_labels.items():
            labels.setdefault(name, []).append(value.numpy())
        index.append(clip_index.numpy())
        if bar:
            bar.add(1)
    if not index:
        raise ValueError(f"no clips in {files}")
    clip_index = np.concatenate(index)
    ids = first_by_clip(np.concatenate(labels.pop("clip_id")), clip_index)
    return ClipPredictions(
        clip_ids=[i.decode("utf-8") for i in ids],
        probabilities={k: aggregate_by_clip(np.concatenate(v), clip_index) for k, v in probs.items()},
        labels={k: first_by_clip(np.concatenate(v), clip_index) for k, v in labels.items()},
        chunks_per_clip=np.bincount(clip_index))
