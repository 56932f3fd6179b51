"""Would a calibrated full-integer int8 musicnn be faster? (issue 14, target 4)

    python benchmarks/bench_musicnn_int8.py [--model mtt_musicnn] [--calibration_windows 150] [--rounds 20]

Converts a shipped musicnn model's one-window graph to TFLite float32 and to full-integer int8
(calibrated on windows spread over the shared real recordings, ``../shared/data/audio``; the
log-mel front end and ``backend_dense`` kept float as in the dynamic-int8 export), then prints
per-window latency of both (2 threads, XNNPACK, alternating rounds, median), which ops run in
int8, and the int8 model's agreement with float32 per recording (top-5 overlap, max |diff| of
the clip scores).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np

SHARED_AUDIO = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "audio"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mtt_musicnn")
    parser.add_argument("--calibration_windows", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if not SHARED_AUDIO.is_dir():
        print(f"skipped: {SHARED_AUDIO} not present")
        return 0

    from export import pretrained_window as PW
    from export import tflite as T
    from musictag_tf import windows as W
    from musictag_tf.audio import io as audio_io
    from musictag_tf.tag.backends import load_tagger
    from musictag_tf.tag.inputs import find_audio_files

    tagger = load_tagger(args.model)
    wp = tagger.window_params()
    per_file = {}
    for f in find_audio_files([str(SHARED_AUDIO)]):
        per_file[f] = W.split_windows(audio_io.load_audio(f, tagger.info.sample_rate), wp)[0]
    spread = [w[np.linspace(0, len(w) - 1, min(len(w), 12)).astype(int)] for w in per_file.values()]
    calibration = np.concatenate(spread)[: args.calibration_windows].astype(np.float32)

    saved = os.path.join(tempfile.mkdtemp(), "window")
    PW.write_window_saved_model(tagger.model, saved, batch=1)
    float32 = T.convert(saved, "float32")
    started = time.time()
    scopes = PW.float_scopes(tagger.model)
    int8 = T.convert_int8(saved, T.Calibration(calibration, None, "shared recordings"), scopes)
    summary = T.int8_summary(T.op_types(int8))
    print(f"{args.model}: int8 calibrated on {len(calibration)} windows of {len(per_file)} recordings in "
          f"{time.time() - started:.0f} s; float scopes {scopes}")
    print(f"int8 ops {summary['int8_ops']}, float32 ops {summary['float32_ops']}: int8 {summary['int8']}; "
          f"float32 {summary['float32']}")

    runners = {name: T.interpreter(flat, num_threads=args.threads).get_signature_runner()
               for name, flat in (("float32", float32), ("int8", int8))}
    x = calibration[:1]
    times = {name: [] for name in runners}
    for name, run in runners.items():
        for _ in range(3):
            run(waveform=x)
    for _ in range(args.rounds):  # alternating, so machine load hits both alike
        for name, run in runners.items():
            t = time.perf_counter()
            run(waveform=x)
            times[name].append(time.perf_counter() - t)
    f32_ms, int8_ms = (1000 * statistics.median(times[n]) for n in ("float32", "int8"))
    print(f"\n| {args.model} TFLite | ms / 3 s window (median of {args.rounds}, {args.threads} threads) |")
    print("|---|---:|")
    print(f"| float32 | {f32_ms:.1f} |\n| int8 (calibrated) | {int8_ms:.1f} |")
    print(f"int8 / float32 speed: {f32_ms / int8_ms:.2f}x")

    overlap, worst = [], 0.0
    for windows in per_file.values():
        a = PW.run_tflite_windows(float32, windows)["tags"].mean(0)
        b = PW.run_tflite_windows(int8, windows)["tags"].mean(0)
        worst = max(worst, float(np.abs(a - b).max()))
        overlap.append(len(set(np.argsort(-a)[:5]) & set(np.argsort(-b)[:5])) / 5)
    print(f"int8 vs float32 on {len(per_file)} recordings: top-5 overlap {np.mean(overlap):.3f}, "
          f"max |clip score diff| {worst:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
