"""Benchmark: tagging speed of the exported runtimes against the Keras model, on this machine.

Question it answers (BUILD_NOTES.md, "Export"): what does each runtime cost to tag real audio --
latency for one 29.1 s MTAT clip, and throughput over a folder of files of mixed length -- for

* ``keras``: the trained-model directory (best.keras rebuilt in float32), windows in batches of 16;
* ``saved_model``: the exported SavedModel's ``serving_default`` (windowing in-graph, 16 windows
  per pass);
* ``tflite float32 / dynamic_int8 / float16``: the fixed-shape window models in ai-edge-litert
  (default XNNPACK delegate), one window per invoke.

Every runtime goes through the same ``musictag_tf.tag`` path (decode -> 8 s windows, hop 4 s
-> model -> mean), so the numbers are what ``musictag tag`` costs, decoding included. Latency is
the median of ``--repeats`` runs after a warm-up; throughput is one pass over the folder after a
warm-up. "vs keras" is the time ratio against the Keras row measured in the same run (< 1 =
faster).

The model is an untrained cnn_sam with the default ModelParams (all four heads, the 50 MTAT
tags, a 5,000-word vocabulary) unless ``--model_dir`` names a training run: speed does not
depend on the weights' values.

Usage::

    python benchmarks/bench_export.py [--repeats 5] [--folder DIR ...] [--model_dir RUN] [--threads 2]

Audio comes from ``$MUSICTAG_SHARED_DATA`` or ``<repo>/../shared/data`` (read only); the default
folders are its audio/mtat, audio/librosa and audio/mirdata. Without it the script says so and
exits 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import median_seconds  # noqa: E402
SHARED = pathlib.Path(os.environ.get("MUSICTAG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
CLIP = SHARED / "audio" / "mtat" / "joram-moments_of_clarity-08-solipsism-59-88.mp3"
DEFAULT_FOLDERS = [SHARED / "audio" / "mtat", SHARED / "audio" / "librosa", SHARED / "audio" / "mirdata"]


def untrained_model_dir(path: pathlib.Path) -> str:
    """A training-run directory around an untrained default cnn_sam (MTAT tags, 5,000 words)."""
    import keras

    from musictag_tf.mtat import datasets as mtat
    from musictag_tf import params as P
    from musictag_tf import train
    from musictag_tf.lyrics.vocab import Vocabulary
    from musictag_tf.model import variants

    path.mkdir(parents=True, exist_ok=True)
    vocab = Vocabulary([f"word{i}" for i in range(4998)])
    vocab.save(str(path / "vocab.txt"))
    tags = list(mtat.TOP50_TAGS)
    spec = variants.ModelSpec(model=P.ModelParams(), audio=P.AudioParams(), segments=P.SegmentParams(),
                              lyrics=P.LyricsParams(), vocab_size=len(vocab))
    keras.utils.set_random_seed(0)
    variants.build_model(spec).save(str(path / "best.keras"))
    train.save_spec(str(path), spec, tags, train.TrainJob(records_dir="", model_dir=str(path)))
    (path / "tags.txt").write_text("".join(t + "\n" for t in tags), encoding="utf-8")
    return str(path)




@dataclasses.dataclass
class Row:
    name: str
    size_bytes: int
    clip_seconds: float
    folder_seconds: float


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--folder", action="append", default=None, help="audio folder(s) for throughput")
    parser.add_argument("--model_dir", default=None, help="a training run (default: untrained default cnn_sam)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="TFLite interpreter threads")
    args = parser.parse_args(argv)
    if not CLIP.exists():
        print(f"The real MTAT clip is not at {CLIP}: nothing to benchmark (set MUSICTAG_SHARED_DATA).")
        return 0

    import tensorflow as tf
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    from export import saved_model as sm
    from export import tflite
    from musictag_tf.tag import backends as tag_backends, inputs as tag_inputs, tagger as tag_tagger
    from musictag_tf.audio.io import load_audio

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-export-"))
    model_dir = args.model_dir or untrained_model_dir(work / "run")
    source = sm.load_model_source(model_dir)
    started = time.time()
    exported = sm.export_saved_model(source, str(work / "saved_model"))
    models = tflite.export_tflite(source, str(work / "tflite"))
    export_seconds = time.time() - started

    folders = [pathlib.Path(f) for f in (args.folder or DEFAULT_FOLDERS)]
    files = tag_inputs.find_audio_files([str(f) for f in folders if f.exists()])
    folder_audio = 0.0
    for path in files:
        folder_audio += load_audio(path, source.spec.audio.sample_rate).shape[0] / source.spec.audio.sample_rate
    clip_audio = load_audio(str(CLIP), source.spec.audio.sample_rate).shape[0] / source.spec.audio.sample_rate

    runtimes = [("keras", model_dir, 0), ("saved_model", exported.path, exported.size_bytes)]
    runtimes += [(f"tflite {m.variant}", m.path, m.size_bytes) for m in models]
    rows = []
    for name, path, size in runtimes:
        tagger = tag_backends.load_tagger(path, num_threads=args.threads)
        if name == "keras":
            size = os.path.getsize(os.path.join(model_dir, "best.keras"))
        clip_time = median_seconds(lambda: tag_tagger.tag_file(tagger, str(CLIP)), args.repeats)
        tag_tagger.tag_file(tagger, files[0])
        start = time.perf_counter()
        run = tag_tagger.tag_paths(files, tagger, progress=False)
        folder_time = time.perf_counter() - start
        if run.failures:
            print(f"{name}: {len(run.failures)} files failed: {run.failures[:3]}")
        rows.append(Row(name, size, clip_time, folder_time))
        print(f"  measured {name}", file=sys.stderr, flush=True)

    spec = source.spec
    print(f"Tagging speed: {spec.model.variant} ({'untrained, default ModelParams' if not args.model_dir else model_dir}), "
          f"{source.model.count_params():,} parameters, windows of {spec.model.chunk_seconds:g} s, hop "
          f"{spec.model.chunk_seconds / 2:g} s")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, TF {tf.__version__}, "
          f"TFLite threads {args.threads}; export took {export_seconds:.0f} s")
    print(f"clip: {CLIP.name} ({clip_audio:.1f} s), median of {args.repeats}; folder: {len(files)} files, "
          f"{folder_audio:.0f} s of audio ({', '.join(f.name for f in folders)})")
    print()
    print("| runtime | model bytes | clip ms | clip x real time | clip vs keras | folder s | files / s "
          "| folder x real time | folder vs keras |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = rows[0]
    for r in rows:
        print(f"| {r.name} | {r.size_bytes:,} | {1000 * r.clip_seconds:.0f} | {clip_audio / r.clip_seconds:.1f} | "
              f"{r.clip_seconds / base.clip_seconds:.2f} | {r.folder_seconds:.1f} | "
              f"{len(files) / r.folder_seconds:.2f} | {folder_audio / r.folder_seconds:.1f} | "
              f"{r.folder_seconds / base.folder_seconds:.2f} |")
    print()
    print("Times include decoding (the same for every runtime). keras model bytes: best.keras; "
          "saved_model: the whole version directory (graph of 5 signatures, tokenizer tables, weights).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
