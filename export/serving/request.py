"""Write a TF Serving REST request body for an audio file.

    python -m export.serving.request song.mp3 [--lyrics=song.txt] [--sample_rate=16000] \\
        [--output=body.json]
    curl -s -X POST -H 'Content-Type: application/json' -d @body.json \\
        http://localhost:8501/v1/models/musictag:predict

The audio is decoded to mono at ``--sample_rate`` (the model's AudioParams.sample_rate) with
musictag's decoder; with ``--lyrics`` the body targets ``tag_lyrics_text`` (raw text, tokenized by
the server), otherwise ``tag_audio``.
"""

from __future__ import annotations

import json
import sys

from absl import app, flags

from export import serving

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("lyrics", None, "Lyrics text file (UTF-8) sent as raw text.")
    flags.DEFINE_integer("sample_rate", 16000, "The model's sample rate, Hz.")
    flags.DEFINE_string("output", "-", "Where to write the JSON body ('-' = stdout).")
    flags.DEFINE_integer("digits", 5, "Decimals kept per sample (5 keeps 16-bit audio exact to 1/3 LSB).")


def main(argv):
    from musictag_tf.audio.io import load_audio
    from musictag_tf.errors import MusictagError
    from musictag_tf.lyrics.encode import read_lyrics_file

    if len(argv) != 2:
        raise app.UsageError("give exactly one audio file")
    try:
        waveform = load_audio(argv[1], FLAGS.sample_rate)
        lyrics = [read_lyrics_file(FLAGS.lyrics)] if FLAGS.lyrics else None
    except MusictagError as exc:
        print(f"export.serving.request: error: {exc}", file=sys.stderr)
        return 2
    body = serving.request_body([waveform], lyrics=lyrics, digits=FLAGS.digits)
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    if FLAGS.output in ("-", ""):
        sys.stdout.write(text + "\n")
    else:
        with open(FLAGS.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    define_flags()
    app.run(lambda argv: sys.exit(main(argv)))
