"""Orchestration of a local build: collection -> tags + vocabulary -> shards -> manifest.

``build_records(collection, out_dir, ...)``:

1. ``prepare``: check the audio root, choose the tag vocabulary (``tag_vocab.choose_tags``), turn clips into
   ``ClipTask``s (multi-hot tags), build the lyrics vocabulary from the TRAIN split's lyrics
   only (valid/test words never enter it, so no leakage), and fingerprint the settings.
   ``prepare`` is shared with the Beam pipeline.
2. Write ``tags.txt`` and ``vocab.txt`` (atomically) before any shard; delete an old
   ``manifest.json`` (the directory is incomplete until the new one is written).
3. Plan shards (``writer.plan_shards``), delete stale shards/temporaries, skip finished ones.
4. Feed the clips of the unfinished shards, in plan order, to ``process.process_clip``, see
   ``ClipRunner``: the first ``PROBE_CLIPS`` in this process, timed; the rest in this process
   too unless that would take more than ``POOL_MIN_SECONDS`` and at least
   ``MIN_AUTO_POOL_WORKERS`` cores are available, in which case a
   ``multiprocessing`` pool with the 'spawn' start method (TensorFlow is not fork-safe), one
   TF thread per worker, ``imap`` (ordered) so results arrive in shard order while every
   worker stays busy across shard boundaries. Each shard is written by a ``ShardWriter``.

   Why probe instead of a clip count: a spawned worker must import TensorFlow and trace the
   front end, tokenizer and jieba before its first clip: 5-17 s for 2 workers on this 2-core
   machine (it depends on what else runs), while a clip costs ~20 ms (29 s MTAT clip, 8 s
   synthetic clip) to ~300 ms (a 3-minute 44.1 kHz stereo song) in this process. So the pool
   can only pay off above tens of seconds of in-process work, whatever the clip count.
   And in automatic mode it needs at least ``MIN_AUTO_POOL_WORKERS`` workers: on 2 cores the
   in-process path already runs TF ops on both cores, and the measured steady-state pool rate
   was 0.8x (MTAT clips) to 1.2-2.6x (long real songs) of in-process, noisy because other jobs
   shared the machine (benchmarks/bench_builder.py). ``pool=True`` (``--pool=always``) forces it.
   Scripts that call ``build_records`` with a pool must guard their entry point with
   ``if __name__ == "__main__":`` (the 'spawn' start method re-imports the main module).
5. Assemble ``manifest.json`` from every shard's summary (``summary.assemble_manifest``).

Progress: a tqdm bar over clips with ETA and a running failure count.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import time
from typing import Dict, List, Optional, Sequence

import tensorflow as tf

from musictag_tf import fileio
from musictag_tf.data import manifest as manifest_lib
from musictag_tf.data.schema import SCHEMA_VERSION
from musictag_tf.errors import LyricsError
from musictag_tf.params import AudioParams, BuilderParams, LyricsParams, SegmentParams, to_dict
from musictag_tf.audio.clips import ClipParams
from tfrecords_builder import process
from tfrecords_builder import soft_labels as soft_labels_lib
from tfrecords_builder.clips import cut_collection
from tfrecords_builder import summary as summary_lib
from tfrecords_builder import writer as writer_lib
from tfrecords_builder.sources import Collection, check_audio_paths_exist, iter_train_lyrics
from tfrecords_builder.tag_vocab import TagChoice, choose_tags

# Clips processed (and timed) in this process before deciding whether a pool pays off; the
# first one is not counted in the estimate (it traces the TF functions).
PROBE_CLIPS = 8
# Start a pool only when the remaining clips would take longer than this in this process: the
# pool's start-up (TF import + tracing per worker) measured 13-20 s for 2 workers here.
POOL_MIN_SECONDS = 60.0
# Automatic mode starts a pool only with at least this many workers (see the module docstring).
MIN_AUTO_POOL_WORKERS = 3
VOCAB_BATCH = 256  # lyrics tokenized per tokenize_batch call while building the vocabulary


@dataclasses.dataclass
class Prepared:
    """Everything decided before any audio is touched (shared by the local and Beam builds).

    config: the manifest's config section; fingerprint: SHA-256 of everything that changes
    record contents (params, tags, vocabulary, schema version).
    """

    tags: TagChoice
    tasks: List[process.ClipTask]
    vocab_tokens: List[str]
    process_config: process.ProcessConfig
    config: Dict[str, dict]
    fingerprint: str
    source_warnings: List[manifest_lib.Failure]


@dataclasses.dataclass
class BuildResult:
    """What a build did: the manifest written and how the work went."""

    manifest: manifest_lib.Manifest
    out_dir: str
    shards_written: int
    shards_resumed: int
    clips_processed: int
    audio_seconds: float  # audio decoded in this run, s
    seconds: float  # wall time, s
    workers: int  # worker processes used; 0 = all in this process

    def report(self) -> str:
        return summary_lib.format_report(self.manifest, records_dir=self.out_dir, seconds=self.seconds,
                                         resumed_shards=self.shards_resumed, workers=self.workers,
                                         audio_seconds=self.audio_seconds)


def resolve_workers(num_workers: int) -> int:
    """0 -> the cores this process may use; else ``num_workers``."""
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    if num_workers:
        return num_workers
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def make_tasks(collection: Collection, choice: TagChoice) -> List[process.ClipTask]:
    """One ClipTask per clip of the collection, tags as multi-hot in ``choice`` order."""
    return [process.ClipTask(clip_id=c.clip_id, audio_path=c.audio_path, relative_path=c.relative_path,
                             split=c.split, tags=choice.multi_hot(c.tags), lyrics_text=c.lyrics_text,
                             lyrics_path=c.lyrics_path, energy=c.energy, stress=c.stress, quadrant=c.quadrant,
                             expected_seconds=c.expected_seconds, start_seconds=c.start_seconds,
                             span_seconds=c.span_seconds)
            for c in collection.clips]


def build_lyrics_vocabulary(collection: Collection, params: LyricsParams):
    """Vocabulary of the train split's lyrics, and the number of lyrics documents it saw.

    Unreadable lyrics files are left out here; the per-clip step reports them as warnings.
    """
    from musictag_tf.lyrics.encode import read_lyrics_file
    from musictag_tf.lyrics.tokenize import tokenize_batch
    from musictag_tf.lyrics.vocab import Vocabulary

    texts = []
    for clip in iter_train_lyrics(collection):
        if clip.lyrics_text is not None:
            texts.append(clip.lyrics_text)
            continue
        try:
            texts.append(read_lyrics_file(clip.lyrics_path))
        except LyricsError:
            continue
    token_lists = []
    for start in range(0, len(texts), VOCAB_BATCH):
        token_lists.extend(tokenize_batch(texts[start:start + VOCAB_BATCH], params))
    return Vocabulary.build(token_lists, params), sum(1 for t in token_lists if t)


def _fingerprint(config: Dict[str, dict], tags: Sequence[str], vocab_tokens: Sequence[str],
                 whole_files: bool = False) -> str:
    """SHA-256 of what changes record contents; ``whole_files``: some record is a whole file, so
    the record-length limit decides which files fail (a rerun with another limit rebuilds)."""
    content = {
        "schema_version": SCHEMA_VERSION,
        "audio": config["audio"], "lyrics": config["lyrics"], "segments": config["segments"],
        "keep_waveform": config["builder"]["keep_waveform"], "store_segments": config["builder"]["store_segments"],
        "tags": list(tags), "vocab": list(vocab_tokens),
    }
    if whole_files:
        content["max_record_seconds"] = config["builder"]["max_record_seconds"]
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def prepare(collection: Collection, *, audio_params: AudioParams = AudioParams(),
            lyrics_params: LyricsParams = LyricsParams(), segment_params: SegmentParams = SegmentParams(),
            builder_params: BuilderParams = BuilderParams(), tags_file: Optional[str] = None,
            clip_params: ClipParams = ClipParams(), soft_labels: Optional[str] = None,
            allow_missing_soft_labels: bool = False) -> Prepared:
    """Tags, tasks, train-only lyrics vocabulary, config and fingerprint of a build.

    ``clip_params``: cut long files into clips first (tfrecords_builder.clips);
    ``soft_labels``: a per-clip score table whose values become the records' ``tag_targets``
    (tfrecords_builder.soft_labels; without ``tags_file`` its columns are the build's tags).

    Raises DatasetError when no local audio file of the collection exists (a wrong audio root),
    or for a bad soft-label table (unknown tags, bad values, unmatched records).
    """
    check_audio_paths_exist(collection)
    collection = cut_collection(collection, clip_params)
    soft = soft_labels_lib.read_soft_labels(soft_labels) if soft_labels else None
    if soft is not None and not tags_file:
        choice = TagChoice(tuple(soft.tags), tuple(soft.tags))
    else:
        choice = choose_tags(collection, top_n=builder_params.top_n_tags, tags_file=tags_file)
    tasks = make_tasks(collection, choice)
    soft_warnings = []
    if soft is not None:
        tasks, soft_warnings = soft_labels_lib.attach(tasks, soft, choice.tags, allow_missing_soft_labels)
    vocab, documents = build_lyrics_vocabulary(collection, lyrics_params)
    source = dict(collection.description)
    source.update(soft_labels=soft_labels, clip_params=to_dict(clip_params))
    source.update(tags_file=tags_file, top_n=None if tags_file or soft else builder_params.top_n_tags,
                  num_tags=len(choice.tags), lyrics_vocabulary_size=len(vocab),
                  train_lyrics_documents=documents)
    config = {"audio": to_dict(audio_params), "lyrics": to_dict(lyrics_params),
              "segments": to_dict(segment_params), "builder": to_dict(builder_params), "source": source}
    fingerprint = _fingerprint(config, choice.tags, vocab.tokens,
                               whole_files=any(task.span_seconds is None for task in tasks))
    process_config = process.ProcessConfig(audio=audio_params, lyrics=lyrics_params, segments=segment_params,
                                           builder=builder_params, vocab_words=tuple(vocab.words))
    return Prepared(tags=choice, tasks=tasks, vocab_tokens=vocab.tokens, process_config=process_config,
                    config=config, fingerprint=fingerprint,
                    source_warnings=list(collection.warnings) + list(choice.warnings) + soft_warnings)


def write_vocabularies(out_dir: str, prepared: Prepared) -> None:
    """tags.txt and vocab.txt (Vocabulary.save's format), each written atomically."""
    tf.io.gfile.makedirs(out_dir)
    fileio.write_atomic(os.path.join(out_dir, manifest_lib.TAGS_NAME),
                                   "".join(f"{t}\n" for t in prepared.tags.tags))
    fileio.write_atomic(os.path.join(out_dir, manifest_lib.VOCAB_NAME),
                                   "\n".join(prepared.vocab_tokens) + "\n")


class _Progress:
    """tqdm bar over clips (ETA) with a running failure count; silent when disabled."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        self.failures = 0
        if enabled and total:
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="clip", desc="records", smoothing=0.1)

    def update(self, outcome: process.ClipOutcome) -> None:
        if self.bar is None:
            return
        if outcome.failure is not None:
            self.failures += 1
            self.bar.set_postfix(failed=self.failures, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class ClipRunner:
    """Runs ``process.process_clip`` over tasks in order, in this process or in a spawn pool.

    Args:
      config: the per-clip settings.
      workers: pool size allowed (<= 1: always in this process).
      pool: True = pool for every clip, False = never, None = decide after ``PROBE_CLIPS``
        clips timed in this process (pool if the rest would take > ``POOL_MIN_SECONDS`` and
        ``workers >= MIN_AUTO_POOL_WORKERS``).

    ``workers_used`` tells what happened (0 = in this process only).
    """

    def __init__(self, config: process.ProcessConfig, workers: int, pool: Optional[bool] = None,
                 probe_clips: Optional[int] = None, pool_min_seconds: Optional[float] = None, clock=None):
        self.config = config
        self.clock = clock  # StageClock for the clips processed in this process (None: not timed)
        self.workers = workers
        self.pool = pool
        self.probe_clips = PROBE_CLIPS if probe_clips is None else probe_clips
        self.pool_min_seconds = POOL_MIN_SECONDS if pool_min_seconds is None else pool_min_seconds
        self.min_auto_workers = MIN_AUTO_POOL_WORKERS
        self.workers_used = 0
        self.estimated_seconds: Optional[float] = None  # in-process estimate for the rest, after probing

    def _in_process(self, tasks, processor, timings=None):
        for task in tasks:
            started = time.perf_counter()
            outcome = process.process_clip(task, processor)  # looked up per call: tests may patch it
            if timings is not None:
                timings.append(time.perf_counter() - started)
            yield outcome

    def _pooled(self, tasks, workers: int):
        context = multiprocessing.get_context("spawn")
        chunksize = max(1, min(4, len(tasks) // (8 * workers)))
        pool = context.Pool(workers, initializer=process.init_worker, initargs=(self.config, 1))
        try:
            for outcome in pool.imap(process.pool_process, tasks, chunksize=chunksize):
                yield outcome
        except BaseException:  # includes GeneratorExit when the build stops early
            pool.terminate()
            raise
        else:
            pool.close()
        finally:
            pool.join()

    def run(self, tasks: List[process.ClipTask]):
        """Yield one ClipOutcome per task, in order (a generator that owns the pool, if any)."""
        if self.pool is None:
            use_pool = self.workers >= self.min_auto_workers and len(tasks) > 0
        else:
            use_pool = self.pool and self.workers > 1 and len(tasks) > 0
        if use_pool and self.pool:
            self.workers_used = min(self.workers, len(tasks))
            yield from self._pooled(tasks, self.workers_used)
            return
        processor = process.ClipProcessor(self.config, clock=self.clock)
        if not use_pool:
            yield from self._in_process(tasks, processor)
            return
        timings: List[float] = []
        probe = tasks[: self.probe_clips]
        yield from self._in_process(probe, processor, timings)
        rest = tasks[len(probe):]
        steady = sorted(timings[1:] or timings)
        self.estimated_seconds = steady[len(steady) // 2] * len(rest) if steady else 0.0
        if rest and self.estimated_seconds > self.pool_min_seconds:
            self.workers_used = min(self.workers, len(rest))
            logging.info("%d clips left, ~%.0f s in this process: starting %d worker processes",
                         len(rest), self.estimated_seconds, self.workers_used)
            yield from self._pooled(rest, self.workers_used)
        else:
            yield from self._in_process(rest, processor)


def build_records(collection: Collection, out_dir: str, *, audio_params: AudioParams = AudioParams(),
                  lyrics_params: LyricsParams = LyricsParams(), segment_params: SegmentParams = SegmentParams(),
                  builder_params: BuilderParams = BuilderParams(), tags_file: Optional[str] = None,
                  progress: bool = True, pool: Optional[bool] = None, clip_params: ClipParams = ClipParams(),
                  soft_labels: Optional[str] = None, allow_missing_soft_labels: bool = False,
                  clock=None) -> BuildResult:
    """Build (or resume) a records directory from ``collection``; see the module docstring.

    Args:
      collection: clips from ``sources.read_mtat_tree`` or ``sources.read_table``.
      out_dir: records directory (created; local or gs://).
      audio_params, lyrics_params, segment_params: front-end settings stored in the manifest.
      builder_params: shard size, workers, top-N tags, waveform/segments storage.
      tags_file: a tag list file instead of the top-N tags.
      progress: show a tqdm bar.
      pool: True = always use a worker pool, False = never, None = decide by timing the first
        clips (``ClipRunner``); ``builder_params.num_workers`` sets the pool size.
      clip_params, soft_labels, allow_missing_soft_labels: see ``prepare``.
      clock: a ``musictag_tf.audio.stages.StageClock`` timing "prepare", "write" and every
        per-clip stage run in this process (benchmarks/bench_builder.py); None = not timed.

    Returns:
      BuildResult with the manifest (also written to ``out_dir/manifest.json``).
    """
    from musictag_tf.audio.stages import NO_CLOCK

    timer = NO_CLOCK if clock is None else clock
    started = time.time()
    with timer("prepare"):
        prepared = prepare(collection, audio_params=audio_params, lyrics_params=lyrics_params,
                           segment_params=segment_params, builder_params=builder_params, tags_file=tags_file,
                           clip_params=clip_params, soft_labels=soft_labels,
                           allow_missing_soft_labels=allow_missing_soft_labels)
    tf.io.gfile.makedirs(out_dir)
    with writer_lib.BuildLock(out_dir):
        manifest_path = os.path.join(out_dir, manifest_lib.MANIFEST_NAME)
        if tf.io.gfile.exists(manifest_path):
            tf.io.gfile.remove(manifest_path)
        write_vocabularies(out_dir, prepared)
        plans = writer_lib.plan_shards(prepared.tasks, builder_params.clips_per_shard, prepared.fingerprint)
        writer_lib.remove_stale(out_dir, plans)
        summaries: Dict[str, summary_lib.ShardSummary] = {}
        todo = []
        for plan in plans:
            done = writer_lib.finished_summary(out_dir, plan)
            if done is not None:
                summaries[plan.name] = done
            else:
                todo.append(plan)
        tasks = [task for plan in todo for task in plan.tasks]
        runner = ClipRunner(prepared.process_config, resolve_workers(builder_params.num_workers), pool, clock=clock)
        bar = _Progress(len(tasks), progress)
        audio_seconds = 0.0
        outcomes = runner.run(tasks)
        try:
            for plan in todo:
                with writer_lib.ShardWriter(out_dir, plan, len(prepared.tags.tags)) as shard:
                    for _ in plan.tasks:
                        outcome = next(outcomes)
                        with timer("write"):
                            shard.add(outcome)
                        audio_seconds += outcome.seconds
                        bar.update(outcome)
                    with timer("write"):
                        summaries[plan.name] = shard.commit()
        finally:
            outcomes.close()
            bar.close()
        shards = {}
        for plan in plans:
            shards.setdefault(plan.split, []).append(plan.name)
        manifest = summary_lib.assemble_manifest(
            [summaries[p.name] for p in plans], tags=prepared.tags.tags, config=prepared.config,
            shards=shards, extra_warnings=prepared.source_warnings)
        manifest_lib.write_manifest(out_dir, manifest)
    return BuildResult(manifest=manifest, out_dir=out_dir, shards_written=len(todo),
                       shards_resumed=len(plans) - len(todo), clips_processed=len(tasks),
                       audio_seconds=audio_seconds, seconds=time.time() - started, workers=runner.workers_used)
