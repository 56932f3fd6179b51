"""CLI: generate the synthetic tagged dataset in the MTAT layout.

  python -m tfrecords_builder.synthetic --out_dir=/tmp/synth --num_clips=480 --seed=1234

Then build records from it exactly as from MTAT (annotations_final.csv + mp3 folders, with
lyrics.tsv and emotion.tsv beside them).
"""

from __future__ import annotations

import sys

from absl import app, flags

from musictag_tf.errors import MusictagError
from musictag_tf.params import AudioParams, ConfigError, SyntheticParams

_DEFAULTS = SyntheticParams()
FLAGS = flags.FLAGS
flags.DEFINE_string("out_dir", None, "Directory to write annotations_final.csv, mp3 folders 0-f, "
                    "lyrics.tsv, lyrics/, emotion.tsv, tags.txt and truth.jsonl into.")
flags.DEFINE_integer("num_clips", _DEFAULTS.num_clips, "Number of clips (clip ids 1..N).")
flags.DEFINE_float("clip_seconds", _DEFAULTS.clip_seconds, "Length of every clip, seconds.")
flags.DEFINE_integer("seed", _DEFAULTS.seed, "Dataset seed; the same seed gives the same dataset.")
flags.DEFINE_float("lyrics_fraction", _DEFAULTS.lyrics_fraction,
                   "Share of clips whose lyrics are available (independent of an audible voice).")
flags.DEFINE_float("chinese_fraction", _DEFAULTS.chinese_fraction,
                   "Share of the lyric clips whose lyrics are Chinese; the rest are English.")
flags.DEFINE_float("label_noise", _DEFAULTS.label_noise,
                   "Share of positive tag labels dropped from the annotations (weak labels).")
flags.DEFINE_float("evaluation_share", _DEFAULTS.evaluation_share,
                   "Share of clips in the valid (c) + test (d-f) folders, 1:3; 0.25 = MTAT's split.")
flags.DEFINE_integer("sample_rate", AudioParams().sample_rate, "Sample rate of the mp3s, Hz.")
flags.DEFINE_integer("workers", 0, "Processes rendering audio; 0 = all cores, 1 = no pool.")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flags.mark_flag_as_required("out_dir")


def main(argv):
    del argv
    from tfrecords_builder.synthetic.dataset import generate_dataset

    try:
        params = SyntheticParams(num_clips=FLAGS.num_clips, clip_seconds=FLAGS.clip_seconds,
                                 lyrics_fraction=FLAGS.lyrics_fraction, seed=FLAGS.seed,
                                 chinese_fraction=FLAGS.chinese_fraction, label_noise=FLAGS.label_noise,
                                 evaluation_share=FLAGS.evaluation_share)
        result = generate_dataset(FLAGS.out_dir, params, workers=FLAGS.workers,
                                  progress=FLAGS.progress, sample_rate=FLAGS.sample_rate)
    except (ConfigError, MusictagError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{result.num_clips} clips ({result.num_with_lyrics} with lyrics; train/valid/test "
          f"{result.num_train}/{result.num_valid}/{result.num_test}; {result.num_rendered} rendered, "
          f"{result.num_reused} reused) in {result.seconds:.1f} s "
          f"({result.num_rendered / max(result.seconds, 1e-9):.1f} clips/s) -> {result.out_dir}")
    return 0


def run():
    app.run(main)


if __name__ == "__main__":
    run()
