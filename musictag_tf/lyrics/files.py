"""Reading the lyrics package's files (lyrics, vocabularies, TF-IDF models) with clear errors."""

from __future__ import annotations

import tensorflow as tf

from musictag_tf.errors import LyricsError


def read_bytes(path: str, what: str) -> bytes:
    """The whole file through tf.io.gfile (local or gs://); LyricsError names the file and ``what``."""
    path = str(path)
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    except tf.errors.NotFoundError as exc:
        raise LyricsError(path, f"{what} file not found") from exc
    except tf.errors.OpError as exc:
        raise LyricsError(path, f"cannot read {what}: {exc.message}") from exc
