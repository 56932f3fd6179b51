"""``musictag tag``: tag audio files of any length with an exported (or trained) model.

    musictag tag song.mp3                       # the shipped MTT musicnn (no download)
    musictag tag song.mp3 --model=msd_musicnn   # mtt_musicnn | msd_musicnn | mtt_vgg | msd_vgg
    musictag tag song.mp3 music/ --model=exports/cnn_sam/saved_model [--top_k=5] [--embeddings]
        [--format=json|csv] [--output=tags.json] [--lyrics=lyrics.txt|lyrics_dir/] [--plot=pngs/]

Models: see musictag_tf.tag.backends; windows: musictag_tf.windows (the rule evaluation uses);
outputs: musictag_tf.tag.outputs. Flags and output locations are checked before anything is tagged.
A file that cannot be decoded, is silent or too short, whose lyrics file cannot be read, whose
name is not UTF-8 or whose taggram cannot be written gets one line on stderr naming the file and
the reason; the other files are still tagged and written, and the exit status is 1. Files are
streamed (bounded memory whatever their length); --output is written atomically.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Sequence

from musictag_tf import artifacts, errors
from musictag_tf import fileio
from musictag_tf import params as params_lib
from musictag_tf.model.pretrained import registry
from musictag_tf.tag.backends import load_tagger
from musictag_tf.tag.inputs import LyricsSource, printable_path
from musictag_tf.tag.outputs import write_csv, write_json
from musictag_tf.tag.plot import plot_paths
from musictag_tf.tag.tagger import tag_paths

PROG = "musictag tag"


def define_flags(flag_values=None) -> None:
    """The ``musictag tag`` flags (absl), on ``flag_values`` (default: absl.flags.FLAGS)."""
    from absl import flags

    fv = flags.FLAGS if flag_values is None else flag_values

    flags.DEFINE_string("model", params_lib.TagParams().default_model,
                        f"A shipped model ({' | '.join(registry.SHIPPED_NAMES)}; `musictag models` lists them), a "
                        "SavedModel (version or TF Serving base dir), .tflite file from musictag-export, or a "
                        "training model_dir (spec.json + best.keras).", flag_values=fv)
    flags.DEFINE_boolean("embeddings", False, "Add per-window and per-clip embeddings (embedding_pooled, "
                         "embedding_penultimate) to the JSON output.", flag_values=fv)
    flags.DEFINE_integer("top_k", params_lib.TagParams().top_k, "Top tags listed per file (JSON).", flag_values=fv)
    flags.DEFINE_enum("format", "json", ["json", "csv"],
                      "json: scores, top tags, quadrant, taggram per file; csv: path + one column per "
                      "tag (scorable with musictag-evaluate --predictions).", flag_values=fv)
    flags.DEFINE_string("output", "-", "Output file ('-' = stdout).", flag_values=fv)
    flags.DEFINE_string("lyrics", None, "Lyrics text file used for every input, or a directory holding "
                        "<audio stem>.txt per audio file (missing = no lyrics).", flag_values=fv)
    flags.DEFINE_string("plot", None, "Directory to write a taggram PNG per file into.", flag_values=fv)
    flags.DEFINE_float("hop_seconds", 0.0, "Window hop in seconds (0: the model's: "
                       f"{params_lib.TagParams().hop_fraction:g} of a window for musictag's models, "
                       "2.992 s = no overlap for the shipped musicnn models).", flag_values=fv)
    flags.DEFINE_boolean("taggram", True, "Include the per-window taggram in JSON output.", flag_values=fv)
    flags.DEFINE_float("max_seconds", params_lib.StreamParams().max_seconds,
                       "Tag only the first max_seconds of each file (default: all of it).", flag_values=fv)
    flags.DEFINE_integer("decode_ahead_blocks", params_lib.StreamParams().decode_ahead_blocks,
                         "Folders: audio blocks (StreamParams.block_seconds each) decoded in a background "
                         "thread while the model runs (0: off).", flag_values=fv)
    flags.DEFINE_integer("num_threads", 0, "TFLite interpreter threads (0: every CPU core).", flag_values=fv)
    flags.DEFINE_enum("tflite_variant", "float32", list(artifacts.TFLITE_VARIANTS),
                      "Shipped students (cnn_sam_distilled): which of its TFLite files runs; int8 (full "
                      "integer) is ~1.5x faster per window and agrees with the teacher as well as float32 "
                      "(BUILD_NOTES, 'Full-integer int8').", flag_values=fv)
    flags.DEFINE_integer("workers", params_lib.TagParams().workers,
                         "Files tagged at once, each by its own TFLite interpreter (the cores shared out "
                         "among them): 0 = one per CPU core when several files are given; 1 = one at a "
                         "time. Keras and SavedModel models always tag one file at a time.", flag_values=fv)
    flags.DEFINE_float("clip_seconds", 0.0, "Tag each clip [k*c, (k+1)*c) of every file on its own; rows "
                       "'<abs path>#<start s>' (the builder's --clip_seconds/--soft_labels keys; musictag_tf/tag/clips.py).",
                       flag_values=fv)
    flags.DEFINE_boolean("attention", False, "cnn_sam training runs and their SavedModels: add each window's "
                         "self-attention over its segments (seconds) to the JSON and under the --plot taggram "
                         "(musictag_tf/tag/attention.py).", flag_values=fv)
    flags.DEFINE_boolean("keep_remainder", False, "With --clip_seconds: also tag each file's last, shorter clip.",
                         flag_values=fv)


def check_flags(fv, paths: Sequence[str]) -> None:
    """Validate every flag and output location before any model is loaded or file decoded.

    Raises errors.FlagError / errors.OutputError (one line each).
    """
    if not paths:
        raise errors.FlagError("give audio files or folders to tag")
    if fv.top_k <= 0:
        raise errors.FlagError("--top_k", f"must be positive, got {fv.top_k}")
    if not (math.isfinite(fv.hop_seconds) and fv.hop_seconds >= 0):
        raise errors.FlagError("--hop_seconds", f"must be a finite number >= 0, got {fv.hop_seconds}")
    if fv.max_seconds is not None and not (math.isfinite(fv.max_seconds) and fv.max_seconds > 0):
        raise errors.FlagError("--max_seconds", f"must be a finite number > 0, got {fv.max_seconds}")
    if fv.decode_ahead_blocks < 0:
        raise errors.FlagError("--decode_ahead_blocks", f"must be >= 0, got {fv.decode_ahead_blocks}")
    if fv.num_threads < 0:
        raise errors.FlagError("--num_threads", f"must be >= 0, got {fv.num_threads}")
    if fv.workers < 0:
        raise errors.FlagError("--workers", f"must be >= 0, got {fv.workers}")
    if fv.output not in ("-", ""):
        fileio.check_output_file(fv.output)
    if fv.plot:
        fileio.check_output_dir(fv.plot)


def main(argv: Sequence[str], flag_values=None) -> int:
    """Run ``musictag tag`` with parsed flags; ``argv[1:]`` are the audio paths. Returns the exit status.

    Exit status: 0 all files tagged, 1 some files failed (each named on one stderr line; the others
    are written), 2 usage, model or output errors (one line, nothing tagged).
    """
    from absl import flags

    fv = flags.FLAGS if flag_values is None else flag_values
    paths = list(argv[1:])
    prog = PROG
    try:
        check_flags(fv, paths)
        tagger = _load(fv)
        tagger.embeddings = fv.embeddings
        lyrics = LyricsSource(fv.lyrics, tagger.info.vocab_path, tagger.info.lyrics_params)
    except (errors.MusictagError, OSError) as exc:
        return errors.report(prog, exc)
    hop = int(round(fv.hop_seconds * tagger.info.sample_rate)) if fv.hop_seconds > 0 else None

    def report(path, reason):
        print(f"{prog}: error: {printable_path(path)}: {reason}", file=sys.stderr)

    stream = dataclasses.replace(params_lib.StreamParams(), max_seconds=fv.max_seconds,
                                 decode_ahead_blocks=fv.decode_ahead_blocks)
    if fv.clip_seconds > 0:  # issue 13: per-clip teacher tables
        from musictag_tf.audio.clips import ClipParams
        from musictag_tf.tag.clips import tag_clip_paths
        run = tag_clip_paths(paths, tagger, ClipParams(fv.clip_seconds, fv.keep_remainder), lyrics, hop,
                             on_error=report, workers=fv.workers)
    else:
        run = tag_paths(paths, tagger, lyrics, hop_samples=hop, on_error=report, stream=stream, workers=fv.workers)
    for clip in run.results:
        for warning in clip.warnings:
            print(f"{prog}: warning: {printable_path(warning)}", file=sys.stderr)
    if not run.results and not run.failures:
        print(f"{prog}: error: no audio files found in {[printable_path(p) for p in paths]}", file=sys.stderr)
        return 2
    attention = None
    if fv.attention:
        from musictag_tf.tag.attention import explain_run, load_explainer
        try:
            attention = explain_run(run, load_explainer(registry.resolve_run(_model_name(fv)), tagger, hop))
        except (errors.MusictagError, OSError) as exc:
            return errors.report(prog, exc)
    try:
        _write(run, tagger.info.tags, fv, attention=attention, model=tagger.describe(hop))
    except (errors.MusictagError, OSError) as exc:  # e.g. the disk filled up: the old file is kept
        return errors.report(prog, errors.OutputError(fv.output, f"not written: {exc.strerror or exc}")
                             if isinstance(exc, OSError) else exc)
    failed = len(run.failures)
    if fv.plot:
        for written, problem in plot_paths(run, tagger.info.tags, fv.plot, attention=attention):
            if problem is None:
                print(f"{prog}: taggram {printable_path(written)}", file=sys.stderr)
            else:
                report(written, f"taggram not written: {problem}")
                failed += 1
    if failed:
        print(f"{prog}: {failed} of {len(run.failures) + len(run.results)} files failed", file=sys.stderr)
        return 1
    return 0


def _model_name(fv) -> str:
    """--model, or the shipped default (TagParams.default_model) when it is not given."""
    return fv.model or params_lib.TagParams().default_model


def _load(fv):
    """load_tagger with any loading failure (a truncated variables file, a 0-byte best.keras, a
    foreign .tflite) turned into one ModelLoadError line."""
    try:
        return load_tagger(_model_name(fv), num_threads=fv.num_threads or None, keras=fv.embeddings,
                           tflite_variant=fv.tflite_variant)
    except errors.MusictagError:
        raise
    except Exception as exc:  # noqa: BLE001  (TF, Keras, zipfile, flatbuffer errors: any is "cannot load")
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise errors.ModelLoadError(_model_name(fv), f"cannot load the model ({type(exc).__name__}: {first})") from exc


def _write(run, tags, fv, attention=None, model=None) -> None:
    """The JSON or CSV output, to stdout or atomically to --output (a temporary sibling renamed
    into place: a full disk or a kill leaves the previous file intact). A name that is not UTF-8
    is written surrogate-escaped (JSON ``"\\udce9"``: json.load + os.fsencode give its bytes back)."""
    def emit(out):
        if fv.format == "csv":
            write_csv(run, tags, out)
        else:
            write_json(run, tags, fv.top_k, out, with_taggram=fv.taggram, attention=attention, model=model)

    if fv.output in ("-", ""):
        sys.stdout.reconfigure(errors="backslashreplace")
        emit(sys.stdout)
        sys.stdout.flush()
        return
    with fileio.open_atomic(fv.output, "w", errors="backslashreplace") as out:
        emit(out)


def run() -> None:
    """Stand-alone entry point: ``python -m musictag_tf.tag PATH... --model=...``."""
    from absl import app

    from musictag_tf.logs import show_flags_in_help

    define_flags()
    show_flags_in_help(__name__)
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
