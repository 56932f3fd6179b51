"""``python -m export`` / ``musictag-export``: SavedModel (TF Serving layout) + TFLite from a training run.

    musictag-export --model_dir=runs/cnn_sam --export_dir=exports/cnn_sam \\
        [--version=0] [--top_k=5] [--tflite=float32,dynamic_int8,float16,int8] [--records_dir=records]
        [--calibration_records=records]   # int8: calibration windows (default: the run's records)

    musictag-export --model=mtt_musicnn --export_dir=exports/mtt_musicnn   # a shipped model (export/pretrained.py)

writes::

    exports/cnn_sam/saved_model/<version>/   SavedModel, signatures in export/saved_model.py
    exports/cnn_sam/tflite/model_{float32,dynamic_int8,float16,int8}.tflite, musictag.json, tags.txt, vocab.txt
    exports/cnn_sam/models.config            TF Serving model config (docker command printed)

After writing, the SavedModel is reloaded and its ``serving_default`` compared with the Keras
model on a random clip, and every TFLite model with the Keras model on random windows; with
``--records_dir`` each runtime is also scored (macro ROC-AUC) on the records' test split.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from musictag_tf import artifacts
from musictag_tf import errors
from musictag_tf import params as params_lib
from musictag_tf import windows as windows_lib

SAVED_MODEL_SUBDIR = artifacts.SAVED_MODEL_SUBDIR
TFLITE_SUBDIR = artifacts.TFLITE_SUBDIR
MODELS_CONFIG = artifacts.MODELS_CONFIG_FILE
PROG = "musictag-export"


def define_flags():
    from absl import flags

    from export import tflite

    d_tag = params_lib.TagParams()
    from musictag_tf.model.pretrained.registry import SHIPPED_NAMES

    flags.DEFINE_string("model_dir", None, "Training run directory (spec.json, best.keras, tags.txt, vocab.txt).")
    flags.DEFINE_string("model", None, f"A shipped pretrained model to export instead of --model_dir "
                        f"({' | '.join(SHIPPED_NAMES)}).")
    flags.DEFINE_string("export_dir", None, "Output directory (saved_model/<version>, tflite/, models.config).")
    flags.DEFINE_integer("version", 0, "SavedModel version number (0: one above the highest present).")
    flags.DEFINE_boolean("overwrite", False, "Replace an existing version directory.")
    flags.DEFINE_integer("top_k", d_tag.top_k, "Tag names returned per clip by the serving signatures.")
    flags.DEFINE_float("hop_fraction", d_tag.hop_fraction,
                       "Window hop of the serving signatures and the tagger, as a fraction of the window.")
    flags.DEFINE_integer("window_batch", d_tag.window_batch,
                         "Windows per forward pass inside the SavedModel (bounds memory).")
    flags.DEFINE_list("tflite", list(tflite.VARIANTS),
                      f"TFLite variants to write, any of {', '.join(tflite.VARIANTS)} (empty: none).")
    d_int8 = params_lib.Int8Params()
    flags.DEFINE_string("calibration_records", None,
                        "Records directory whose training split calibrates the full-integer int8 TFLite "
                        "model (default: the records the run was trained on, from spec.json, when present; "
                        "without any, int8 is skipped unless --tflite names it).")
    flags.DEFINE_integer("calibration_windows", d_int8.calibration_windows,
                         "Training-split windows the int8 calibration runs (at most "
                         f"{d_int8.calibration_windows_per_clip} per clip).")
    flags.DEFINE_enum("tflite_stft", "model", ["model", "rfft", "matmul"],
                      "STFT implementation in the TFLite graphs ('model': as trained; no weights change).")
    flags.DEFINE_string("model_name", "musictag", "Model name in models.config and the REST URL.")
    flags.DEFINE_string("records_dir", None, "Also score Keras and every TFLite model on this records "
                        "directory's split (macro ROC-AUC).")
    flags.DEFINE_string("split", "test", "Records split used with --records_dir.")
    flags.DEFINE_boolean("check", True, "Reload the exports and compare them with the Keras model.")
    flags.mark_flags_as_required(["export_dir"])


def _random_clip(spec, seconds_factor: float = 2.3, seed: int = 0):
    rng = np.random.default_rng(seed)
    samples = int(spec.chunk_samples * seconds_factor)
    t = np.arange(samples) / spec.audio.sample_rate
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(samples)
    ids = np.zeros([spec.lyrics.max_tokens], np.int32)
    ids[:8] = rng.integers(2, max(3, spec.vocab_size), 8)
    return wave.astype(np.float32), ids


def check_saved_model(source, version_dir: str, hop: int) -> float:
    """Max |SavedModel serving_default - Keras windows averaged| on a random 2.3-window clip."""
    import tensorflow as tf

    from export import tflite

    wave, ids = _random_clip(source.spec)
    loaded = tf.saved_model.load(version_dir)
    out = loaded.signatures["serving_default"](waveform=tf.constant(wave[None]), lyrics_ids=tf.constant(ids[None]))
    windows, _ = windows_lib.split_windows(wave, windows_lib.WindowParams(source.spec.chunk_samples, hop))
    reference = windows_lib.mean_over_windows(
        tflite.run_keras(source.model, windows, np.repeat(ids[None], len(windows), 0)))
    return max(float(np.max(np.abs(out[artifacts.PROBABILITY_OUTPUTS[head]].numpy()[0] - reference[head])))
               for head in source.heads)


def check_tflite(source, models) -> dict:
    from export import tflite

    rng = np.random.default_rng(1)
    spec = source.spec
    waves = (0.1 * rng.standard_normal((4, spec.chunk_samples))).astype(np.float32)
    ids = np.zeros((4, spec.lyrics.max_tokens), np.int32)
    ids[:2, :8] = rng.integers(2, max(3, spec.vocab_size), (2, 8))
    reference = tflite.run_keras(source.model, waves, ids)
    return {m.variant: max(tflite.max_abs_difference(reference, tflite.run_tflite(m.path, waves, ids)).values())
            for m in models}


def main(argv):
    from absl import flags

    from export import saved_model as sm
    from export import serving, tflite

    FLAGS = flags.FLAGS
    from absl import logging

    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # the SavedModel writer logs every renamed capture at INFO
    if len(argv) > 1:
        return errors.report(PROG, errors.MusictagError(f"unexpected arguments {argv[1:]}"))
    variants = [v for v in FLAGS.tflite if v]
    unknown = sorted(set(variants) - set(tflite.VARIANTS))
    if unknown:
        return errors.report(PROG, errors.MusictagError(
            f"unknown --tflite variants {unknown}; choose from {tflite.VARIANTS}"))
    if bool(FLAGS.model_dir) == bool(FLAGS.model):
        return errors.report(PROG, errors.MusictagError("give exactly one of --model_dir and --model"))
    from musictag_tf.model.pretrained import registry
    if FLAGS.model in registry.SHIPPED_STUDENTS:  # a shipped student is a training run
        FLAGS.model_dir, FLAGS.model = registry.student_run_dir(FLAGS.model), None
    if FLAGS.model:
        return _export_shipped(FLAGS, variants)
    try:
        config = sm.ServingConfig(top_k=FLAGS.top_k, hop_fraction=FLAGS.hop_fraction,
                                  window_batch=FLAGS.window_batch)
        start = time.time()
        records = None
        if set(variants) & set(tflite.CALIBRATED_VARIANTS):  # checked before the slow steps
            records = calibration_records(FLAGS.calibration_records, FLAGS.model_dir)
            if records is None and FLAGS["tflite"].present:
                raise errors.MusictagError("--tflite=int8", "needs calibration windows: give --calibration_records "
                                                            "(a records directory with a train split)")
            if records is None:
                variants = [v for v in variants if v not in tflite.CALIBRATED_VARIANTS]
                print("TFLite int8 skipped: no records to calibrate on (--calibration_records)", flush=True)
        source = sm.load_model_source(FLAGS.model_dir)
        print(f"model: {source.spec.model.variant}, heads {', '.join(source.heads)}, "
              f"{source.model.count_params():,} parameters, window {source.spec.chunk_samples} samples", flush=True)
        base = os.path.join(FLAGS.export_dir, SAVED_MODEL_SUBDIR)
        exported = sm.export_saved_model(source, base, FLAGS.version, config, FLAGS.overwrite)
        print(f"SavedModel: {exported.path} ({exported.size_bytes:,} bytes), signatures: "
              f"{', '.join(exported.signatures)}", flush=True)
        config_path = os.path.join(FLAGS.export_dir, MODELS_CONFIG)
        from musictag_tf.fileio import write_atomic
        write_atomic(config_path, serving.models_config(
            [(FLAGS.model_name, serving.container_base_path(FLAGS.model_name))]))
        print(f"TF Serving config: {config_path}\n  {serving.docker_command(FLAGS.export_dir, FLAGS.model_name)}")
        if FLAGS.check:
            diff = check_saved_model(source, exported.path, config.hop_samples(source.spec.chunk_samples))
            print(f"  reloaded serving_default vs Keras: max |diff| {diff:.2e}", flush=True)
        models = []
        calibration = None
        if records is not None:
            int8_params = params_lib.Int8Params(calibration_windows=FLAGS.calibration_windows)
            calibration = tflite.calibration_windows(records, source.spec, "train", int8_params)
            print(f"int8 calibration: {len(calibration.waveforms)} windows of {calibration.source}", flush=True)
        if variants:
            out_dir = os.path.join(FLAGS.export_dir, TFLITE_SUBDIR)
            stft = None if FLAGS.tflite_stft == "model" else FLAGS.tflite_stft
            models = tflite.export_tflite(source, out_dir, variants, stft_impl=stft, config=config,
                                          calibration=calibration)
            parity = check_tflite(source, models) if FLAGS.check else {}
            print(f"TFLite: {out_dir}")
            for m in models:
                extra = f", max |diff| vs Keras {parity[m.variant]:.2e}" if m.variant in parity else ""
                print(f"  {m.variant:13s} {m.size_bytes:>12,} bytes, {sum(m.ops.values())} ops "
                      f"({len(m.ops)} kinds, builtin only){extra}")
        if FLAGS.records_dir:
            print(f"scores on {FLAGS.records_dir} [{FLAGS.split}]:")
            for s in tflite.evaluate_on_records(source, models, FLAGS.records_dir, FLAGS.split):
                roc = "-" if s.roc_auc_macro is None else f"{s.roc_auc_macro:.4f}"
                acc = "  ".join(f"{h} acc {a:.3f}" for h, a in s.emotion_accuracy.items())
                print(f"  {s.name:13s} ROC-AUC {roc}  {acc}")
        print(f"done in {time.time() - start:.1f} s")
    except (errors.MusictagError, ValueError, OSError) as exc:
        return errors.report(PROG, exc)
    return 0


def calibration_records(flag: str | None, model_dir: str) -> str | None:
    """The records directory that calibrates int8: ``flag``, else the run's own records (spec.json)
    when they are still there, else None."""
    from musictag_tf import runs
    from musictag_tf.data import manifest as manifest_lib

    if flag:
        return flag
    recorded = runs.load_spec(model_dir)[2].get("records_dir") or ""
    if recorded and os.path.exists(os.path.join(recorded, manifest_lib.MANIFEST_NAME)):
        return recorded
    return None


def _export_shipped(FLAGS, variants) -> int:
    """``--model=NAME``: export a shipped pretrained model (export/pretrained.py)."""
    from export import pretrained
    from export import tflite
    from musictag_tf.model.pretrained.registry import UnknownModelError

    calibrated = [v for v in variants if v in tflite.CALIBRATED_VARIANTS]
    if calibrated and FLAGS["tflite"].present:
        return errors.report(PROG, errors.MusictagError(
            "--tflite", f"{calibrated} needs musictag records to calibrate on; not available for shipped models"))
    variants = [v for v in variants if v not in calibrated]

    start = time.time()
    try:
        config = params_lib.TagParams(top_k=FLAGS.top_k, window_batch=FLAGS.window_batch)
        out = pretrained.export_pretrained(FLAGS.model, FLAGS.export_dir, FLAGS.version, FLAGS.overwrite,
                                           variants, config)
    except UnknownModelError as exc:
        return errors.report(PROG, errors.MusictagError("--model", str(exc)))
    except (errors.MusictagError, ValueError, OSError) as exc:
        return errors.report(PROG, exc)
    print(f"SavedModel: {out['saved_model']}, signatures: {', '.join(out['metadata']['signatures'])}")
    for variant, path in out["tflite"].items():
        print(f"  {variant:13s} {path} ({os.path.getsize(path):,} bytes, builtin ops only)")
    print(f"done in {time.time() - start:.1f} s")
    return 0


def run():
    from absl import app

    define_flags()
    from musictag_tf.logs import show_flags_in_help
    show_flags_in_help(__name__)
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
