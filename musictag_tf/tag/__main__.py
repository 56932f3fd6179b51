"""``python -m musictag_tf.tag PATH... --model=...`` (the same as ``musictag tag``)."""

from musictag_tf.tag.cli import run

if __name__ == "__main__":
    run()
