"""Benchmark: the TFRecords builder, clips/s and x real time, beside the cost of decoding alone.

Question it answers (BUILD_NOTES.md, "TFRecords builder"): how fast does ``musictag-build``
turn audio into records on this machine, how much of that is decoding (the floor no builder
can beat), what do parallel workers buy, and below how many clips is a spawn pool not worth
its start-up (``build.POOL_MIN_SECONDS``)?

Datasets (each in a fresh temporary directory; nothing is written into the project):

* ``MTAT clip``: the real MTAT clip (29.1 s, 16 kHz mono mp3) listed ``--mtat_copies`` times
  in a generic table (same file, distinct clip ids): what a real MTAT build processes.
* ``real``: every recording in ../shared/data/audio (the MTAT clip, the librosa oggs, the
  mirdata wavs, the three 2.6-3.2 minute JamendoLyrics songs) listed ``--copies`` times.
* ``synthetic``: ``--synthetic_clips`` clips of ``SyntheticParams.clip_seconds`` from
  ``tfrecords_builder.synthetic.generate_dataset``, MTAT layout with lyrics and emotion
  labels (the builder's real MTAT path; lyrics tokenized, jieba for the Chinese ones).

Rows per dataset, each measured in this run:

* ``decode only``: ``load_audio`` of every clip in this process (soundfile + soxr to 16 kHz);
* ``build, 1 worker``: ``build_records`` in this process (TF already warm);
* ``build, N workers``: ``build_records`` with a 'spawn' pool of all cores (``pool=True``),
  start-up included;
* ``build, auto``: ``build_records`` as the CLI runs it (``pool=None``: 8 clips timed in this
  process, then a pool only if the rest would take > ``POOL_MIN_SECONDS`` here);
* ``pool start-up``: the pool build of a 2-clip table, i.e. the fixed cost per run;
* steady state (``--steady_copies`` MTAT clips, ``--steady_real_copies`` x the real set; the
  per-clip step only, no writing): clips/s over the second half of the clips, in this process
  vs in the pool, i.e. what the pool buys once started.

Columns: wall seconds, clips/s, x real time (audio seconds / wall seconds) and the time
ratio against ``decode only`` (how many times the decoding floor the step costs).

Usage::

    python benchmarks/bench_builder.py [--mtat_copies 64] [--copies 2] [--steady_copies 1024]
        [--synthetic_clips 96] [--workers 0]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tensorflow as tf  # noqa: E402

from musictag_tf.audio.io import load_audio  # noqa: E402
from musictag_tf.params import AudioParams, BuilderParams, LyricsParams, SyntheticParams  # noqa: E402
from tfrecords_builder import build, sources  # noqa: E402

AUDIO_SUFFIXES = (".mp3", ".ogg", ".wav", ".flac")


def shared_data() -> pathlib.Path:
    return pathlib.Path(os.environ.get("MUSICTAG_SHARED_DATA", ROOT.parent / "shared" / "data"))


def real_files() -> list[pathlib.Path]:
    return sorted(p for p in (shared_data() / "audio").rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def table_of(tmp: pathlib.Path, name: str, files: list[pathlib.Path], copies: int) -> pathlib.Path:
    """A generic table listing ``files`` ``copies`` times (distinct clip ids, same audio)."""
    lines = ["clip_id\taudio_path\ttags\tsplit"]
    for copy in range(copies):
        for i, path in enumerate(files):
            lines.append(f"{name}{copy}_{i}\t{path}\t{path.parent.name}\ttrain")
    table = tmp / f"{name}.tsv"
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return table


def decode_only(collection: sources.Collection) -> tuple[float, float]:
    """(wall s, audio s) of load_audio over every clip, in this process."""
    rate = AudioParams().sample_rate
    started = time.perf_counter()
    audio = 0.0
    for clip in collection.clips:
        audio += len(load_audio(clip.audio_path, rate)) / rate
    return time.perf_counter() - started, audio


def timed_build(collection, out_dir: pathlib.Path, workers: int, lyrics: LyricsParams, tags_file=None,
                pool=None):
    params = BuilderParams(clips_per_shard=64, num_workers=workers)
    started = time.perf_counter()
    result = build.build_records(collection, str(out_dir), lyrics_params=lyrics, builder_params=params,
                                 tags_file=tags_file, progress=False, pool=pool)
    return time.perf_counter() - started, result


def steady_rates(name, collection, workers: int, lyrics: LyricsParams) -> list[str]:
    """In-process vs pool clips/s over the second half of the clips (start-up and tracing excluded).

    x real time here assumes the clips are alike (the mean duration).
    """
    prepared = build.prepare(collection, lyrics_params=lyrics)
    lines = []
    for label, runner in (("in process", build.ClipRunner(prepared.process_config, 1, pool=False)),
                          (f"{workers} workers", build.ClipRunner(prepared.process_config, workers, pool=True))):
        started = time.perf_counter()
        stamps, audio = [], 0.0
        for outcome in runner.run(prepared.tasks):
            stamps.append(time.perf_counter())
            audio += outcome.seconds
        half = len(stamps) // 2  # rate over the second half: start-up and chunking excluded
        n = len(stamps) - half
        steady = stamps[-1] - stamps[half - 1]
        lines.append(f"| {name} | steady state, {label}: first result after {stamps[0] - started:.1f} s, "
                     f"second half at {n / steady:.1f} clips/s | {len(stamps)} | {stamps[-1] - started:.2f} | "
                     f"{n / steady:.1f} | {audio * n / len(stamps) / steady:.0f} | |")
    return lines


def row(name, mode, clips, wall, audio, floor):
    return (f"| {name} | {mode} | {clips} | {wall:.2f} | {clips / wall:.1f} | {audio / wall:.0f} | "
            f"{wall / floor:.2f} |")


def bench(name, collection, tmp, workers, lyrics, tags_file=None) -> list[str]:
    n = len(collection.clips)
    decode_only(sources.Collection(collection.kind, collection.clips[:2], (), {}, {}))  # warm caches
    floor, audio = decode_only(collection)
    lines = [row(name, "decode only (1 process)", n, floor, audio, floor)]
    timed_build(sources.Collection(collection.kind, collection.clips[:2], collection.tag_names,
                                   collection.tag_frequency, collection.description),
                tmp / f"{name}-warm", 1, lyrics, tags_file)  # trace the TF functions once
    wall, result = timed_build(collection, tmp / f"{name}-1", 1, lyrics, tags_file, pool=False)
    assert result.workers == 0 and not result.manifest.failures, result.report()
    lines.append(row(name, "build, 1 worker (in process)", n, wall, audio, floor))
    wall, result = timed_build(collection, tmp / f"{name}-n", workers, lyrics, tags_file, pool=True)
    assert result.workers == workers and not result.manifest.failures, result.report()
    lines.append(row(name, f"build, {workers} workers (spawn pool)", n, wall, audio, floor))
    wall, result = timed_build(collection, tmp / f"{name}-auto", workers, lyrics, tags_file, pool=None)
    mode = f"pool of {result.workers} after probing" if result.workers else "in process after probing"
    lines.append(row(name, f"build, auto ({mode})", n, wall, audio, floor))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=2, help="times each real recording is listed")
    parser.add_argument("--mtat_copies", type=int, default=64, help="times the MTAT clip is listed")
    parser.add_argument("--steady_copies", type=int, default=1024,
                        help="MTAT clips for the steady-state rate rows (0 = skip)")
    parser.add_argument("--steady_real_copies", type=int, default=4,
                        help="times each real recording is listed for the steady-state rows (0 = skip)")
    parser.add_argument("--synthetic_clips", type=int, default=96)
    parser.add_argument("--workers", type=int, default=0, help="pool size (0 = all cores)")
    args = parser.parse_args()
    workers = build.resolve_workers(args.workers)
    lyrics = LyricsParams(min_count=1)
    print(f"# bench_builder: {platform.node()}, {os.cpu_count()} cores, TF {tf.__version__}, "
          f"Python {platform.python_version()}, load average at start {os.getloadavg()[0]:.2f}\n")
    print("| dataset | step | clips | wall s | clips/s | x real time | x decode time |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench_builder_") as tmp:
        tmp = pathlib.Path(tmp)
        files = real_files()
        mtat_clip = [p for p in files if p.parent.name == "mtat"]
        if not files:
            print("| real | (no ../shared/data/audio: skipped) | | | | | |")
        else:
            datasets = [(f"real x{args.copies}", table_of(tmp, "real", files, args.copies))]
            if mtat_clip:
                datasets.insert(0, (f"MTAT clip x{args.mtat_copies}", table_of(tmp, "mtat", mtat_clip, args.mtat_copies)))
            for name, table in datasets:
                for line in bench(name, sources.read_table(str(table)), tmp, workers, lyrics):
                    print(line, flush=True)
            steady = [(f"real x{args.steady_real_copies}", files, args.steady_real_copies)]
            if mtat_clip:
                steady.insert(0, (f"MTAT clip x{args.steady_copies}", mtat_clip, args.steady_copies))
            for name, listed, copies in steady:
                if copies > 0:
                    table = table_of(tmp, "steady", listed, copies)
                    for line in steady_rates(name, sources.read_table(str(table)), workers, lyrics):
                        print(line, flush=True)
            tiny = sources.read_table(str(table_of(tmp, "tiny", [p for p in files if p.name == "slakh__mix.wav"], 2)))
            wall, result = timed_build(tiny, tmp / "tiny-pool", workers, lyrics, pool=True)
            in_proc, _ = timed_build(tiny, tmp / "tiny-1", 1, lyrics, pool=False)
            print(f"| 2 x 2 s clips | pool start-up: spawn pool {wall:.2f} s vs in process {in_proc:.2f} s | 2 | "
                  f"{wall:.2f} | {2 / wall:.2f} | | |", flush=True)

        if args.synthetic_clips <= 0:
            return
        from tfrecords_builder.synthetic import generate_dataset

        params = SyntheticParams(num_clips=args.synthetic_clips)
        started = time.perf_counter()
        data = generate_dataset(tmp / "synthetic", params, workers=0, progress=False)
        print(f"\n(synthetic: {data.num_clips} clips x {params.clip_seconds:g} s generated in "
              f"{time.perf_counter() - started:.1f} s, {data.num_with_lyrics} with lyrics)\n")
        collection = sources.read_mtat_tree(str(data.out_dir), lyrics_table=str(data.lyrics_table_path),
                                            labels_table=str(data.emotion_path))
        print("| dataset | step | clips | wall s | clips/s | x real time | x decode time |")
        print("|---|---|---|---|---|---|---|")
        for line in bench("synthetic", collection, tmp, workers, lyrics, tags_file=str(data.tags_path)):
            print(line, flush=True)
    print(f"\nload average at end {os.getloadavg()[0]:.2f} (other processes on the machine skew the numbers)")


if __name__ == "__main__":
    main()
