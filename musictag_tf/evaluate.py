"""Evaluation: metrics for a trained model, the paper-style comparison, and MTAT scoring.

    # one model on the test split: JSON + Markdown report (+ confusion-matrix PNGs)
    python -m musictag_tf.evaluate --model_dir=runs/cnn_sam --records_dir=records
    # train and evaluate the variants on the same split, print the paper's tables
    python -m musictag_tf.evaluate --compare --records_dir=records --output_dir=runs/compare
    # score a predictions file (clips x 50 tags) against published MTAT ground truth
    python -m musictag_tf.evaluate --predictions=preds.csv --ground_truth=won2020

Tagging: macro ROC-AUC and PR-AUC as scikit-learn computes them, per-tag AUC, accuracy at a
threshold. Emotion (Thayer): accuracy, per-class precision / recall / F1, confusion matrix.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from musictag_tf import metrics
from musictag_tf import params as params_lib
from musictag_tf.logs import quiet_tf_logging, show_flags_in_help
from musictag_tf import predict as predict_lib
from musictag_tf.data import manifest as manifest_lib
from musictag_tf.data import pipeline
from musictag_tf.data import schema

CLASS_NAMES = {"energy": schema.ENERGY_NAMES, "stress": schema.STRESS_NAMES,
               "quadrant": schema.QUADRANT_NAMES}
HEAD_TITLES = {"energy": "Thayer energy (2 classes)", "stress": "Thayer stress (2 classes)",
               "quadrant": "Thayer quadrant (4 classes)"}


def score_predictions(predictions: predict_lib.ClipPredictions, tags: Sequence[str],
                      threshold: float = 0.5) -> Dict[str, object]:
    """head -> TaggingScores (tags) or ClassificationScores (emotion heads with known labels)."""
    report: Dict[str, object] = {}
    if "tags" in predictions.probabilities:
        report["tags"] = metrics.tagging_scores(predictions.labels["tags"],
                                                predictions.probabilities["tags"], tags, threshold)
    for head, names in CLASS_NAMES.items():
        if head in predictions.probabilities and (predictions.labels[head] >= 0).any():
            report[head] = metrics.classification_scores(
                predictions.labels[head], predictions.probabilities[head], names)
    return report


def report_markdown(report: Dict[str, object], title: str) -> str:
    parts = [f"## {title}", ""]
    if "tags" in report:
        parts.append(metrics.tagging_markdown(report["tags"], "Tagging"))
    for head in CLASS_NAMES:
        if head in report:
            parts.append(metrics.classification_markdown(report[head], HEAD_TITLES[head]))
    return "\n".join(parts)


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
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


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
                       output_dir: Optional[str] = None, verbose: bool = True) -> Evaluation:
    """Evaluate ``model_dir``'s best model on a split; write JSON, Markdown and PNGs to output_dir."""
    from musictag_tf import train as train_lib
    spec, tags, raw = train_lib.load_spec(model_dir)
    record_tags = manifest_lib.read_tags(records_dir)
    if list(record_tags) != list(tags):
        raise ValueError(f"{records_dir}: tag vocabulary differs from the model's ({model_dir}/tags.txt)")
    model = train_lib.load_best_model(model_dir)
    manifest = manifest_lib.read_manifest(records_dir)
    files = manifest_lib.split_files(records_dir, split, manifest)
    if not files:
        raise ValueError(f"{records_dir}: no {split} shards")
    config = pipeline.PipelineConfig.from_records(manifest, spec.model)
    chunks = eval_chunks or raw.get("train", {}).get("eval_chunks", params_lib.TrainParams().eval_chunks)
    predictions = predict_lib.predict_clips(model, files, config, batch_size, chunks, progress=verbose)
    evaluation = Evaluation(spec.model.variant, split, score_predictions(predictions, tags), predictions)
    if output_dir:
        write_evaluation(evaluation, output_dir)
    return evaluation


def write_evaluation(evaluation: Evaluation, output_dir: str) -> None:
    tf.io.gfile.makedirs(output_dir)
    stem = os.path.join(output_dir, f"evaluation_{evaluation.split}")
    manifest_lib.write_text_atomic(stem + ".json", json.dumps(evaluation.to_dict(), indent=2))
    manifest_lib.write_text_atomic(
        stem + ".md", report_markdown(evaluation.report, f"{evaluation.variant} on {evaluation.split}"))
    for head in CLASS_NAMES:
        if head in evaluation.report:
            plot_confusion(evaluation.report[head], f"{evaluation.variant}: {HEAD_TITLES[head]}",
                           f"{stem}_confusion_{head}.png")


# ----------------------------------------------------------------------------- comparison

PAPER_NAMES = {"audio_vgg": "audio + VGG16", "lyrics_textcnn": "lyrics + TextCNN",
               "linear_fusion": "linear weighted fusion", "cnn_sam": "CNN + SAM"}


def tagging_table(evaluations: Dict[str, Evaluation]) -> str:
    """Markdown: macro ROC-AUC / PR-AUC per variant, best first marked."""
    rows = [(v, e.report["tags"]) for v, e in evaluations.items() if "tags" in e.report]
    lines = ["| model | variant | macro ROC-AUC | macro PR-AUC |", "|---|---|---|---|"]
    for variant, s in rows:
        lines.append(f"| {PAPER_NAMES.get(variant, variant)} | `{variant}` | "
                     f"{s.roc_auc_macro:.4f} | {s.pr_auc_macro:.4f} |")
    return "\n".join(lines) + "\n"


def _acc(e: Optional[Evaluation], head: str) -> Optional[float]:
    if e is None or head not in e.report:
        return None
    return e.report[head].accuracy


def five_group_table(evaluations: Dict[str, Evaluation]) -> str:
    """The seed paper's five-group comparison, with CNN + SAM minus linear fusion.

    Groups: audio + VGG16 (two classes: energy, stress), audio + VGG16 (four classes:
    quadrant), lyrics + TextCNN (two classes), linear weighted fusion, CNN + SAM (quadrant
    accuracy; tagging macro ROC-AUC / PR-AUC where the group tags).
    """
    fmt = lambda x: "–" if x is None else f"{100 * x:.1f}"  # noqa: E731
    fmt_auc = lambda e, key: ("–" if e is None or "tags" not in e.report  # noqa: E731
                              else f"{getattr(e.report['tags'], key):.4f}")
    vgg, txt = evaluations.get("audio_vgg"), evaluations.get("lyrics_textcnn")
    lin, sam = evaluations.get("linear_fusion"), evaluations.get("cnn_sam")
    groups = [
        ("audio + VGG16 (two classes)", vgg, ("energy", "stress"), False),
        ("audio + VGG16 (four classes)", vgg, ("quadrant",), False),
        ("lyrics + TextCNN (two classes)", txt, ("energy", "stress"), False),
        ("linear weighted fusion", lin, ("energy", "stress", "quadrant"), True),
        ("CNN + SAM", sam, ("energy", "stress", "quadrant"), True),
    ]
    lines = ["| group | energy acc % | stress acc % | quadrant acc % | tag ROC-AUC | tag PR-AUC |",
             "|---|---|---|---|---|---|"]
    for name, e, heads, tags in groups:
        cells = [fmt(_acc(e, h)) if h in heads else "–" for h in ("energy", "stress", "quadrant")]
        auc = [fmt_auc(e, "roc_auc_macro"), fmt_auc(e, "pr_auc_macro")] if tags else ["–", "–"]
        lines.append(f"| {name} | " + " | ".join(cells + auc) + " |")
    if lin is not None and sam is not None:
        diff = []
        for h in ("energy", "stress", "quadrant"):
            a, b = _acc(sam, h), _acc(lin, h)
            diff.append("–" if a is None or b is None else f"{100 * (a - b):+.1f}")
        for key in ("roc_auc_macro", "pr_auc_macro"):
            if "tags" in sam.report and "tags" in lin.report:
                diff.append(f"{getattr(sam.report['tags'], key) - getattr(lin.report['tags'], key):+.4f}")
            else:
                diff.append("–")
        lines.append("| **CNN + SAM − linear fusion** | " + " | ".join(diff) + " |")
    return "\n".join(lines) + "\n"


@dataclasses.dataclass
class Comparison:
    evaluations: Dict[str, Evaluation]
    tagging_markdown: str
    groups_markdown: str

    def markdown(self) -> str:
        return ("### Tagging (test split)\n\n" + self.tagging_markdown +
                "\n### Emotion, the paper's five groups (test split)\n\n" + self.groups_markdown)


def compare_variants(records_dir: str, output_dir: str,
                     variant_names: Sequence[str] = ("audio_vgg", "lyrics_textcnn", "linear_fusion", "cnn_sam"),
                     model_params: params_lib.ModelParams = params_lib.ModelParams(),
                     train_params: Optional[params_lib.TrainParams] = None,
                     split: str = "test", verbose: int = 1, **job_kwargs) -> Comparison:
    """Train every variant on the same records and split, evaluate each on ``split``.

    With ``train_params.task == "multi"`` (the default when the records carry emotion labels)
    one model per variant trains all heads, and the five emotion groups are read from them.
    Each variant's run lives in ``output_dir/<variant>`` (and resumes if interrupted).
    """
    from musictag_tf import train as train_lib
    manifest = manifest_lib.read_manifest(records_dir)
    if train_params is None:
        train_params = dataclasses.replace(params_lib.TrainParams(),
                                           task="multi" if manifest.has_emotion else "tags")
    evaluations = {}
    for name in variant_names:
        run_dir = os.path.join(output_dir, name)
        job = train_lib.TrainJob(records_dir=records_dir, model_dir=run_dir,
                                 model=dataclasses.replace(model_params, variant=name),
                                 train=train_params, verbose=verbose, **job_kwargs)
        train_lib.train(job)
        evaluations[name] = evaluate_model_dir(run_dir, records_dir, split, train_params.batch_size,
                                               train_params.eval_chunks, output_dir=run_dir,
                                               verbose=verbose > 1)
    comparison = Comparison(evaluations, tagging_table(evaluations), five_group_table(evaluations))
    manifest_lib.write_text_atomic(os.path.join(output_dir, "comparison.md"), comparison.markdown())
    manifest_lib.write_text_atomic(os.path.join(output_dir, "comparison.json"), json.dumps(
        {name: e.to_dict() for name, e in evaluations.items()}, indent=2))
    return comparison


# ----------------------------------------------------------------------------- command line

def define_flags():
    from absl import flags
    F = flags
    F.DEFINE_string("model_dir", None, "A training run's directory (evaluates its best.keras).")
    F.DEFINE_string("records_dir", None, "TFRecords directory (musictag-build output).")
    F.DEFINE_enum("split", "test", list(schema.SPLITS), "Split to evaluate.")
    F.DEFINE_string("output_dir", None, "Where to write the JSON/Markdown/PNG reports "
                    "(default: the model dir; for --compare: required).")
    F.DEFINE_integer("batch_size", 32, "Chunks per inference batch.")
    F.DEFINE_integer("eval_chunks", 0, "Max chunks averaged per clip (0: the training setting).")
    F.DEFINE_boolean("compare", False, "Train and evaluate the variants on the same split and "
                     "print the paper-style tables.")
    F.DEFINE_list("variants", ["audio_vgg", "lyrics_textcnn", "linear_fusion", "cnn_sam"],
                  "Variants for --compare.")
    F.DEFINE_integer("epochs", params_lib.TrainParams().epochs, "Epochs per variant for --compare.")
    F.DEFINE_string("predictions", None, "Score this predictions file (CSV/TSV/JSON/NPY, clips x "
                    "50 tags) against MTAT ground truth instead.")
    F.DEFINE_enum("ground_truth", "won2020", ["won2020", "lee2017", "pons"],
                  "Published MTAT split/labels for --predictions.")
    F.DEFINE_string("mtat_dir", None, "Directory of the MTAT split files (default ../shared/data/mtat).")
    F.DEFINE_boolean("allow_partial", False, "--predictions: score the clips present only.")


def main(argv):
    from absl import flags
    from musictag_tf.errors import MusictagError
    quiet_tf_logging()
    FLAGS = flags.FLAGS
    if len(argv) > 1:
        raise SystemExit(f"unexpected arguments: {argv[1:]}")
    try:
        if FLAGS.predictions:
            from musictag_tf import score_predictions as sp
            scored = sp.score_against_mtat(FLAGS.predictions, source=FLAGS.ground_truth,
                                           split=FLAGS.split, mtat_dir=FLAGS.mtat_dir,
                                           allow_partial=FLAGS.allow_partial)
            print(sp.scored_markdown(scored) if hasattr(sp, "scored_markdown")
                  else metrics.tagging_markdown(scored.scores, "MTAT"))
            return
        if not FLAGS.records_dir:
            raise ValueError("--records_dir is required")
        if FLAGS.compare:
            if not FLAGS.output_dir:
                raise ValueError("--compare needs --output_dir")
            manifest = manifest_lib.read_manifest(FLAGS.records_dir)
            tp = dataclasses.replace(params_lib.TrainParams(), epochs=FLAGS.epochs,
                                     batch_size=FLAGS.batch_size,
                                     task="multi" if manifest.has_emotion else "tags")
            comparison = compare_variants(FLAGS.records_dir, FLAGS.output_dir, FLAGS.variants,
                                          train_params=tp, split=FLAGS.split)
            print(comparison.markdown())
            return
        if not FLAGS.model_dir:
            raise ValueError("--model_dir is required (or use --compare / --predictions)")
        evaluation = evaluate_model_dir(FLAGS.model_dir, FLAGS.records_dir, FLAGS.split,
                                        FLAGS.batch_size, FLAGS.eval_chunks or None,
                                        FLAGS.output_dir or FLAGS.model_dir)
        print(report_markdown(evaluation.report, f"{evaluation.variant} on {evaluation.split}"))
    except (MusictagError, ValueError, FileNotFoundError, params_lib.ConfigError) as exc:
        print(f"musictag-evaluate: error: {exc}", file=sys.stderr)
        raise SystemExit(2)


def run():
    from absl import app
    define_flags()
    show_flags_in_help(__name__)
    app.run(main)


if __name__ == "__main__":
    run()
