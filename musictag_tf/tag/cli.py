"""``musictag tag``: tag audio files of any length with an exported (or trained) model.

    musictag tag song.mp3                       # the shipped MTT musicnn (no download)
    musictag tag song.mp3 --model=msd_musicnn   # mtt_musicnn | msd_musicnn | mtt_vgg | msd_vgg
    musictag tag song.mp3 music/ --model=exports/cnn_sam/saved_model [--top_k=5] [--embeddings]
        [--format=json|csv] [--output=tags.json] [--lyrics=lyrics.txt|lyrics_dir/] [--plot=pngs/]

Models: see musictag_tf.tag.backends; windows: musictag_tf.windows (the rule evaluation uses);
outputs: musictag_tf.tag.outputs. A file that cannot be decoded, is silent or too short, or whose
lyrics file cannot be read gets one line on stderr naming the file and the reason; the other
files are still tagged and the exit status is 1.
"""

from __future__ import annotations

import sys
from typing import Sequence

from musictag_tf import errors
from musictag_tf import params as params_lib
from musictag_tf.tag.backends import load_tagger
from musictag_tf.tag.inputs import LyricsSource
from musictag_tf.tag.outputs import write_csv, write_json
from musictag_tf.tag.plot import plot_paths
from musictag_tf.tag.tagger import tag_paths

PROG = "musictag tag"


def define_flags(flag_values=None) -> None:
    """The ``musictag tag`` flags (absl), on ``flag_values`` (default: absl.flags.FLAGS)."""
    from absl import flags

    fv = flags.FLAGS if flag_values is None else flag_values
    from musictag_tf.model.pretrained.registry import SHIPPED_MODELS

    flags.DEFINE_string("model", params_lib.TagParams().default_model,
                        f"A shipped model ({' | '.join(SHIPPED_MODELS)}; `musictag models` lists them), a "
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
    flags.DEFINE_integer("num_threads", 0, "TFLite interpreter threads (0: default).", flag_values=fv)
    flags.DEFINE_float("clip_seconds", 0.0, "Tag each clip [k*c, (k+1)*c) of every file on its own; rows "
                       "'<abs path>#<start s>' (the builder's --clip_seconds/--soft_labels keys; musictag_tf/tag/clips.py).",
                       flag_values=fv)
    flags.DEFINE_boolean("attention", False, "cnn_sam training runs: add each window's self-attention over its "
                         "segments (seconds) to the JSON and under the --plot taggram (musictag_tf/tag/attention.py).",
                         flag_values=fv)
    flags.DEFINE_boolean("keep_remainder", False, "With --clip_seconds: also tag each file's last, shorter clip.",
                         flag_values=fv)


def main(argv: Sequence[str], flag_values=None) -> int:
    """Run ``musictag tag`` with parsed flags; ``argv[1:]`` are the audio paths. Returns the exit status."""
    from absl import flags

    fv = flags.FLAGS if flag_values is None else flag_values
    paths = list(argv[1:])
    prog = PROG
    if not paths:
        print(f"{prog}: error: give audio files or folders to tag", file=sys.stderr)
        return 2
    if fv.top_k <= 0:
        print(f"{prog}: error: --top_k must be positive", file=sys.stderr)
        return 2
    try:
        tagger = load_tagger(fv.model or params_lib.TagParams().default_model, num_threads=fv.num_threads or None)
        tagger.embeddings = fv.embeddings
        lyrics = LyricsSource(fv.lyrics, tagger.info.vocab_path, tagger.info.lyrics_params)
    except (errors.MusictagError, OSError) as exc:
        return errors.report(prog, exc)
    hop = int(round(fv.hop_seconds * tagger.info.sample_rate)) if fv.hop_seconds > 0 else None

    def report(path, reason):
        print(f"{prog}: error: {path}: {reason}", file=sys.stderr)

    if fv.clip_seconds > 0:  # issue 13: per-clip teacher tables
        from musictag_tf.audio.clips import ClipParams
        from musictag_tf.tag.clips import tag_clip_paths
        run = tag_clip_paths(paths, tagger, ClipParams(fv.clip_seconds, fv.keep_remainder), lyrics, hop, on_error=report)
    else:
        run = tag_paths(paths, tagger, lyrics, hop_samples=hop, on_error=report)
    for clip in run.results:
        for warning in clip.warnings:
            print(f"{prog}: warning: {warning}", file=sys.stderr)
    if not run.results and not run.failures:
        print(f"{prog}: error: no audio files found in {paths}", file=sys.stderr)
        return 2
    tags = tagger.info.tags
    attention = None
    if fv.attention:
        from musictag_tf.tag.attention import AttentionExplainer, explain_run
        try:
            attention = explain_run(run, AttentionExplainer(fv.model, hop))
        except (errors.MusictagError, OSError) as exc:
            return errors.report(prog, exc)
    out = sys.stdout if fv.output in ("-", "") else open(fv.output, "w", encoding="utf-8", newline="")
    try:
        if fv.format == "csv":
            write_csv(run, tags, out)
        else:
            write_json(run, tags, fv.top_k, out, with_taggram=fv.taggram, attention=attention,
                       model=tagger.describe(hop))
    finally:
        if out is not sys.stdout:
            out.close()
    if fv.plot:
        for written in plot_paths(run, tags, fv.plot, attention=attention):
            print(f"{prog}: taggram {written}", file=sys.stderr)
    if run.failures:
        print(f"{prog}: {len(run.failures)} of {len(run.failures) + len(run.results)} files failed",
              file=sys.stderr)
        return 1
    return 0


def run() -> None:
    """Stand-alone entry point: ``python -m musictag_tf.tag PATH... --model=...``."""
    from absl import app

    from musictag_tf.logs import show_flags_in_help

    define_flags()
    show_flags_in_help(__name__)
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
