"""The pretrained musicnn models (musictag_tf/model/pretrained) as window SavedModels and TFLite.

One model call = one 3 s window (see musictag_tf/model/musicnn_windows.py)::

    input   waveform  float32 [1, 48128] at 16 kHz
    outputs tags [1, 50] sigmoid, embedding_pooled [1, D_p], embedding_penultimate [1, D_e]

TFLite variants as in export/tflite.py (builtin ops only; the dynamic-range int8 variant keeps
the log-mel front end's constant matrices and ``INT8_FLOAT_LAYERS`` in float32). Windowing, averaging and tag names are
the caller's. ``python -m export.pretrained_window`` measures every runtime against the
original musicnn's reference taggrams (the numbers in BUILD_NOTES.md).
"""

from __future__ import annotations

import collections
import pathlib
from typing import Dict, List

import keras
import numpy as np
import tensorflow as tf

from export import tflite as tflite_lib
from musictag_tf.model.musicnn import OUTPUT_NAMES

RUNTIMES = ("keras", "saved_model") + tuple(f"tflite_{v}" for v in tflite_lib.UNCALIBRATED_VARIANTS)
# Layers kept float32 in the dynamic-range int8 model besides the log-mel front end. musicnn's
# backend_dense (1506 x 200, 38 % of its weights) reads the max/mean-pooled features with the
# backend batch norm folded in; their ranges differ by orders of magnitude across the 1,506
# inputs, and the hybrid kernel quantizes its input to 8 bits per tensor. Measured on the
# reference recordings (mtt_musicnn, BUILD_NOTES.md): clip max-abs 0.10 with it in int8,
# 0.014 with it in float32.
INT8_FLOAT_LAYERS = ("backend_dense",)


def write_window_saved_model(model: keras.Model, path: str, batch=None) -> None:
    """``serving_default(waveform float32 [batch, window]) -> {tags, embedding_*}``."""
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serving_default(waveform):
        out = model(waveform, training=False)
        return {name: tf.cast(out[name], tf.float32) for name in OUTPUT_NAMES}

    archive.add_endpoint("serving_default", serving_default,
                         [tf.TensorSpec([batch, model.input.shape[-1]], tf.float32, name="waveform")])
    archive.write_out(path, verbose=False)


def float_scopes(model: keras.Model) -> List[str]:
    """Layers of a musicnn model kept float32 when quantizing: the log-mel front end and
    ``INT8_FLOAT_LAYERS`` (those the model has)."""
    present = {layer.name for layer in model.layers}
    return tflite_lib.front_end_scopes(model) + [n for n in INT8_FLOAT_LAYERS if n in present]


def tflite_model(model: keras.Model, variant: str, workdir: str) -> bytes:
    """TFLite flatbuffer of ``model`` on one window (``variant`` of tflite.VARIANTS)."""
    saved = str(pathlib.Path(workdir) / f"window_{model.name}")
    if not pathlib.Path(saved).exists():
        write_window_saved_model(model, saved, batch=1)
    flat = tflite_lib.convert(saved, variant)
    if variant == "dynamic_int8":
        reference = tflite_lib.convert(saved, "float32")
        flat, _ = tflite_lib.keep_float_scopes(flat, reference, float_scopes(model))
    ops = tflite_lib.op_counts(flat)
    if tflite_lib.non_builtin_ops(ops):
        raise tflite_lib.TFLiteExportError(model.name, f"non-builtin ops {tflite_lib.non_builtin_ops(ops)}")
    return flat


def run_tflite_windows(flat: bytes, windows: np.ndarray) -> Dict[str, np.ndarray]:
    """Run a window TFLite model on each row of float32 [n, window]."""
    runner = tflite_lib.interpreter(flat).get_signature_runner()
    outputs = collections.defaultdict(list)
    for window in windows:
        for name, value in runner(waveform=np.asarray(window, np.float32)[None]).items():
            outputs[name].append(value[0])
    return {name: np.stack(v) for name, v in outputs.items()}


def run_saved_model(path: str, windows: np.ndarray, batch_size: int = 8) -> Dict[str, np.ndarray]:
    fn = tf.saved_model.load(path).signatures["serving_default"]
    outputs = collections.defaultdict(list)
    for begin in range(0, len(windows), batch_size):
        for name, value in fn(waveform=tf.constant(windows[begin:begin + batch_size])).items():
            outputs[name].append(value.numpy())
    return {name: np.concatenate(v) for name, v in outputs.items()}


def main(argv):
    import tempfile

    from absl import flags

    from musictag_tf.model.pretrained import parity
    from musictag_tf.model.pretrained.registry import load_pretrained

    del argv
    f = flags.FLAGS
    reference_path = pathlib.Path(f.reference)
    reference = parity.load_reference(reference_path)
    audio_dir = reference_path.parent.parent / "audio"
    print("| model | runtime | files | clip max-abs | row max-abs | min top-5 overlap | all same order |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in f.models:
            model, _ = load_pretrained(name)
            for runtime in f.runtimes:
                if runtime == "keras":
                    run = lambda w: model.predict(w, batch_size=8, verbose=0)["tags"]  # noqa: E731
                elif runtime == "saved_model":
                    path = str(pathlib.Path(tmp) / f"sm_{name}")
                    write_window_saved_model(model, path)
                    run = lambda w, p=path: run_saved_model(p, w)["tags"]  # noqa: E731
                else:
                    flat = tflite_model(model, runtime.removeprefix("tflite_"), tmp)
                    run = lambda w, fl=flat: run_tflite_windows(fl, w)["tags"]  # noqa: E731
                devs = [d for _, _, n, d in parity.measure(name, run, reference, audio_dir)
                        if d is not None and n >= parity.MIN_PATCHES]
                print(f"| {name} | {runtime} | {len(devs)} | {max(d.clip_max_abs for d in devs):.2e} | "
                      f"{max(d.row_max_abs for d in devs):.2e} | {min(d.top_k_overlap for d in devs)}/5 | "
                      f"{all(d.top_k_same_order for d in devs)} |", flush=True)


def run():
    from absl import app, flags

    flags.DEFINE_string("reference", "../shared/data/results/musicnn_reference.json",
                        "musicnn_reference.json; the audio is read from ../audio beside its folder")
    flags.DEFINE_list("models", ["mtt_musicnn", "msd_musicnn", "mtt_vgg"], "shipped models to check")
    flags.DEFINE_list("runtimes", list(RUNTIMES), f"of {', '.join(RUNTIMES)}")
    app.run(main)


if __name__ == "__main__":
    run()
