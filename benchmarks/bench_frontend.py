"""Benchmark: the audio front end on the real 29.1 s MTAT clip, against librosa.

Question it answers (BUILD_NOTES.md, "Log-mel front end"): how fast is decoding, and how
fast is the in-graph log-mel (both STFT implementations) compared with computing the same
features with librosa, the usual offline baseline? Rows:

* ``decode``: ``musictag_tf.audio.io.load_audio`` (GFile read + libsndfile mp3 decode; the
  clip is already 16 kHz mono, so no resampling);
* ``log-mel tf <impl>``: ``log_mel_spectrogram`` inside a ``tf.function`` with a
  ``[None]`` input signature, warmed up, for ``rfft`` and ``matmul``;
* ``log-mel tflite <impl>`` (unless ``--no_tflite``): the same layer converted with TFLite
  builtins only, run in ``ai_edge_litert`` (default XNNPACK delegate on);
* ``log-mel librosa`` (baseline): ``librosa.effects.preemphasis`` + ``librosa.feature.
  melspectrogram`` (same settings: n_fft 512, hop 256, 96 slaney mels, 0-8000 Hz, zero
  padding, power 2) + ``log10(1 + 10000 x)``, on the same float32 waveform.

Each time is the median of ``--repeats`` runs after one warm-up run, shown in ms, as
x real time (audio seconds / compute seconds) and as the time ratio against the librosa
row measured in the same run (< 1 = faster than librosa).

Usage (run from anywhere)::

    python benchmarks/bench_frontend.py [--repeats 20] [--no_tflite]

The clip comes from ``$MUSICTAG_SHARED_DATA`` or ``<repo>/../shared/data`` (read only);
without it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import platform
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import median_seconds  # noqa: E402
CLIP_RELATIVE = pathlib.Path("audio", "mtat", "joram-moments_of_clarity-08-solipsism-59-88.mp3")




def tflite_runner(params, num_samples: int):
    """A zero-argument callable running the converted layer on one clip, or None."""
    import tensorflow as tf
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None, "ai_edge_litert not installed"
    from musictag_tf.audio.features import LogMelSpectrogram

    layer = LogMelSpectrogram(params)
    fn = tf.function(lambda w: layer(w), input_signature=[tf.TensorSpec([1, num_samples], tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], layer)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    out_index = interpreter.get_output_details()[0]["index"]

    def run(waveform):
        interpreter.set_tensor(index, waveform[None, :])
        interpreter.invoke()
        return interpreter.get_tensor(out_index)

    return run, ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per row (median)")
    parser.add_argument("--no_tflite", action="store_true", help="skip the TFLite rows")
    parser.add_argument("--data_dir", default=os.environ.get(
        "MUSICTAG_SHARED_DATA", str(REPO_ROOT.parent / "shared" / "data")))
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    clip = pathlib.Path(args.data_dir) / CLIP_RELATIVE
    if not clip.is_file():
        print(f"The real MTAT clip is not at {clip}: nothing to benchmark "
              "(set MUSICTAG_SHARED_DATA to the folder holding audio/mtat/).")
        return 0

    import numpy as np
    import tensorflow as tf

    from musictag_tf.audio.features import log_mel_spectrogram, resolve_stft_impl
    from musictag_tf.audio.io import load_audio
    from musictag_tf.params import AudioParams

    params = AudioParams()
    waveform = load_audio(clip, params.sample_rate)
    seconds = waveform.shape[0] / params.sample_rate
    rows = []  # (stage, seconds per clip, note)

    rows.append(("decode (load_audio: GFile + libsndfile mp3)",
                 median_seconds(lambda: load_audio(clip, params.sample_rate), args.repeats), ""))

    outputs = {}
    for impl in ("rfft", "matmul"):
        impl_params = dataclasses.replace(params, stft_impl=impl)
        fn = tf.function(lambda w, p=impl_params: log_mel_spectrogram(w, p),
                         input_signature=[tf.TensorSpec([None], tf.float32)])
        x = tf.constant(waveform)
        outputs[impl] = fn(x).numpy()
        auto = " (= auto)" if resolve_stft_impl("auto") == impl else ""
        rows.append((f"log-mel tf.function {impl}{auto}",
                     median_seconds(lambda: fn(x).numpy(), args.repeats), ""))

    if not args.no_tflite:
        for impl in ("rfft", "matmul"):
            run, why = tflite_runner(dataclasses.replace(params, stft_impl=impl), waveform.shape[0])
            if run is None:
                rows.append((f"log-mel tflite {impl}", float("nan"), why))
                continue
            diff = float(np.max(np.abs(run(waveform)[0] - outputs[impl])))
            rows.append((f"log-mel tflite {impl} (builtins, XNNPACK)",
                         median_seconds(lambda: run(waveform), args.repeats),
                         f"max |diff| vs TF {diff:.1e}"))

    import librosa

    def librosa_log_mel():
        y = librosa.effects.preemphasis(waveform, coef=params.pre_emphasis, zi=[0.0])
        mel = librosa.feature.melspectrogram(
            y=y, sr=params.sample_rate, n_fft=params.window_samples, hop_length=params.hop_samples,
            window="hann", center=True, pad_mode="constant", power=2.0, n_mels=params.n_mels,
            fmin=params.fmin_hz, fmax=params.fmax_hz, htk=False, norm="slaney")
        return np.log10(1 + params.log_multiplier * mel).T

    reference = librosa_log_mel()
    baseline = median_seconds(librosa_log_mel, args.repeats)
    for impl in ("rfft", "matmul"):
        diff = float(np.max(np.abs(outputs[impl] - reference)))
        rows = [(stage, t, f"max |diff| vs librosa {diff:.1e}" if stage.startswith(
            f"log-mel tf.function {impl}") else note) for stage, t, note in rows]
    rows.append(("log-mel librosa 0.11 (baseline)", baseline, ""))

    print(f"Front end on {clip.name}: {seconds:.2f} s at {params.sample_rate} Hz, "
          f"{outputs['rfft'].shape[0]} frames x {params.n_mels} mels; median of {args.repeats} runs")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"TF {tf.__version__}, librosa {librosa.__version__}")
    print()
    print("| stage | ms / clip | x real time | time / librosa | note |")
    print("|---|---:|---:|---:|---|")
    for stage, t, note in rows:
        ratio = "" if stage.startswith("decode") else f"{t / baseline:.2f}"
        print(f"| {stage} | {1000 * t:.1f} | {seconds / t:.0f} | {ratio} | {note} |")
    print()
    print("time / librosa < 1 means faster than librosa. Decode is not a log-mel, so it has no ratio.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
