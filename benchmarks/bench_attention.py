"""Benchmark: what cnn_sam's attention outputs cost in the exported SavedModel and TFLite model.

Question it answers (BUILD_NOTES.md, "Where the model listened in the exports"): the export adds
``attention``, ``attention_start_seconds`` and ``attention_end_seconds`` to every tagging
signature of a cnn_sam SavedModel and to its TFLite window model. How much slower is tagging
with them, how many ops and bytes do they add to the TFLite model, and how far are the
dynamic-int8 / float16 TFLite attention weights from Keras's?

Model: an untrained default cnn_sam (benchmarks/bench_export.untrained_model_dir; timing does
not depend on the weights). Rows, measured side by side in this one run, A and B alternated
``--rounds`` times so machine load hits both alike; each figure is the median over rounds:

* ``SavedModel graph, 30 s clip``: the in-graph tagger (export.serving_graph.TaggingGraph.tag,
  as a tf.function) on one 30 s clip, without vs with the attention model.
* ``TFLite float32, 1 window``: the window model without vs with the attention outputs
  (ai-edge-litert, default delegates, 1 thread), ``--windows`` windows per timing.

    cd <repo> && PYTHONPATH=$PWD nice -n 10 python benchmarks/bench_attention.py
"""

from __future__ import annotations

import os
import pathlib
import shutil
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from absl import app, flags  # noqa: E402

flags.DEFINE_integer("rounds", 5, "Alternated A/B rounds (median reported).")
flags.DEFINE_integer("repeats", 3, "Timed calls per round (median).")
flags.DEFINE_integer("windows", 20, "TFLite windows per timed call.")
flags.DEFINE_float("clip_seconds", 30.0, "Clip length for the SavedModel graph rows, s.")
FLAGS = flags.FLAGS


def _plain_window_saved_model(model, spec, path: str) -> None:
    """The TFLite converter's input without attention outputs (heads only), for the baseline."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)

    def serving_default(waveform, lyrics_ids):
        out = model({"waveform": waveform, "lyrics_ids": lyrics_ids}, training=False)
        return {name: tf.cast(out[name], tf.float32) for name in spec.model.heads}

    archive.add_endpoint("serving_default", serving_default, [
        tf.TensorSpec([1, spec.chunk_samples], tf.float32, name="waveform"),
        tf.TensorSpec([1, spec.lyrics.max_tokens], tf.int32, name="lyrics_ids")])
    archive.write_out(path, verbose=False)


def _alternate(a, b, rounds: int, repeats: int):
    """(median s of a, median s of b) over ``rounds`` alternated rounds."""
    from timing import median_seconds
    times_a, times_b = [], []
    for _ in range(rounds):
        times_a.append(median_seconds(a, repeats))
        times_b.append(median_seconds(b, repeats))
    return statistics.median(times_a), statistics.median(times_b)


def main(argv) -> int:
    import numpy as np
    import tensorflow as tf

    from bench_export import untrained_model_dir
    from export import saved_model as sm
    from export import serving_graph, tflite
    from musictag_tf import windows as windows_lib
    from musictag_tf.model.attention import attention_model

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-attention-"))
    try:
        source = sm.load_model_source(untrained_model_dir(work / "run"))
        spec = source.spec
        explained = serving_graph.attention_model_for(source.model, spec)
        tags_path = work / "tags.txt"
        tags_path.write_text("".join(t + "\n" for t in source.tags), encoding="utf-8")
        table = serving_graph._tag_table(str(tags_path))
        config = sm.ServingConfig()
        rng = np.random.default_rng(0)
        samples = int(FLAGS.clip_seconds * spec.audio.sample_rate)
        wave = tf.constant((0.1 * rng.standard_normal((1, samples))).astype(np.float32))
        ids = tf.zeros([1, spec.lyrics.max_tokens], tf.int32)

        def graph_fn(attention):
            graph = serving_graph.TaggingGraph(source.model, spec, config, table,
                                               attention_model=explained if attention else None)
            fn = tf.function(lambda w: graph.tag(w, tf.fill([1], tf.shape(w)[1]), ids))
            return lambda: fn(wave)["tag_probabilities"].numpy()

        plain_graph, attn_graph = graph_fn(False), graph_fn(True)
        t_plain, t_attn = _alternate(plain_graph, attn_graph, FLAGS.rounds, FLAGS.repeats)
        print(f"SavedModel graph, {FLAGS.clip_seconds:g} s clip: without attention {t_plain * 1000:.0f} ms, "
              f"with {t_attn * 1000:.0f} ms, ratio {t_attn / t_plain:.3f}", flush=True)

        plain_dir, attn_dir = str(work / "plain"), str(work / "attn")
        _plain_window_saved_model(source.model, spec, plain_dir)
        tflite.write_window_saved_model(source.model, spec, attn_dir)
        flat = {"plain": tflite.convert(plain_dir, "float32"), "attn": tflite.convert(attn_dir, "float32")}
        for name, model in flat.items():
            ops = tflite.op_counts(model)
            print(f"TFLite float32 {name}: {len(model):,} bytes, {sum(ops.values())} ops, "
                  f"non-builtin {tflite.non_builtin_ops(ops)}", flush=True)
        wp = windows_lib.WindowParams(spec.chunk_samples, config.hop_samples(spec.chunk_samples))
        clip_windows, _ = windows_lib.split_windows(wave.numpy()[0], wp)
        clip_windows = clip_windows[: FLAGS.windows]
        window_ids = np.zeros([len(clip_windows), spec.lyrics.max_tokens], np.int32)
        runners = {name: tflite.WindowRunner(model, num_threads=1) for name, model in flat.items()}
        t_plain, t_attn = _alternate(lambda: runners["plain"](clip_windows, window_ids),
                                     lambda: runners["attn"](clip_windows, window_ids), FLAGS.rounds, FLAGS.repeats)
        n = len(clip_windows)
        print(f"TFLite float32, per window: without attention {t_plain / n * 1000:.1f} ms, with "
              f"{t_attn / n * 1000:.1f} ms, ratio {t_attn / t_plain:.3f}", flush=True)

        reference = attention_model(source.keras_model, spec)({"waveform": clip_windows, "lyrics_ids": window_ids},
                                                               training=False)
        for variant in tflite.VARIANTS:
            model = flat["attn"] if variant == "float32" else convert_variant(tflite, attn_dir, variant, flat, source)
            out = tflite.run_tflite(model, clip_windows, window_ids, num_threads=1)
            diff = float(np.max(np.abs(out["attention"] - reference["attention_weights"].numpy())))
            bounds = float(np.max(np.abs(out["attention_start_seconds"] - reference["segment_start_seconds"].numpy())))
            print(f"TFLite {variant}: max |attention - Keras| {diff:.2e}, max |segment start - Keras| {bounds:.2e} s "
                  f"({n} windows)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def convert_variant(tflite, window_dir: str, variant: str, flat: dict, source) -> bytes:
    """A quantized variant as musictag-export writes it (int8: front end kept float32)."""
    model = tflite.convert(window_dir, variant)
    if variant == "dynamic_int8":
        model, _ = tflite.keep_float_scopes(model, flat["attn"], tflite.front_end_scopes(source.model))
    return model


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
