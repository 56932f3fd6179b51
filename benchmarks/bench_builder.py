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

Corpus mode (``--table``, issue 14 item 6): real music, full songs cut into ``--clip_seconds``
clips as ``scripts/distill.sh`` builds them (the distillation corpus: 44.1/48 kHz ogg vorbis,
opus and mp3). ``--max_files`` files are taken round-robin over the table's ``package`` column
(so every package is represented), written as a sub-table, and built **in this process**
(``pool=False``, TF already imported and traced on one clip) with a ``StageClock`` inside the
builder's own code. It prints:

* the per-stage breakdown: CPU and wall seconds, share of the build's CPU, x real time of the
  stage alone (audio seconds / stage CPU seconds); stages are read_span's open+seek, decode,
  downmix, resample, then check, log_mel, segments, lyrics, encode, write, and prepare;
* the build's x real time per core: audio seconds / CPU seconds of this process for the build
  (and the same with the process's start-up, TF import included, added);
* decode alone per format (``read_span`` of every clip, per file extension);
* with ``--compare_with=<other checkout>``: ``--rounds`` alternating runs of ``musictag-build``
  from that checkout and from this one (same sub-table, same flags, ``--num_workers=1``),
  CPU seconds of each child process (user + sys, start-up included), their ratio, and whether
  the shards are byte-identical.

Usage::

    python benchmarks/bench_builder.py [--mtat_copies 64] [--copies 2] [--steady_copies 1024]
        [--synthetic_clips 96] [--workers 0]
    python benchmarks/bench_builder.py --table=/work/cache/corpus/corpus.csv --max_files=20 \
        [--clip_seconds=29.1] [--soft_labels=teacher.csv] [--compare_with=/work/main --rounds=2]
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

STARTUP_CPU = time.process_time()  # CPU s of this process so far: Python start-up + TF and project imports

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


# ----------------------------------------------------------------------------- corpus mode

def pick_rows(table: pathlib.Path, max_files: int) -> tuple[list[str], list[list[str]]]:
    """(header, rows): up to ``max_files`` rows, round-robin over the ``package`` column (if any)."""
    import csv

    with open(table, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [r for r in reader if r]
    key = header.index("package") if "package" in header else None
    groups: dict[str, list[list[str]]] = {}
    for r in rows:
        groups.setdefault(r[key] if key is not None else "", []).append(r)
    picked, depth = [], 0
    while len(picked) < max_files and any(depth < len(g) for g in groups.values()):
        for name in sorted(groups):
            if depth < len(groups[name]) and len(picked) < max_files:
                picked.append(groups[name][depth])
        depth += 1
    return header, picked


def write_rows(path: pathlib.Path, header: list[str], rows: list[list[str]]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def shard_hashes(records: pathlib.Path) -> dict[str, str]:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(records.glob("*.tfrecord"))}


def corpus_breakdown(args, sub_table: pathlib.Path, audio_root: str, tmp: pathlib.Path) -> None:
    """Build the sub-table in this process with a StageClock; print the stage table."""
    from musictag_tf.audio.clips import ClipParams
    from musictag_tf.audio.stages import StageClock

    clip_params = ClipParams(args.clip_seconds)
    params = BuilderParams(num_workers=1)
    collection = sources.read_table(str(sub_table), audio_root=audio_root)
    warm = sources.Collection(collection.kind, collection.clips[:1], collection.tag_names,
                              collection.tag_frequency, collection.description)
    build.build_records(warm, str(tmp / "warm"), builder_params=params, progress=False, pool=False,
                        clip_params=ClipParams(min(args.clip_seconds, 10.0) if args.clip_seconds else 0.0),
                        soft_labels=args.soft_labels, allow_missing_soft_labels=True)
    clock = StageClock()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = build.build_records(collection, str(tmp / "records"), builder_params=params, progress=False,
                                 pool=False, clip_params=clip_params, soft_labels=args.soft_labels,
                                 allow_missing_soft_labels=True, clock=clock)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    audio = result.audio_seconds
    print(f"\n## Build in this process: {result.clips_processed} clips, {audio:.0f} s of audio "
          f"({audio / 3600:.2f} h), {len(result.manifest.failures)} failures\n")
    print("| stage | CPU s | wall s | share of build CPU | x real time (stage alone, CPU) |")
    print("|---|---:|---:|---:|---:|")
    for stage in sorted(clock.cpu, key=lambda k: -clock.cpu[k]):
        c = clock.cpu[stage]
        print(f"| {stage} | {c:.2f} | {clock.wall[stage]:.2f} | {100 * c / cpu:.1f} % | "
              f"{audio / c if c > 0 else float('inf'):.0f} |")
    other = cpu - sum(clock.cpu.values())
    print(f"| (untimed: loop, summaries, manifest) | {other:.2f} | | {100 * other / cpu:.1f} % | |")
    print(f"| **build total** | **{cpu:.2f}** | **{wall:.2f}** | 100 % | **{audio / cpu:.0f}** |")
    startup = STARTUP_CPU
    print(f"\nx real time per core (audio s / CPU s of this process): build {audio / cpu:.0f}x; "
          f"with the process start-up ({startup:.1f} s CPU: Python + TF import) {audio / (cpu + startup):.0f}x; "
          f"wall {audio / wall:.0f}x (load average {os.getloadavg()[0]:.2f}: other processes share the cores)")
    return result


def decode_per_format(collection, clip_seconds: float) -> None:
    """read_span of every clip, one StageClock per file extension."""
    from musictag_tf.audio.clips import ClipParams, clip_spans, file_duration, read_span
    from musictag_tf.audio.stages import StageClock

    clocks: dict[str, StageClock] = {}
    audio: dict[str, float] = {}
    rate = AudioParams().sample_rate
    for clip in collection.clips:
        ext = pathlib.Path(clip.audio_path).suffix.lower()
        clock = clocks.setdefault(ext, StageClock())
        spans = clip_spans(file_duration(clip.audio_path), ClipParams(clip_seconds)) if clip_seconds else [(0.0, None)]
        for start, seconds in spans:
            if seconds is None:
                with clock("decode"):
                    n = len(load_audio(clip.audio_path, rate))
            else:
                n = len(read_span(clip.audio_path, start, seconds, rate, clock=clock))
            audio[ext] = audio.get(ext, 0.0) + n / rate
    print("\n## read_span alone, per format (CPU s; x real time = audio s / CPU s)\n")
    print("| format | audio s | open+seek | decode | downmix | resample | total | x real time |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for ext, clock in sorted(clocks.items()):
        total = sum(clock.cpu.values())
        cells = " | ".join(f"{clock.cpu.get(k, 0.0):.2f}" for k in ("open+seek", "decode", "downmix", "resample"))
        print(f"| {ext} | {audio[ext]:.0f} | {cells} | {total:.2f} | {audio[ext] / total:.0f} |")


def compare_checkouts(args, sub_table: pathlib.Path, audio_root: str, tmp: pathlib.Path) -> None:
    """Alternate musictag-build runs of another checkout and this one; CPU s of each child."""
    import resource
    import subprocess

    trees = [("other: " + args.compare_with, pathlib.Path(args.compare_with).resolve()), ("this checkout", ROOT)]
    cpu: dict[str, list[float]] = {name: [] for name, _ in trees}
    hashes = {}
    for round_ in range(args.rounds):
        for name, tree in (trees if round_ % 2 == 0 else trees[::-1]):
            out = tmp / f"cmp-{round_}-{tree.name}"
            cmd = [sys.executable, "-m", "tfrecords_builder", f"--table={sub_table}", f"--audio_root={audio_root}",
                   f"--clip_seconds={args.clip_seconds}", f"--out_dir={out}", "--num_workers=1", "--pool=never",
                   "--progress=false", "--max_failures=1.0"]
            if args.soft_labels:
                cmd += [f"--soft_labels={args.soft_labels}", "--allow_missing_soft_labels"]
            env = dict(os.environ, PYTHONPATH=str(tree), TF_CPP_MIN_LOG_LEVEL="3")
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            done = subprocess.run(cmd, cwd=str(tree), env=env, capture_output=True, text=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode:
                raise SystemExit(f"{name}: musictag-build failed:\n{done.stderr[-2000:]}")
            cpu[name].append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
            hashes[name] = shard_hashes(out)
    print(f"\n## musictag-build, {args.rounds} alternating rounds (CPU s of the child process, start-up included)\n")
    print("| checkout | CPU s per run | best |")
    print("|---|---|---:|")
    for name, _ in trees:
        print(f"| {name} | {', '.join(f'{c:.1f}' for c in cpu[name])} | {min(cpu[name]):.1f} |")
    (a, _), (b, _) = trees
    print(f"\nCPU ratio other / this (best runs): {min(cpu[a]) / min(cpu[b]):.2f}x; shards byte-identical: "
          f"{hashes[a] == hashes[b]} ({len(hashes[b])} shards)")


def corpus_main(args) -> None:
    table = pathlib.Path(args.table).resolve()
    audio_root = args.audio_root or str(table.parent)
    header, rows = pick_rows(table, args.max_files)
    with tempfile.TemporaryDirectory(prefix="bench_builder_corpus_") as tmp:
        tmp = pathlib.Path(tmp)
        sub_table = tmp / "subset.csv"
        if not args.soft_labels and "tags" in header:  # an untagged corpus: one tag, so a vocabulary exists
            rows = [r[:header.index("tags")] + [r[header.index("tags")] or "music"] + r[header.index("tags") + 1:]
                    for r in rows]
        write_rows(sub_table, header, rows)
        key = header.index("package") if "package" in header else None
        packages = sorted({r[key] for r in rows}) if key is not None else []
        print(f"# bench_builder corpus mode: {platform.node()}, {os.cpu_count()} cores, TF {tf.__version__}, "
              f"load average at start {os.getloadavg()[0]:.2f}\n\n{len(rows)} files of {table} "
              f"(packages: {', '.join(packages) or '-'}), --clip_seconds={args.clip_seconds:g}")
        result = corpus_breakdown(args, sub_table, audio_root, tmp)
        if args.per_format:
            decode_per_format(sources.read_table(str(sub_table), audio_root=audio_root), args.clip_seconds)
        if args.compare_with:
            compare_checkouts(args, sub_table, audio_root, tmp)
        del result
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


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
    parser.add_argument("--table", default=None, help="corpus mode: a table (e.g. the distillation corpus.csv)")
    parser.add_argument("--audio_root", default=None, help="corpus mode: root of the table's paths (default: its folder)")
    parser.add_argument("--max_files", type=int, default=20, help="corpus mode: files, round-robin over packages")
    parser.add_argument("--clip_seconds", type=float, default=29.1, help="corpus mode: clip length, s (0 = whole files)")
    parser.add_argument("--soft_labels", default=None, help="corpus mode: a teacher CSV (as scripts/distill.sh)")
    parser.add_argument("--per_format", type=int, default=1, help="corpus mode: also time read_span per format")
    parser.add_argument("--compare_with", default=None, help="corpus mode: another checkout to run side by side")
    parser.add_argument("--rounds", type=int, default=2, help="corpus mode: alternating rounds of --compare_with")
    args = parser.parse_args()
    if args.table:
        corpus_main(args)
        return
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
