"""musictag-build: audio + tags (+ lyrics, emotion) -> sharded TFRecords + manifest.

Examples::

  # MTAT tree (annotations_final.csv + folders 0-f), paper's folder split, MTAT top-50 tags
  musictag-build --mtat_dir=/data/mtat --out_dir=/data/records/mtat

  # Won et al. 2020 split (lists from ../shared/data/mtat), the standard top-50 list file
  musictag-build --mtat_dir=/data/mtat --split=won2020 \\
      --tags_file=../shared/data/mtat/top50_tags.txt --out_dir=/data/records/mtat_won

  # the synthetic dataset (tfrecords_builder.synthetic) with its lyrics and emotion labels
  musictag-build --mtat_dir=synth --lyrics_table=synth/lyrics.tsv --labels_table=synth/emotion.tsv \\
      --tags_file=synth/tags.txt --out_dir=records/synth

  # a generic table (audio_path, tags[, split, lyrics, lyrics_file, track_id, energy, stress, quadrant])
  musictag-build --table=my_songs.tsv --top_n=20 --out_dir=records/mine

  # the same per-clip code on Apache Beam (pip install .[beam]); options after -- go to Beam
  musictag-build --mtat_dir=gs://bucket/mtat --out_dir=gs://bucket/records --runner=DataflowRunner \\
      -- --project=my-project --region=europe-west1 --temp_location=gs://bucket/tmp

Front-end settings other than the defaults of musictag_tf/params.py: ``--params_json`` with
sections "audio", "lyrics", "segments" (a file path or inline JSON), e.g.
``--params_json='{"lyrics": {"min_count": 1}}'``.

Exit status 0 when the records are written and at most --max_failures clips failed or were refused
(each is listed in manifest.json and in the summary printed at the end; the records are written
either way), 1 when more failed, or on bad input with one line naming the file and the problem,
2 on bad flags. Tables may only name files under their root (``--audio_root`` or the table's
folder; lyrics files under the lyrics table's folder): absolute paths, ``..``, URLs and symlinks
leaving it are refused per row unless ``--allow_outside_root``.
"""

from __future__ import annotations

import json
import os
import shlex
import sys

from absl import app, flags

from musictag_tf import params as params_lib

FLAGS = flags.FLAGS
LOCAL_RUNNER = "local"
# Beam 2.77's DirectRunner first tries to download its Prism binary from GitHub, then falls
# back to the in-process FnApiRunner; we go there directly (no network access at run time).
# Ask for PrismRunner explicitly to get Prism.
BEAM_ALIASES = {"beam": "FnApiRunner", "direct": "FnApiRunner", "directrunner": "FnApiRunner"}

# Flag defaults come from musictag_tf.params.BuilderParams (params imports no TensorFlow, so
# --help stays fast).
_BUILDER = params_lib.BuilderParams()  # every flag default below comes from it
from musictag_tf.audio.clips import ClipParams  # noqa: E402  (no TensorFlow either)

_CLIPS = ClipParams()

flags.DEFINE_string("mtat_dir", None, "MTAT tree: folder with annotations_final.csv and mp3 folders 0-f.")
flags.DEFINE_string("table", None, "Generic table (CSV/TSV): audio_path, tags[, clip_id, split, lyrics, "
                    "lyrics_file, track_id, energy, stress, quadrant]. See tfrecords_builder/sources.py.")
flags.DEFINE_string("out_dir", None, "Records directory to write (created; re-running resumes).")
flags.DEFINE_string("audio_root", None, "Base folder of relative audio paths (default: --mtat_dir, or the "
                    "table's folder).")
flags.DEFINE_enum("split", _BUILDER.split, ["folders", "won2020"], "MTAT split: the paper's folders (0-b train, "
                  "c valid, d-f test) or Won et al. 2020's lists (clips in none are skipped and counted). "
                  "Tables use their split column, else a stable 80/10/10 hash split.")
flags.DEFINE_string("split_dir", None, "Folder with won2020/ and pons_musicnn/index_mtt.tsv "
                    "(default: ../shared/data/mtat or $MUSICTAG_SHARED_DATA/mtat).")
flags.DEFINE_integer("top_n", _BUILDER.top_n_tags, "Use the N most frequent tags (ignored with --tags_file).")
flags.DEFINE_string("tags_file", None, "Tag list file (one per line) to use instead of the top N.")
flags.DEFINE_string("lyrics_table", None, "Lyrics table keyed by clip_id or track_id "
                    "(lyrics_file or lyrics column), e.g. the synthetic lyrics.tsv.")
flags.DEFINE_string("labels_table", None, "Emotion labels: clip_id, energy, stress[, quadrant] "
                    "(0/1/0-3 or names), e.g. the synthetic emotion.tsv.")
flags.DEFINE_integer("clips_per_shard", _BUILDER.clips_per_shard, "Clips per TFRecord shard.")
flags.DEFINE_integer("num_workers", _BUILDER.num_workers, "Worker processes (0 = all cores; 1 = in this process).")
flags.DEFINE_enum("pool", "auto", ["auto", "always", "never"], "Local runner: 'auto' times the first clips "
                  "in this process and starts a spawn pool of --num_workers only when the rest would take "
                  "over a minute and >= 3 workers are available (see tfrecords_builder/build.py); "
                  "'always' / 'never' decide for it.")
flags.DEFINE_bool("keep_waveform", _BUILDER.keep_waveform, "Store the int16 waveform (needed by the waveform branch).")
flags.DEFINE_bool("store_segments", _BUILDER.store_segments, "Store adaptive segment boundaries.")
flags.DEFINE_string("params_json", None, "JSON (file or inline) with 'audio', 'lyrics', 'segments' "
                    "sections overriding musictag_tf.params defaults.")
flags.DEFINE_string("runner", LOCAL_RUNNER, "'local' (process pool) or an Apache Beam runner: beam or "
                    "DirectRunner (both run Beam's local FnApiRunner), DataflowRunner, FlinkRunner, "
                    "SparkRunner, PortableRunner, PrismRunner...")
flags.DEFINE_string("beam_args", "", "Extra Beam pipeline options as one string (also: after --).")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flags.DEFINE_float("clip_seconds", _CLIPS.clip_seconds, "Cut every file into non-overlapping clips of this "
                   "many seconds, each its own record with id '<clip id>#<start s>' (e.g. 29.1 as MTAT; "
                   "0 = one record per file). See musictag_tf/audio/clips.py.")
flags.DEFINE_bool("keep_remainder", _CLIPS.keep_remainder, "With --clip_seconds: keep each file's last, "
                  "shorter clip (if at least --min_remainder_seconds long).")
flags.DEFINE_float("min_remainder_seconds", _CLIPS.min_remainder_seconds, "Shortest remainder clip kept, s.")
flags.DEFINE_string("soft_labels", None, "CSV of per-clip tag scores in [0, 1] (path[#start] + one column per "
                    "tag, as 'musictag tag --format=csv --clip_seconds=...' writes): stored as the records' "
                    "training targets (tag_targets); tags = scores >= 0.5. Without --tags_file its columns "
                    "are the tags. See tfrecords_builder/soft_labels.py.")
flags.DEFINE_bool("allow_missing_soft_labels", False, "Records without a --soft_labels row keep their hard "
                  "labels as targets (default: an error listing them).")
flags.DEFINE_string("max_failures", _BUILDER.max_failures, "Clips that may fail or be refused before the "
                    "exit status is 1: a count (3) or a fraction of the rows (0.05).")
flags.DEFINE_float("max_record_seconds", _BUILDER.max_record_seconds, "Without --clip_seconds, a file longer "
                   "than this (s, from its header) fails before decoding, with a line suggesting --clip_seconds "
                   "(a whole-file record is held in memory); the other files are built. 0 = no limit.")
flags.register_validator("max_record_seconds", lambda v: v >= 0, message="--max_record_seconds must be >= 0")
flags.DEFINE_bool("allow_outside_root", _BUILDER.allow_outside_root, "Read files a table names outside its "
                  "root (absolute paths, '..', URLs, symlinks out); refused per row otherwise.")


def parse_max_failures(text: str, total: int) -> int:
    """--max_failures as a count of clips: "3" -> 3, "0.05" -> floor(0.05 x total). Raises ValueError."""
    value = float(text)
    if not value >= 0 or value != value:
        raise ValueError(text)
    if "." in text or "e" in text.lower():
        if value > 1:
            raise ValueError(text)
        return int(value * total)
    return int(value)


flags.register_validator("max_failures", lambda v: _valid_max_failures(v),
                         message="--max_failures must be a count >= 0 (3) or a fraction in [0, 1] (0.05)")


def _valid_max_failures(text: str) -> bool:
    try:
        parse_max_failures(text, 1)
        return True
    except ValueError:
        return False

flags.register_multi_flags_validator(
    ["mtat_dir", "table"], lambda f: (f["mtat_dir"] is None) != (f["table"] is None),
    message="give exactly one of --mtat_dir (an MTAT tree) or --table (a generic table)")
flags.register_validator("top_n", lambda v: v > 0, message="--top_n must be > 0")
flags.register_validator("clips_per_shard", lambda v: v > 0, message="--clips_per_shard must be > 0")
flags.register_validator("num_workers", lambda v: v >= 0, message="--num_workers must be >= 0")
flags.register_multi_flags_validator(
    ["split", "table"], lambda f: not (f["split"] == "won2020" and f["table"] is not None),
    message="--split=won2020 applies to an MTAT tree (--mtat_dir); a table uses its split column")
flags.register_validator("out_dir", lambda v: v is None or bool(v.strip()), message="--out_dir is empty")
flags.mark_flag_as_required("out_dir")

_PARAMS_SECTIONS = ("audio", "lyrics", "segments")


def load_params_json(text_or_path):
    """(AudioParams, LyricsParams, SegmentParams) from --params_json (file path or inline JSON)."""
    import dataclasses

    from musictag_tf.errors import DatasetError
    from musictag_tf.params import AudioParams, LyricsParams, SegmentParams, from_dict

    classes = {"audio": AudioParams, "lyrics": LyricsParams, "segments": SegmentParams}
    if not text_or_path:
        return AudioParams(), LyricsParams(), SegmentParams()
    source = "--params_json"
    text = text_or_path
    if not text_or_path.lstrip().startswith("{"):
        source = text_or_path
        try:
            with open(text_or_path, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise DatasetError(f"{text_or_path}: cannot read --params_json file: {exc.strerror}") from exc
    try:
        values = json.loads(text)
    except ValueError as exc:
        raise DatasetError(f"{source}: not valid JSON: {exc}") from exc
    if not isinstance(values, dict) or set(values) - set(_PARAMS_SECTIONS):
        raise DatasetError(f"{source}: expected an object with sections {_PARAMS_SECTIONS}, "
                           f"got {sorted(values) if isinstance(values, dict) else type(values).__name__}")
    out = []
    for name in _PARAMS_SECTIONS:
        section = values.get(name, {})
        known = {f.name for f in dataclasses.fields(classes[name])}
        unknown = sorted(set(section) - known)
        if unknown:
            raise DatasetError(f"{source}: unknown {name} settings {unknown}; known: {sorted(known)}")
        out.append(from_dict(classes[name], section))
    return tuple(out)


def _collection():
    from tfrecords_builder import sources

    if FLAGS.mtat_dir:
        return sources.read_mtat_tree(FLAGS.mtat_dir, split=FLAGS.split, split_dir=FLAGS.split_dir,
                                      audio_root=FLAGS.audio_root, lyrics_table=FLAGS.lyrics_table,
                                      labels_table=FLAGS.labels_table, allow_outside_root=FLAGS.allow_outside_root)
    return sources.read_table(FLAGS.table, audio_root=FLAGS.audio_root, lyrics_table=FLAGS.lyrics_table,
                              labels_table=FLAGS.labels_table, allow_outside_root=FLAGS.allow_outside_root)


def check_failures(collection, manifest) -> None:
    """Raise errors.MusictagError when more clips failed or were refused than --max_failures allows."""
    from musictag_tf import errors
    failed = len(manifest.failures) + len(collection.refused)
    total = len(collection.clips) + len(collection.refused)
    allowed = parse_max_failures(FLAGS.max_failures, total)
    if failed > allowed:
        raise errors.MusictagError(f"{failed} of {total} clips failed or were refused (allowed: "
                                   f"--max_failures={FLAGS.max_failures}, {allowed}); the records of the "
                                   "others are written, the failures are listed in manifest.json")


def main(argv):
    extra_args = list(argv[1:])
    runner = BEAM_ALIASES.get(FLAGS.runner.lower(), FLAGS.runner)
    if runner == LOCAL_RUNNER and (extra_args or FLAGS.beam_args):
        raise app.UsageError(f"unexpected arguments {extra_args or FLAGS.beam_args!r}: pipeline options "
                             "are only for a Beam --runner")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from musictag_tf import errors
    from musictag_tf.params import BuilderParams

    try:
        audio, lyrics, segments = load_params_json(FLAGS.params_json)
        builder = BuilderParams(clips_per_shard=FLAGS.clips_per_shard, num_workers=FLAGS.num_workers,
                                top_n_tags=FLAGS.top_n, split=FLAGS.split, keep_waveform=FLAGS.keep_waveform,
                                store_segments=FLAGS.store_segments, max_record_seconds=FLAGS.max_record_seconds)
        collection = _collection()
        kwargs = dict(audio_params=audio, lyrics_params=lyrics, segment_params=segments,
                      builder_params=builder, tags_file=FLAGS.tags_file)
        clip_kwargs = dict(clip_params=ClipParams(FLAGS.clip_seconds, FLAGS.keep_remainder,
                                                  FLAGS.min_remainder_seconds),
                           soft_labels=FLAGS.soft_labels, allow_missing_soft_labels=FLAGS.allow_missing_soft_labels)
        if runner == LOCAL_RUNNER:
            from tfrecords_builder.build import build_records

            pool = {"auto": None, "always": True, "never": False}[FLAGS.pool]
            result = build_records(collection, FLAGS.out_dir, progress=FLAGS.progress, pool=pool, **kwargs,
                                   **clip_kwargs)
            print(result.report())
            check_failures(collection, result.manifest)
        else:
            import logging

            logging.getLogger("apache_beam").setLevel(logging.ERROR)  # import-time notices about GCP extras
            from tfrecords_builder import beam_pipeline

            logging.getLogger("apache_beam").setLevel(logging.WARNING)

            if FLAGS.clip_seconds or FLAGS.soft_labels:
                raise app.UsageError("--clip_seconds and --soft_labels are for the local runner only (for now)")
            pipeline_args = ["--runner", runner] + shlex.split(FLAGS.beam_args) + extra_args
            manifest = beam_pipeline.run_beam(collection, FLAGS.out_dir, pipeline_args=pipeline_args, **kwargs)
            from tfrecords_builder.summary import format_report

            print(format_report(manifest, records_dir=FLAGS.out_dir))
            check_failures(collection, manifest)
    except errors.MusictagError as exc:  # includes ConfigError
        return errors.report("musictag-build", exc, status=1)
    return 0


def run():
    """Console-script entry point (``musictag-build``)."""
    # absl's --help lists the key flags of the module named sys.argv[0]; under a console script
    # that is the wrapper, not this module, so declare this module's flags for it too.
    for flag in FLAGS.get_key_flags_for_module(__name__):
        FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(main)


if __name__ == "__main__":
    run()
