"""Benchmark: full-integer int8 TFLite vs float32 and dynamic-range int8 (issue 14, item 3).

Questions it answers (BUILD_NOTES.md, "Full-integer int8 TFLite"):

1. **Speed** -- ms per 8 s window (one ``invoke``, XNNPACK on, as ``WindowRunner`` runs it) and
   ms per clip (``musictag tag``'s path on the 29.1 s MTAT clip, decode included) for the default
   cnn_sam (and audio_vgg), float32 vs dynamic_int8 vs int8. The runtimes are ALTERNATED within
   every round, so machine load hits all of them alike; the ratio is float32 time / variant time
   (> 1 = faster). The weights are untrained (speed does not depend on their values); the int8
   model is calibrated on windows of the real recordings here (no records of 8 s clips exist on
   this machine). The front end alone (a log-mel-only TFLite model) is timed in the same rounds,
   to show how much of a window stays float whatever the network's precision.
2. **Accuracy** -- a small cnn_sam trained on a synthetic dataset (tfrecords_builder synthetic ->
   records -> 12 epochs, the settings of tests/test_export.py's slow test); int8 calibrated on the
   records' TRAINING split; macro ROC-AUC of float32 / dynamic_int8 / int8 on the TEST split
   (``export.tflite.evaluate_on_records``), and top-5 agreement with float32 on every real
   recording in ../shared/data/audio (``musictag tag``'s path).

Usage::

    python benchmarks/bench_int8.py [--rounds 150] [--clip_rounds 9] [--stages] [--skip_accuracy]
                                    [--skip_speed] [--variants cnn_sam,audio_vgg] [--threads 2]

Audio comes from ``$MUSICTAG_SHARED_DATA`` or ``<repo>/../shared/data`` (read only); without it the
script says so and exits 0.
"""

from __future__ import annotations

import argparse
import collections
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
SHARED = pathlib.Path(os.environ.get("MUSICTAG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
CLIP = SHARED / "audio" / "mtat" / "joram-moments_of_clarity-08-solipsism-59-88.mp3"
RUNTIMES = ("float32", "dynamic_int8", "int8")


def real_files():
    exts = (".mp3", ".ogg", ".wav", ".flac")
    return sorted(str(p) for p in (SHARED / "audio").rglob("*") if p.suffix.lower() in exts)


def real_calibration(spec, count: int):
    """Windows of the real recordings (the tagger's windows), with no lyrics: float32 [n, chunk]."""
    import numpy as np

    from export import tflite
    from musictag_tf import windows as windows_lib
    from musictag_tf.audio.io import load_audio

    params = windows_lib.WindowParams(spec.chunk_samples, spec.chunk_samples // 2)
    waves = []
    for path in real_files():
        wave = load_audio(path, spec.audio.sample_rate)
        waves.extend(windows_lib.split_windows(wave, params)[0][:3])
    waves = np.stack(waves[:count]).astype(np.float32)
    return tflite.Calibration(waves, np.zeros((len(waves), spec.lyrics.max_tokens), np.int32),
                              f"{len(waves)} windows of the real recordings")


def model_dir_for(variant: str, path: pathlib.Path) -> str:
    """A training-run directory around an untrained default ``variant`` (MTAT tags, 5,000 words)."""
    import keras

    from musictag_tf import params as P
    from musictag_tf import train
    from musictag_tf.lyrics.vocab import Vocabulary
    from musictag_tf.model import variants
    from musictag_tf.mtat import datasets as mtat

    path.mkdir(parents=True, exist_ok=True)
    vocab = Vocabulary([f"word{i}" for i in range(4998)])
    vocab.save(str(path / "vocab.txt"))
    tags = list(mtat.TOP50_TAGS)
    spec = variants.ModelSpec(model=P.ModelParams(variant=variant), audio=P.AudioParams(),
                              segments=P.SegmentParams(), lyrics=P.LyricsParams(), vocab_size=len(vocab))
    keras.utils.set_random_seed(0)
    variants.build_model(spec).save(str(path / "best.keras"))
    train.save_spec(str(path), spec, tags, train.TrainJob(records_dir="", model_dir=str(path)))
    (path / "tags.txt").write_text("".join(t + "\n" for t in tags), encoding="utf-8")
    return str(path)


def front_end_tflite(spec, work: pathlib.Path) -> bytes:
    """The log-mel front end alone as a float32 TFLite model [1, chunk] -> [1, frames, mels]."""
    import keras
    import tensorflow as tf

    from export import tflite
    from musictag_tf.audio.features import LogMelSpectrogram

    layer = LogMelSpectrogram(spec.audio, name="log_mel")
    layer(tf.zeros([1, spec.chunk_samples]))  # build
    archive = keras.export.ExportArchive()
    archive.track(layer)
    archive.add_endpoint("serving_default", lambda waveform: {"log_mel": layer(waveform)},
                         [tf.TensorSpec([1, spec.chunk_samples], tf.float32, name="waveform")])
    path = str(work / "front_end")
    archive.write_out(path, verbose=False)
    return tflite.convert(path, "float32")


def alternate(calls: dict, rounds: int) -> dict:
    """name -> per-call seconds: every round calls each function once, in turn, so load bursts on
    this shared machine hit every runtime alike (medians over rounds are compared)."""
    times = collections.defaultdict(list)
    for fn in calls.values():  # warm-up
        fn()
    for _ in range(rounds):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def _endpoint(sub):
    def serving_default(waveform, lyrics_ids):
        return {"out": sub({"waveform": waveform, "lyrics_ids": lyrics_ids})["out"]}
    return serving_default


def stage_models(source, calibration, work: pathlib.Path) -> dict:
    """Prefixes of cnn_sam's window network as TFLite models, float32 and int8 (same float layers
    as the int8 export): "<stage> <precision>" -> bytes. Stage k's cost = time(k) - time(k-1)."""
    import keras
    import tensorflow as tf

    from export import tflite
    from musictag_tf import params as P

    model, spec = source.model, source.spec
    outputs = {"log-mel": model.get_layer("log_mel").output,
               "+ conv branches": model.get_layer("audio_steps").output,
               "+ adaptive segments": model.get_layer("adaptive_segments").output[0],
               "+ BiLSTM": model.get_layer("bilstm").output}
    scopes = tflite.float_layer_scopes(model, P.Int8Params().float_layers)
    models = {}
    for stage, tensor in outputs.items():
        sub = keras.Model(model.input, {"out": tensor})
        archive = keras.export.ExportArchive()
        archive.track(sub)
        archive.add_endpoint("serving_default", _endpoint(sub), [tf.TensorSpec([1, spec.chunk_samples], tf.float32, name="waveform"),
                              tf.TensorSpec([1, spec.lyrics.max_tokens], tf.int32, name="lyrics_ids")])
        path = str(work / f"stage_{len(models)}")
        archive.write_out(path, verbose=False)
        models[f"{stage} float32"] = tflite.convert(path, "float32")
        if stage != "log-mel":
            models[f"{stage} int8"] = tflite.convert_int8(path, calibration, scopes)
    return models


def speed(variant: str, args, work: pathlib.Path) -> list:
    import numpy as np

    from export import saved_model as sm
    from export import tflite
    from musictag_tf.audio.io import load_audio
    from musictag_tf.tag import backends as tag_backends, tagger as tag_tagger

    source = sm.load_model_source(model_dir_for(variant, work / variant))
    spec = source.spec
    started = time.time()
    calibration = real_calibration(spec, args.calibration_windows)
    models = {m.variant: m for m in tflite.export_tflite(source, str(work / f"{variant}_tflite"),
                                                          RUNTIMES, calibration=calibration)}
    export_seconds = time.time() - started
    summary = tflite.int8_summary(tflite.op_types(models["int8"].path))
    print(f"{variant}: {source.model.count_params():,} parameters; export {export_seconds:.0f} s; int8 model: "
          f"{summary['int8_ops']} int8 ops, {summary['float32_ops']} float32 ops, {summary['quantize']} QUANTIZE, "
          f"{summary['dequantize']} DEQUANTIZE", flush=True)
    print(f"  int8 ops: {summary['int8']}\n  float32 ops: {summary['float32']}", flush=True)
    real = load_audio(str(CLIP), spec.audio.sample_rate)
    wave = real[None, : spec.chunk_samples].astype(np.float32)
    ids = np.zeros((1, spec.lyrics.max_tokens), np.int32)
    runners = {name: tflite.WindowRunner(m.path, args.threads) for name, m in models.items()}
    runners["front end"] = tflite.WindowRunner(front_end_tflite(spec, work), args.threads)
    taggers = {name: tag_backends.load_tagger(m.path, num_threads=args.threads) for name, m in models.items()}
    window_times = alternate({name: (lambda run=run: run(wave, ids)) for name, run in runners.items()},
                             args.rounds)
    clip_times = alternate({name: (lambda t=tagger: tag_tagger.tag_file(t, str(CLIP)))
                            for name, tagger in taggers.items()}, args.clip_rounds)
    if args.stages and variant == "cnn_sam":
        stages = stage_models(source, calibration, work)
        stage_runners = {name: tflite.WindowRunner(flat, args.threads) for name, flat in stages.items()}
        stage_runners["full float32"] = runners["float32"]
        stage_runners["full int8"] = runners["int8"]
        stage_times = alternate({name: (lambda run=run: run(wave, ids)) for name, run in stage_runners.items()},
                                args.rounds)
        print_stages(stage_times)
    rows = []
    base_w = statistics.median(window_times["float32"])
    base_c = statistics.median(clip_times["float32"])
    for name in list(RUNTIMES) + ["front end"]:
        w = statistics.median(window_times[name])
        c = statistics.median(clip_times[name]) if name in clip_times else None
        size = models[name].size_bytes if name in models else None
        rows.append((variant, name, size, 1000 * w, base_w / w, None if c is None else 1000 * c,
                     None if c is None else base_c / c))
    return rows


def accuracy(args, work: pathlib.Path):
    import numpy as np

    from export import saved_model as sm
    from export import tflite
    from musictag_tf.demo import train_small_model
    from musictag_tf.tag import backends as tag_backends, tagger as tag_tagger

    started = time.time()
    model_dir, records_dir = train_small_model(str(work / "small"))
    source = sm.load_model_source(model_dir)
    calibration = tflite.calibration_windows(records_dir, source.spec, "train")
    models = tflite.export_tflite(source, str(work / "trained_tflite"), RUNTIMES, calibration=calibration)
    print(f"trained model: {time.time() - started:.0f} s (data, records, 12 epochs, export); int8 calibrated "
          f"on {len(calibration.waveforms)} windows of {calibration.source}", flush=True)
    scores = {s.name: s for s in tflite.evaluate_on_records(source, models, records_dir, "test", max_chunks=4)}
    files = real_files()
    top5 = {}
    taggers = {m.variant: tag_backends.load_tagger(m.path) for m in models}
    reference = {f: tag_tagger.tag_file(taggers["float32"], f).probabilities["tags"] for f in files}
    for name in RUNTIMES[1:]:
        same_set = same_order = common = 0
        for f in files:
            p = tag_tagger.tag_file(taggers[name], f).probabilities["tags"]
            a, b = np.argsort(-reference[f])[:5], np.argsort(-p)[:5]
            same_set += set(a) == set(b)
            same_order += list(a) == list(b)
            common += len(set(a) & set(b))
        top5[name] = (same_set, same_order, len(files), common / len(files))
    return scores, top5


def print_stages(times: dict) -> None:
    """Where a window's time goes: cumulative prefixes of the network, float32 vs int8."""
    order = ["log-mel", "+ conv branches", "+ adaptive segments", "+ BiLSTM", "full"]
    print("\nWhere the time goes (cnn_sam window; median ms of cumulative prefixes; stage = difference)\n")
    print("| prefix of the network | float32 ms | stage float32 ms | int8 ms | stage int8 ms | stage speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    prev_f = prev_q = 0.0
    for stage in order:
        f = 1000 * statistics.median(times[f"{stage} float32"])
        q = 1000 * statistics.median(times[f"{stage} int8"]) if f"{stage} int8" in times else f
        df, dq = f - prev_f, q - prev_q
        print(f"| {stage} | {f:.1f} | {df:.1f} | {q:.1f} | {dq:.1f} | {df / dq if dq > 0 else float('nan'):.2f} |")
        prev_f, prev_q = f, q
    print(flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=150, help="alternating window rounds (one invoke per "
                        "runtime per round; median over rounds)")
    parser.add_argument("--clip_rounds", type=int, default=9, help="alternating rounds of tagging the clip")
    parser.add_argument("--stages", action="store_true", help="also time prefixes of cnn_sam (where the time goes)")
    parser.add_argument("--calibration_windows", type=int, default=64, help="real windows for the speed models")
    parser.add_argument("--variants", default="cnn_sam,audio_vgg", help="model variants for the speed table")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="TFLite interpreter threads")
    parser.add_argument("--skip_speed", action="store_true")
    parser.add_argument("--skip_accuracy", action="store_true")
    args = parser.parse_args(argv)
    if not CLIP.exists():
        print(f"The real MTAT clip is not at {CLIP}: nothing to benchmark (set MUSICTAG_SHARED_DATA).")
        return 0
    import tensorflow as tf
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-int8-"))
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, TF {tf.__version__}, "
          f"TFLite threads {args.threads}, load average at start {os.getloadavg()[0]:.2f}", flush=True)
    if not args.skip_speed:
        rows = []
        for variant in [v for v in args.variants.split(",") if v]:
            rows += speed(variant, args, work)
        print(f"\nSpeed (untrained default models; window: median of {args.rounds} alternating invokes, clip: "
              f"median of {args.clip_rounds} alternating runs of musictag tag's path on {CLIP.name}, 29.1 s, "
              f"decode included; load average now {os.getloadavg()[0]:.2f})\n")
        print("| model | runtime | bytes | ms / window | window speed-up vs float32 | ms / clip | clip speed-up |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for model, name, size, w, wr, c, cr in rows:
            print(f"| {model} | {name} | {'' if size is None else f'{size:,}'} | {w:.1f} | {wr:.2f} | "
                  f"{'' if c is None else f'{c:.0f}'} | {'' if cr is None else f'{cr:.2f}'} |")
    if not args.skip_accuracy:
        scores, top5 = accuracy(args, work)
        base = scores["float32"].roc_auc_macro
        print("\nAccuracy (small cnn_sam trained 12 epochs on 240 synthetic 4 s clips; test split; "
              "top-5 vs float32 on every real recording)\n")
        print("| runtime | macro ROC-AUC | difference vs float32 | max |p - keras| per window | "
              "same top-5 set | same top-5 order | top-5 tags in common (mean) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name in ("keras",) + RUNTIMES:
            s = scores[name]
            diff = max(s.max_abs_difference.values()) if s.max_abs_difference else 0.0
            t = top5.get(name)
            print(f"| {name} | {s.roc_auc_macro:.4f} | {s.roc_auc_macro - base:+.4f} | {diff:.2e} | "
                  f"{f'{t[0]}/{t[2]}' if t else ''} | {f'{t[1]}/{t[2]}' if t else ''} | "
                  f"{f'{t[3]:.2f} / 5' if t else ''} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
