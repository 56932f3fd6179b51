"""``musictag-evaluate``: evaluate a trained model, compare the variants, or score MTAT predictions.

    # one model on the test split: JSON + Markdown report (+ confusion-matrix PNGs)
    musictag-evaluate --model_dir=runs/cnn_sam --records_dir=records
    # the literature's protocol (16 evenly spread chunks) instead of musictag tag's windows
    musictag-evaluate --model_dir=runs/cnn_sam --records_dir=records --eval_windows=spread --eval_chunks=16
    # train and evaluate the variants on the same split, print the paper's tables
    musictag-evaluate --compare --records_dir=records --output_dir=runs/compare
    # score a predictions file (clips x 50 tags, e.g. `musictag tag --format=csv`) against MTAT ground truth
    musictag-evaluate --predictions=preds.csv --ground_truth=won2020

The work is done below: musictag_tf.evaluation (one model), musictag_tf.experiments (the
comparison), musictag_tf.mtat (MTAT ground truth, prediction readers, published results).
"""

from __future__ import annotations

import dataclasses

from musictag_tf import errors
from musictag_tf import evaluation
from musictag_tf import experiments
from musictag_tf import fileio
from musictag_tf import params as params_lib
from musictag_tf.mtat import scoring as mtat_scoring
from musictag_tf.data import manifest as manifest_lib
from musictag_tf.logs import quiet_tf_logging, show_flags_in_help
from musictag_tf.mtat.datasets import SOURCES as MTAT_SOURCES

PROG = "musictag-evaluate"


def define_flags():
    from absl import flags
    F = flags
    d_train = params_lib.TrainParams()
    F.DEFINE_string("model_dir", None, "A training run's directory (evaluates its best.keras).")
    F.DEFINE_string("records_dir", None, "TFRecords directory (musictag-build output).")
    F.DEFINE_enum("split", "test", list(params_lib.SPLITS), "Split to evaluate.")
    F.DEFINE_string("output_dir", None, "Where to write the JSON/Markdown/PNG reports "
                    "(default: the model dir; for --compare: required).")
    F.DEFINE_integer("batch_size", d_train.batch_size, "Windows per inference batch.")
    F.DEFINE_enum("eval_windows", "", [""] + list(params_lib.EVAL_WINDOWS),
                  "tagger: the windows `musictag tag` uses (what users get); spread: the MTAT "
                  "literature's evenly spread chunks (--eval_chunks of them). Empty: the training setting.")
    F.DEFINE_integer("eval_chunks", 0, "--eval_windows=spread: max chunks per clip (0: the training "
                     f"setting, {d_train.eval_chunks} by default as in the literature).")
    F.DEFINE_boolean("compare", False, "Train and evaluate the variants on the same split and "
                     "print the paper-style tables.")
    F.DEFINE_list("variants", list(experiments.PAPER_ORDER), "Variants for --compare.")
    F.DEFINE_integer("epochs", d_train.epochs, "Epochs per variant for --compare.")
    F.DEFINE_string("predictions", None, "Score this predictions file (CSV/TSV/JSON/NPY, clips x "
                    "50 tags) against MTAT ground truth instead.")
    F.DEFINE_enum("ground_truth", "won2020", list(MTAT_SOURCES),
                  "Published MTAT split/labels for --predictions.")
    F.DEFINE_string("mtat_dir", None, "Directory of the MTAT split files (default ../shared/data/mtat).")
    F.DEFINE_boolean("allow_partial", False, "--predictions: score the clips present only.")
    F.DEFINE_float("threshold", 0.5, "--predictions: decision threshold for accuracy / micro F1.")
    F.DEFINE_string("output_json", None, "--predictions: also write the scores as JSON here.")
    F.DEFINE_string("output_md", None, "--predictions: also write the Markdown report here.")


def score_mtat_predictions(FLAGS) -> str:
    """--predictions: score a file against MTAT ground truth; returns the Markdown report."""
    scored = mtat_scoring.score_against_mtat(FLAGS.predictions, source=FLAGS.ground_truth,
                                             split=FLAGS.split, mtat_dir=FLAGS.mtat_dir,
                                             allow_partial=FLAGS.allow_partial, threshold=FLAGS.threshold)
    report = mtat_scoring.scored_markdown(scored)
    if FLAGS.output_md:
        fileio.write_atomic(FLAGS.output_md, report)
    if FLAGS.output_json:
        published, _ = mtat_scoring.published_results(mtat_scoring.default_results_dir(scored.mtat_dir))
        payload = {**scored.to_dict(), "published": [dataclasses.asdict(p) for p in published]}
        fileio.write_json_atomic(FLAGS.output_json, payload)
    return report


def check_flags(FLAGS) -> None:
    """One line per bad flag or output before any model is loaded (errors.FlagError / OutputError)."""
    for name, minimum in (("batch_size", 1), ("eval_chunks", 0), ("epochs", 1)):
        if getattr(FLAGS, name) < minimum:
            raise errors.FlagError(f"--{name}", f"must be >= {minimum}, got {getattr(FLAGS, name)}")
    if not 0.0 <= FLAGS.threshold <= 1.0:
        raise errors.FlagError("--threshold", f"must be in [0, 1], got {FLAGS.threshold}")
    if FLAGS.output_dir:
        fileio.check_output_dir(FLAGS.output_dir)
    for name in ("output_json", "output_md"):
        if getattr(FLAGS, name):
            fileio.check_output_file(getattr(FLAGS, name))


def main(argv):
    from absl import flags
    quiet_tf_logging()
    FLAGS = flags.FLAGS
    if len(argv) > 1:
        raise SystemExit(errors.report(PROG, errors.MusictagError(f"unexpected arguments: {argv[1:]}")))
    try:
        check_flags(FLAGS)
        if FLAGS.predictions:
            print(score_mtat_predictions(FLAGS), end="")
            return
        if not FLAGS.records_dir:
            raise errors.MusictagError("--records_dir is required")
        if FLAGS.compare:
            if not FLAGS.output_dir:
                raise errors.MusictagError("--compare needs --output_dir")
            manifest = manifest_lib.read_manifest(FLAGS.records_dir)
            tp = dataclasses.replace(params_lib.TrainParams(), epochs=FLAGS.epochs,
                                     batch_size=FLAGS.batch_size,
                                     task="multi" if manifest.has_emotion else "tags",
                                     eval_windows=FLAGS.eval_windows or params_lib.TrainParams().eval_windows,
                                     eval_chunks=FLAGS.eval_chunks or params_lib.TrainParams().eval_chunks)
            comparison = experiments.compare_variants(FLAGS.records_dir, FLAGS.output_dir, FLAGS.variants,
                                                      train_params=tp, split=FLAGS.split)
            print(comparison.markdown())
            return
        if not FLAGS.model_dir:
            raise errors.MusictagError("--model_dir is required (or use --compare / --predictions)")
        result = evaluation.evaluate_model_dir(FLAGS.model_dir, FLAGS.records_dir, FLAGS.split,
                                               FLAGS.batch_size, FLAGS.eval_chunks or None,
                                               FLAGS.output_dir or FLAGS.model_dir,
                                               eval_windows=FLAGS.eval_windows or None)
        print(evaluation.report_markdown(result.report, f"{result.variant} on {result.split}"))
    except (errors.MusictagError, ValueError, FileNotFoundError) as exc:
        raise SystemExit(errors.report(PROG, exc))


def run():
    from absl import app
    define_flags()
    show_flags_in_help(__name__)
    app.run(main)


if __name__ == "__main__":
    run()
