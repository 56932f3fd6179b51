"""Issue 14's speed table: musictag tag against the original musicnn, side by side in ONE run.

    python benchmarks/bench_speed.py [--model RUN_DIR | EXPORT_DIR | FILE.tflite] \
        [--venv /work/cache/musicnn_venv] [--rounds 5] [--threads 2] [--folder_clips 200]

Latency (one 29.1 s MTAT clip, decode included, the median of ``--rounds`` rounds in which the
tools ALTERNATE clip by clip so machine load hits them alike):

* the original musicnn 0.1.0 MTT_musicnn and MTT_vgg (side virtualenv, benchmarks/original_musicnn.py;
  TF1 graph, ``config.BATCH_SIZE`` patches per run);
* our shipped mtt_musicnn: Keras (``musictag tag``'s default) and its TFLite conversions
  (``musictag-export --model=mtt_musicnn``, run as ``musictag tag --model=<export>/tflite/...``);
* the cnn_sam-family model (``--model``; default: an untrained cnn_sam with the default
  ModelParams built here -- untrained weights cost the same): Keras and TFLite variants, at the
  default hop (``TagParams.hop_fraction``) and without overlap (hop = one window).

Each row gives wall ms and CPU ms (all threads of the process: steadier than wall time on a
loaded machine) and the ratios original / ours (> 1: ours faster) against both originals, wall
and CPU. Then where the cnn_sam TFLite float32 time goes (decode, one window), and folder
throughput (files/s, x real time; decode + resample + model; one worker with decode-ahead on and
off, and one worker per core as `musictag tag` does by default) on the shared
recordings (``audio/`` recursively) and on ``--folder_clips`` MTAT-length (29.1 s, 16 kHz mono
mp3) clips cut from them into a temp dir.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

SHARED = pathlib.Path(os.environ.get("MUSICTAG_SHARED_DATA", REPO.parent / "shared" / "data"))
CLIP = SHARED / "audio" / "mtat" / "joram-moments_of_clarity-08-solipsism-59-88.mp3"
MTAT_SECONDS = 29.1
ORIGINALS = ("MTT_musicnn", "MTT_vgg")


@dataclasses.dataclass
class Tool:
    name: str
    run: object  # fn() -> (wall s, cpu s)
    wall: list = dataclasses.field(default_factory=list)
    cpu: list = dataclasses.field(default_factory=list)


def _timed(fn):
    def run():
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - wall, time.process_time() - cpu
    return run


def _cnn_sam_models(model: str | None, work: pathlib.Path, variants):
    """(label, keras run dir or None, {variant: tflite path}) for --model."""
    from export import saved_model as sm
    from export import tflite
    from musictag_tf import runs

    if model and model.endswith(".tflite"):
        variant = pathlib.Path(model).stem.removeprefix("model_")
        return model, None, {variant: model}
    if model and not runs.is_run_dir(model):  # a TFLite export directory
        found = {v: os.path.join(model, f) for v, f in tflite.FILE_NAMES.items()
                 if v in variants and os.path.exists(os.path.join(model, f))}
        return model, None, found
    if model is None:
        from bench_export import untrained_model_dir
        model = untrained_model_dir(work / "run")
        label = "untrained default cnn_sam"
    else:
        label = model
    written = tflite.export_tflite(sm.load_model_source(model), str(work / "tflite"), variants=variants)
    return label, model, {m.variant: m.path for m in written}


def _mtat_length_folder(out: pathlib.Path, count: int) -> list:
    """``count`` 29.1 s 16 kHz mono mp3 clips cut (round robin, shifting offsets) from the shared recordings."""
    import numpy as np

    from musictag_tf.audio.io import load_audio, write_audio
    from musictag_tf.tag.inputs import find_audio_files

    length = int(MTAT_SECONDS * 16000)
    sources = [a for a in (load_audio(p, 16000) for p in find_audio_files([str(SHARED / "audio")]))
               if a.shape[0] >= length]
    out.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        audio = sources[i % len(sources)]
        room = audio.shape[0] - length
        start = (i // len(sources)) * 16000 * 7 % (room + 1)
        write_audio(str(out / f"clip{i:03d}.mp3"), np.asarray(audio[start:start + length]), 16000)
    return sorted(str(p) for p in out.glob("*.mp3"))


def _seconds_of_audio(files) -> float:
    import soundfile as sf
    return sum(sf.info(f).frames / sf.info(f).samplerate for f in files)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None,
                        help="cnn_sam-family model: a training run, a TFLite export dir or a .tflite "
                             "(default: an untrained default cnn_sam built here)")
    parser.add_argument("--variants", default="float32,dynamic_int8", help="TFLite variants to time")
    parser.add_argument("--venv", default="/work/cache/musicnn_venv", help="side virtualenv of the original")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="TFLite interpreter and original TF threads")
    parser.add_argument("--folder_clips", type=int, default=200, help="MTAT-length clips for throughput (0: skip)")
    parser.add_argument("--decode_ahead_blocks", type=int, default=8, help="the 'decode-ahead on' setting")
    parser.add_argument("--skip_original", action="store_true", help="no original musicnn rows")
    args = parser.parse_args(argv)
    if not CLIP.exists():
        print(f"The real MTAT clip is not at {CLIP}: nothing to benchmark (set MUSICTAG_SHARED_DATA).")
        return 0

    import numpy as np
    import tensorflow as tf
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    from export import pretrained as pretrained_export
    from musictag_tf import params as P
    from musictag_tf.audio.stream import stream_audio
    from musictag_tf.tag import backends, tagger as tg
    from musictag_tf.tag.inputs import find_audio_files
    from original_musicnn import OriginalMusicnn, ensure_side_venv

    variants = [v for v in args.variants.split(",") if v]
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-speed-"))
    print(f"# bench_speed {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}, "
          f"{os.cpu_count()} CPUs, TF {tf.__version__}, threads {args.threads}", flush=True)

    label, run_dir, cnn_tflite = _cnn_sam_models(args.model, work, variants)
    from export.tflite import CALIBRATED_VARIANTS  # the shipped musicnn has no calibrated int8
    shipped = pretrained_export.export_pretrained(
        "mtt_musicnn", str(work / "mtt_musicnn"),
        tflite_variants=[v for v in variants if v not in CALIBRATED_VARIANTS] or ["float32"])["tflite"]
    clip_seconds = _seconds_of_audio([str(CLIP)])
    tools = []
    originals = []
    if not args.skip_original:
        venv = ensure_side_venv(args.venv)
        for name in ORIGINALS:
            worker = OriginalMusicnn(venv, name, args.threads)
            originals.append(worker)

            def run(w=worker):
                reply = w.tag(str(CLIP))
                return reply["seconds"], reply["cpu_seconds"]
            tools.append(Tool(f"original {name}", run))

    def tagger_tool(name, tagger, hop=None):
        tools.append(Tool(name, _timed(lambda: tg.tag_file(tagger, str(CLIP), hop_samples=hop))))

    tagger_tool("shipped mtt_musicnn, Keras (musictag tag default)", backends.load_tagger("mtt_musicnn"))
    for variant, path in shipped.items():
        tagger_tool(f"shipped mtt_musicnn, TFLite {variant}", backends.load_tagger(path, args.threads))
    cnn = {}
    for variant, path in cnn_tflite.items():
        cnn[variant] = backends.load_tagger(path, args.threads)
        window = cnn[variant].info.chunk_samples
        hop_default = P.TagParams().hop_samples(window)
        tagger_tool(f"cnn_sam TFLite {variant}, hop {hop_default / window:g} window", cnn[variant], hop_default)
        tagger_tool(f"cnn_sam TFLite {variant}, hop 1 window (no overlap)", cnn[variant], window)
    if run_dir:
        tagger_tool("cnn_sam Keras, hop 0.5 window", backends.load_tagger(run_dir))

    for tool in tools:  # warm-up
        tool.run()
    for _ in range(args.rounds):
        for tool in tools:
            wall, cpu = tool.run()
            tool.wall.append(wall)
            tool.cpu.append(cpu)
    for worker in originals:
        worker.close()

    med = {t.name: (statistics.median(t.wall), statistics.median(t.cpu)) for t in tools}
    base = {n: med.get(f"original {n}") for n in ORIGINALS}
    print(f"\ncnn_sam model: {label}; clip {CLIP.name} ({clip_seconds:.1f} s), median of {args.rounds} "
          f"alternating rounds; load after {os.getloadavg()}\n")
    print("| tool | wall ms / clip | CPU ms / clip | x real time | MTT_musicnn / ours (wall, CPU) | "
          "MTT_vgg / ours (wall, CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    for t in tools:
        wall, cpu = med[t.name]
        ratios = [f"{b[0] / wall:.2f}, {b[1] / cpu:.2f}" if b else "-" for b in base.values()]
        print(f"| {t.name} | {wall * 1000:.0f} | {cpu * 1000:.0f} | {clip_seconds / wall:.0f} | "
              f"{ratios[0]} | {ratios[1]} |", flush=True)

    # Where the cnn_sam TFLite float32 time goes.
    if "float32" in cnn:
        t32 = cnn["float32"]
        window = np.zeros([1, t32.info.chunk_samples], np.float32)
        ids = t32._ids(None)
        decode = [_timed(lambda: list(stream_audio(str(CLIP), 16000)))() for _ in range(args.rounds)]
        one = [_timed(lambda: t32.run_windows(window, ids))() for _ in range(args.rounds)]
        print(f"\ncnn_sam TFLite float32 parts (median wall / CPU ms): decode + resample the clip "
              f"{1000 * statistics.median(d[0] for d in decode):.1f} / {1000 * statistics.median(d[1] for d in decode):.1f}; "
              f"one {t32.info.chunk_samples / 16000:g} s window {1000 * statistics.median(o[0] for o in one):.1f} / "
              f"{1000 * statistics.median(o[1] for o in one):.1f}")

    # Folder throughput.
    if "float32" in cnn:
        folders = {"shared recordings": find_audio_files([str(SHARED / "audio")])}
        if args.folder_clips:
            folders[f"{args.folder_clips} MTAT-length clips"] = _mtat_length_folder(work / "clips", args.folder_clips)
        t32 = cnn["float32"]
        window = t32.info.chunk_samples
        print("\n| folder | files | audio s | setting | s | files / s | x real time | CPU s |")
        print("|---|---:|---:|---|---:|---:|---:|---:|")
        for folder, files in folders.items():
            audio = _seconds_of_audio(files)
            settings = [("decode only (stream_audio)", None, None, None, 1)]
            cores = os.cpu_count() or 1
            for hop_name, hop in (("hop 0.5", P.TagParams().hop_samples(window)), ("hop 1", window)):
                for ahead in (args.decode_ahead_blocks, 0):
                    settings.append((f"TFLite float32 {hop_name}, 1 worker, decode-ahead {'on' if ahead else 'off'}",
                                     t32, hop, dataclasses.replace(P.StreamParams(), decode_ahead_blocks=ahead), 1))
                for variant in ("float32", "int8"):
                    if variant in cnn:
                        settings.append((f"TFLite {variant} {hop_name}, {cores} workers (tag default)",
                                         cnn[variant], hop, P.StreamParams(), cores))
            for name, tagger, hop, stream, workers in settings:
                if tagger is None:
                    fn = _timed(lambda: [list(stream_audio(f, 16000)) for f in files])
                else:
                    def fn_inner(tagger=tagger, hop=hop, stream=stream, workers=workers):
                        out = tg.tag_paths(files, tagger, hop_samples=hop, progress=False, stream=stream,
                                           workers=workers)
                        assert not out.failures, out.failures[:3]
                    fn = _timed(fn_inner)
                wall, cpu = fn()
                print(f"| {folder} | {len(files)} | {audio:.0f} | {name} | {wall:.1f} | {len(files) / wall:.1f} | "
                      f"{audio / wall:.0f} | {cpu:.1f} |", flush=True)
    print(f"\nload at the end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
