"""The same per-clip step as an Apache Beam pipeline (DirectRunner here; Dataflow/Flink/Spark).

Only imported when ``musictag-build --runner`` names a Beam runner; apache-beam is the
optional extra ``pip install .[beam]``.

The launcher does what needs the whole collection, exactly as the local build does
(``build.prepare``: tag vocabulary, train-only lyrics vocabulary, config, fingerprint), writes
``tags.txt`` and ``vocab.txt``, then runs::

  ReadFromText(<out>/beam_tasks.jsonl) -> ClipTask -> Reshuffle
      -> ParDo(ProcessClipFn: process.process_clip)
      main output  "written": ClipOutcome with its serialised Example
      side output  "failed":  ClipOutcome with its Failure (tagged output)
  written -> per split: Filter -> example bytes -> WriteToTFRecord(<out>/<split>,
      shard_name_template="-SSSSS-of-NNNNN", file_name_suffix=".tfrecord", num_shards=N)
      (N = ceil(clips / clips_per_shard), so names match the local build:
      train-00000-of-00003.tfrecord)
  written + failed -> CombineGlobally(SplitSummaries) -> one ShardSummary per split
      -> WriteManifest (side input: the shard files written) -> manifest.json

``summary.assemble_manifest`` makes the manifest, as in the local build, so both report the
same counts, tag frequencies, failures and warnings. Beam writes shards atomically itself
(temporary files, renamed on finalisation); it has no shard-level resume (a failed job is
re-run whole; runners retry failed bundles). Audio is read with ``tf.io.gfile`` inside
``load_audio`` so gs:// inputs work on any runner. Clip order within a Beam shard is not
deterministic (the set of clips per split is).

On Dataflow, workers need this package: pass e.g. ``--extra_package=dist/musictag-0.1.0.tar.gz``
(``python -m build --sdist``) or ``--sdk_container_image`` with musictag installed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, List, Optional, Sequence

import apache_beam as beam
import tensorflow as tf
from apache_beam.io.tfrecordio import WriteToTFRecord
from apache_beam.options.pipeline_options import PipelineOptions

from musictag_tf import fileio
from musictag_tf.data import manifest as manifest_lib
from musictag_tf.data.schema import SPLITS
from musictag_tf.params import AudioParams, BuilderParams, LyricsParams, SegmentParams
from tfrecords_builder import build as build_lib
from tfrecords_builder import process
from tfrecords_builder import summary as summary_lib
from tfrecords_builder import writer as writer_lib
from tfrecords_builder.sources import Collection

WRITTEN = "written"
FAILED = "failed"
SHARD_NAME_TEMPLATE = "-SSSSS-of-NNNNN"
SHARD_SUFFIX = ".tfrecord"
TASKS_NAME = "beam_tasks.jsonl"  # the clips to build, written by the launcher, deleted after the run


class ProcessClipFn(beam.DoFn):
    """ClipTask -> ClipOutcome: main output when written, tagged ``FAILED`` output when not."""

    def __init__(self, config: process.ProcessConfig):
        self.config = config
        self.processor: Optional[process.ClipProcessor] = None

    def setup(self):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.processor = process.ClipProcessor(self.config)

    def process(self, task: process.ClipTask):
        outcome = process.process_clip(task, self.processor)
        if outcome.failure is not None:
            yield beam.pvalue.TaggedOutput(FAILED, outcome)
        else:
            yield outcome


class SplitSummaries(beam.CombineFn):
    """ClipOutcomes -> {split: ShardSummary} (examples dropped), order-independent."""

    def __init__(self, num_tags: int, fingerprint: str):
        self.num_tags = num_tags
        self.fingerprint = fingerprint

    def _empty(self, split: str) -> summary_lib.ShardSummary:
        return summary_lib.ShardSummary(shard="", split=split, fingerprint=self.fingerprint, num_tags=self.num_tags)

    def create_accumulator(self) -> Dict[str, summary_lib.ShardSummary]:
        return {split: self._empty(split) for split in SPLITS}

    def add_input(self, accumulator, outcome: process.ClipOutcome):
        accumulator[outcome.split].add(outcome)
        return accumulator

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for accumulator in accumulators:
            for split in SPLITS:
                merged[split] = merged[split].merge(accumulator[split])
        return merged

    def extract_output(self, accumulator) -> List[summary_lib.ShardSummary]:
        return [accumulator[split] for split in SPLITS]


def _without_example(outcome: process.ClipOutcome) -> process.ClipOutcome:
    """The outcome without its Example: summaries need only counts (elements are immutable)."""
    return dataclasses.replace(outcome, example=None)


def _write_manifest(summaries: List[summary_lib.ShardSummary], shard_files: Sequence[str], *, out_dir: str,
                    tags: Sequence[str], config: Dict[str, dict],
                    extra_warnings: Sequence[manifest_lib.Failure]) -> str:
    shards: Dict[str, List[str]] = {split: [] for split in SPLITS}
    for path in shard_files:
        name = os.path.basename(path)
        match = manifest_lib.SHARD_PATTERN.match(name)
        if match:
            shards[match.group(1)].append(name)
    manifest = summary_lib.assemble_manifest(
        summaries, tags=tags, config=config, shards={s: sorted(n) for s, n in shards.items()},
        extra_warnings=extra_warnings)
    manifest_lib.write_manifest(out_dir, manifest)
    return os.path.join(out_dir, manifest_lib.MANIFEST_NAME)


def _clear_outputs(out_dir: str) -> None:
    """Delete the manifest, every shard and the local build's summaries (Beam rewrites all)."""
    tf.io.gfile.makedirs(out_dir)
    for name in tf.io.gfile.listdir(out_dir):
        name = name.rstrip("/")
        if name == manifest_lib.MANIFEST_NAME or manifest_lib.SHARD_PATTERN.match(name):
            tf.io.gfile.remove(os.path.join(out_dir, name))
    summaries = os.path.join(out_dir, writer_lib.SUMMARY_DIR)
    if tf.io.gfile.isdir(summaries):
        tf.io.gfile.rmtree(summaries)


def task_from_json(line: str) -> process.ClipTask:
    """One line of the tasks file -> ClipTask (tags back to a tuple)."""
    values = json.loads(line)
    values["tags"] = tuple(values["tags"])
    return process.ClipTask(**values)


def write_tasks(path: str, tasks: Sequence[process.ClipTask]) -> None:
    """The clips as JSON lines (``writer.task_json``), read by the pipeline's first step.

    A file rather than ``beam.Create``: 25,863 MTAT tasks would otherwise be embedded in the
    job graph, which Dataflow caps at ~10 MB.
    """
    fileio.write_atomic(path, "".join(writer_lib.task_json(t) + "\n" for t in tasks))


def build_pipeline(pipeline: beam.Pipeline, prepared: build_lib.Prepared, out_dir: str,
                   clips_per_shard: int, tasks_path: str) -> beam.PCollection:
    """Add the build to ``pipeline``; returns the PCollection holding the manifest's path.

    ``tasks_path``: the file ``write_tasks`` wrote for ``prepared.tasks``.
    """
    counts = {split: 0 for split in SPLITS}
    for task in prepared.tasks:
        counts[task.split] += 1
    results = (pipeline
               | "ReadTasks" >> beam.io.ReadFromText(tasks_path)
               | "Tasks" >> beam.Map(task_from_json)
               | "Reshuffle" >> beam.Reshuffle()  # spread the clips over workers
               | "Process" >> beam.ParDo(ProcessClipFn(prepared.process_config)).with_outputs(FAILED, main=WRITTEN))
    written = results[WRITTEN]
    shard_lists = []
    for split in SPLITS:
        n_shards = writer_lib.num_shards(counts[split], clips_per_shard)
        if n_shards == 0:
            continue
        files = (written
                 | f"Only{split.title()}" >> beam.Filter(lambda o, s=split: o.split == s)
                 | f"Examples{split.title()}" >> beam.Map(lambda o: o.example)
                 | f"Write{split.title()}" >> WriteToTFRecord(
                     os.path.join(out_dir, split), file_name_suffix=SHARD_SUFFIX, num_shards=n_shards,
                     shard_name_template=SHARD_NAME_TEMPLATE))
        shard_lists.append(files)
    shard_files = (shard_lists | "AllShards" >> beam.Flatten()) if shard_lists else \
        (pipeline | "NoShards" >> beam.Create([]))
    outcomes = ((written | "Counts" >> beam.Map(_without_example), results[FAILED])
                | "AllOutcomes" >> beam.Flatten())
    summaries = outcomes | "Summaries" >> beam.CombineGlobally(
        SplitSummaries(len(prepared.tags.tags), prepared.fingerprint))
    return summaries | "Manifest" >> beam.Map(
        _write_manifest, beam.pvalue.AsList(shard_files), out_dir=out_dir, tags=prepared.tags.tags,
        config=prepared.config, extra_warnings=prepared.source_warnings)


def run_beam(collection: Collection, out_dir: str, *, pipeline_args: Sequence[str] = ("--runner", "DirectRunner"),
             audio_params: AudioParams = AudioParams(), lyrics_params: LyricsParams = LyricsParams(),
             segment_params: SegmentParams = SegmentParams(), builder_params: BuilderParams = BuilderParams(),
             tags_file: Optional[str] = None) -> manifest_lib.Manifest:
    """Build a records directory with Apache Beam; returns the manifest it wrote.

    Args:
      collection: as for ``build.build_records``.
      out_dir: records directory (local or gs://).
      pipeline_args: Beam pipeline options, e.g. ``["--runner", "DataflowRunner", "--project", ...]``.
      audio_params, lyrics_params, segment_params, builder_params, tags_file: as ``build_records``
        (``builder_params.num_workers`` is the local pool's; Beam runners size themselves).
    """
    prepared = build_lib.prepare(collection, audio_params=audio_params, lyrics_params=lyrics_params,
                                 segment_params=segment_params, builder_params=builder_params, tags_file=tags_file)
    _clear_outputs(out_dir)
    build_lib.write_vocabularies(out_dir, prepared)
    tasks_path = os.path.join(out_dir, TASKS_NAME)
    write_tasks(tasks_path, prepared.tasks)
    options = PipelineOptions(list(pipeline_args))
    with beam.Pipeline(options=options) as pipeline:
        build_pipeline(pipeline, prepared, out_dir, builder_params.clips_per_shard, tasks_path)
    tf.io.gfile.remove(tasks_path)
    return manifest_lib.read_manifest(out_dir)
