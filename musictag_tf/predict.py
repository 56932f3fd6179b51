"""Clip-level predictions from records and their scores: window the clips, run the model,
average per clip, score against the labels.

Shared by the training loop (validation each epoch), ``musictag_tf.evaluate`` and the export
parity check on records.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence

import keras
import numpy as np
import tensorflow as tf

from musictag_tf import metrics
from musictag_tf.data import pipeline
from musictag_tf.data import schema

HEAD_TITLES = {"energy": "Thayer energy (2 classes)", "stress": "Thayer stress (2 classes)",
               "quadrant": "Thayer quadrant (4 classes)"}


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
                  progress: bool = False, windows: str = "tagger") -> ClipPredictions:
    """Run ``model`` over every clip of ``files``, window probabilities averaged per clip.

    ``windows``: "tagger" (musictag tag's windows, the default) or "spread" (the literature's,
    at most ``max_chunks`` per clip); see musictag_tf.data.pipeline.eval_windows.
    """
    predict_fn = predict_fn or make_predict_fn(model)
    dataset = pipeline.evaluation_dataset(files, config, batch_size, max_chunks, windows)
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


def score_clips(predictions: ClipPredictions, tags: Sequence[str],
                threshold: float = 0.5) -> Dict[str, object]:
    """head -> TaggingScores (tags) or ClassificationScores (emotion heads with known labels)."""
    report: Dict[str, object] = {}
    if "tags" in predictions.probabilities:
        report["tags"] = metrics.tagging_scores(predictions.labels["tags"],
                                                predictions.probabilities["tags"], tags, threshold)
    for head, names in schema.CLASS_NAMES.items():
        if head in predictions.probabilities and (predictions.labels[head] >= 0).any():
            report[head] = metrics.classification_scores(
                predictions.labels[head], predictions.probabilities[head], names)
    return report


def report_markdown(report: Dict[str, object], title: str) -> str:
    """Markdown of a ``score_clips`` report: tagging table, then one table per emotion head."""
    parts = [f"## {title}", ""]
    if "tags" in report:
        parts.append(metrics.tagging_markdown(report["tags"], "Tagging"))
    for head in schema.CLASS_NAMES:
        if head in report:
            parts.append(metrics.classification_markdown(report[head], HEAD_TITLES[head]))
    return "\n".join(parts)
