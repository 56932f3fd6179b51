"""The one atomic writer and the small file readers every layer shares (core).

``write_atomic`` writes a whole file under ``<path>.tmp-<pid>`` and renames it into place, so a
reader (TF Serving polling a model directory, a resumed job, the builder's cleanup of
``*.tmp-<pid>`` leftovers) never sees half a file. Local paths use ``os.replace``; URLs
(``gs://...``) go through ``tf.io.gfile``, imported only then so that processes that never
touch TensorFlow (the synthetic generator's workers) do not pay for loading it.
"""

from __future__ import annotations

import json
import os
from typing import Any, List, Union


def is_url(path: str) -> bool:
    """True for ``scheme://...`` paths (gs://, s3://), read and written through tf.io.gfile."""
    return "://" in path





def join_path(root: str, relative: str) -> str:
    """``relative`` under ``root`` unless it is already absolute or a URL."""
    if is_url(relative) or os.path.isabs(relative):
        return relative
    if is_url(root):
        return root.rstrip("/") + "/" + relative.lstrip("/")
    return os.path.normpath(os.path.join(root, relative))


def folder_of(path: str) -> str:
    """The folder holding ``path`` (local or URL)."""
    return os.path.dirname(path) if not is_url(path) else path.rsplit("/", 1)[0]


def write_atomic(path: Union[str, os.PathLike], data: Union[str, bytes]) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically; creates the parent folder."""
    path = os.fspath(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    tmp = f"{path}.tmp-{os.getpid()}"
    if is_url(path):
        import tensorflow as tf
        with tf.io.gfile.GFile(tmp, "wb") as f:
            f.write(payload)
        tf.io.gfile.rename(tmp, path, overwrite=True)
        return
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    try:
        with open(tmp, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json_atomic(path: Union[str, os.PathLike], value: Any, **kwargs) -> None:
    """``json.dumps(value, indent=2, **kwargs)`` written with ``write_atomic``."""
    kwargs.setdefault("indent", 2)
    write_atomic(path, json.dumps(value, **kwargs))


def read_text(path: Union[str, os.PathLike]) -> str:
    path = os.fspath(path)
    if is_url(path):
        import tensorflow as tf
        with tf.io.gfile.GFile(path, "r") as f:
            return f.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def read_lines(path: Union[str, os.PathLike]) -> List[str]:
    """Non-empty lines of a text file, without their newline (tags.txt, vocab.txt)."""
    return [line.rstrip("\r\n") for line in read_text(path).splitlines(keepends=True) if line.strip()]
