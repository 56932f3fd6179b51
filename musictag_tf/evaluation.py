"""Evaluation of one trained model on a records split: metrics, JSON / Markdown / PNG reports.

Tagging: macro ROC-AUC and PR-AUC as scikit-learn computes them, per-tag AUC, accuracy at a
threshold. Emotion (Thayer): accuracy, per-class precision / recall / F1, confusion matrix.
Clips are cut into the windows ``musictag tag`` uses (``eval_windows="tagger"``, the default)
or the literature's spread chunks (``"spread"``); see musictag_tf.data.pipeline.eval_windows.

The command line (``musictag-evaluate``) is musictag_tf.evaluate; the paper's comparison
of the variants is musictag_tf.experiments.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from musictag_tf import fileio
from musictag_tf import metrics
from musictag_tf import params as params_lib
from musictag_tf import predict as predict_lib
from musictag_tf import runs
from musictag_tf.data import manifest as manifest_lib
from musictag_tf.data import pipeline
from musictag_tf.data import schema

CLASS_NAMES = schema.CLASS_NAMES
HEAD_TITLES = predict_lib.HEAD_TITLES
score_predictions = predict_lib.score_clips
report_markdown = predict_lib.report_markdown


def plot_confusion(scores: metrics.ClassificationScores, title: str, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    matrix = np.asarray(scores.confusion)
    fig, ax = plt.subplots(figsize=(1.2 * len(scores.class_names) + 2, 1.1 * len(scores.class_names) + 1.5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(scores.class_names)), scores.class_names, rotation=30, ha="right")
    ax.set_yticks(range(len(scores.class_names)), scores.class_names)
    ax.set(xlabel="predicted", ylabel="true", title=f"{title}\naccuracy {scores.accuracy:.3f}")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center",
                color="white" if v > matrix.max() / 2 else "black")
    fileio.save_figure(fig, path, dpi=100)


@dataclasses.dataclass
class Evaluation:
    variant: str
    split: str
    report: Dict[str, object]
    predictions: predict_lib.ClipPredictions

    def to_dict(self) -> dict:
        return {"variant": self.variant, "split": self.split,
                "metrics": {k: v.to_dict() for k, v in self.report.items()}}


def evaluate_model_dir(model_dir: str, records_dir: str, split: str = "test",
                       batch_size: int = 32, eval_chunks: Optional[int] = None,
                       output_dir: Optional[str] = None, verbose: bool = True,
                       eval_windows: Optional[str] = None) -> Evaluation:
    """Evaluate ``model_dir``'s best model on a split; write JSON, Markdown and PNGs to output_dir.

    ``eval_windows`` ("tagger" | "spread") and ``eval_chunks`` (spread only) default to the
    run's training setting (TrainParams), i.e. the tagger's windows unless trained otherwise.
    """
    spec, tags, raw = runs.load_spec(model_dir)
    record_tags = manifest_lib.read_tags(records_dir)
    if list(record_tags) != list(tags):
        raise ValueError(f"{records_dir}: tag vocabulary differs from the model's ({model_dir}/tags.txt)")
    model = runs.load_best_model(model_dir)
    manifest = manifest_lib.read_manifest(records_dir)
    files = manifest_lib.split_files(records_dir, split, manifest)
    if not files:
        raise ValueError(f"{records_dir}: no {split} shards")
    config = pipeline.PipelineConfig.from_records(manifest, spec.model)
    trained = params_lib.from_dict(params_lib.TrainParams, raw.get("train", {}))
    chunks = eval_chunks or trained.eval_chunks
    windows = eval_windows or trained.eval_windows
    predictions = predict_lib.predict_clips(model, files, config, batch_size, chunks, progress=verbose,
                                            windows=windows)
    evaluation = Evaluation(spec.model.variant, split, score_predictions(predictions, tags), predictions)
    if output_dir:
        write_evaluation(evaluation, output_dir)
    return evaluation


def write_evaluation(evaluation: Evaluation, output_dir: str) -> None:
    tf.io.gfile.makedirs(output_dir)
    stem = os.path.join(output_dir, f"evaluation_{evaluation.split}")
    fileio.write_atomic(stem + ".json", json.dumps(evaluation.to_dict(), indent=2))
    fileio.write_atomic(
        stem + ".md", report_markdown(evaluation.report, f"{evaluation.variant} on {evaluation.split}"))
    for head in CLASS_NAMES:
        if head in evaluation.report:
            plot_confusion(evaluation.report[head], f"{evaluation.variant}: {HEAD_TITLES[head]}",
                           f"{stem}_confusion_{head}.png")


