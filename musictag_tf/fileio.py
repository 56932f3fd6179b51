"""The one atomic writer and the small file readers every layer shares (core).

``write_atomic`` writes a whole file under ``<path>.tmp-<pid>`` and renames it into place, so a
reader (TF Serving polling a model directory, a resumed job, the builder's cleanup of
``*.tmp-<pid>`` leftovers) never sees half a file. Local paths use ``os.replace``; URLs
(``gs://...``) go through ``tf.io.gfile``, imported only then so that processes that never
touch TensorFlow (the synthetic generator's workers) do not pay for loading it.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Iterator, List, Union


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


def resolve_under(root: str, relative: str, allow_outside: bool = False) -> str:
    """``relative`` (a path a table names) joined to ``root``, refused when it leaves ``root``.

    Refused unless ``allow_outside``: an absolute path, a URL (when the table did not live under
    that URL scheme's root), a ``..`` escape, and (local roots) a symlink whose target lies
    outside ``root``. Raises errors.DatasetError(relative, reason). Returns the joined path
    (normalised; symlinks inside the root are kept as named).
    """
    from musictag_tf.errors import DatasetError

    relative = relative.strip()
    if allow_outside:
        return join_path(root, relative)
    if is_url(relative):
        raise DatasetError(relative, f"is a URL; only files under {root} are read "
                                     "(--allow_outside_root to allow)")
    if relative.startswith(("/", "\\")) or os.path.isabs(relative) or (len(relative) > 1 and relative[1] == ":"):
        raise DatasetError(relative, f"is an absolute path; only files under {root} are read "
                                     "(--allow_outside_root to allow)")
    parts = relative.replace("\\", "/").split("/")
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else (0 if part in ("", ".") else 1)
        if depth < 0:
            raise DatasetError(relative, f"leaves {root} ('..'); only files under it are read "
                                         "(--allow_outside_root to allow)")
    joined = join_path(root, relative)
    if not is_url(root):
        real_root = os.path.realpath(root)
        real = os.path.realpath(joined)
        if os.path.commonpath([real_root, real]) != real_root:
            raise DatasetError(relative, f"is a symlink to {real}, outside {root}; only files under it "
                                         "are read (--allow_outside_root to allow)")
    return joined


def folder_of(path: str) -> str:
    """The folder holding ``path`` (local or URL)."""
    return os.path.dirname(path) if not is_url(path) else path.rsplit("/", 1)[0]


def write_atomic(path: Union[str, os.PathLike], data: Union[str, bytes]) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically; creates the parent folder."""
    path = os.fspath(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if is_url(path):
        import tensorflow as tf
        tmp = f"{path}.tmp-{os.getpid()}"
        with tf.io.gfile.GFile(tmp, "wb") as f:
            f.write(payload)
        tf.io.gfile.rename(tmp, path, overwrite=True)
        return
    with atomic_path(path, keep_extension=False) as tmp:
        with open(tmp, "wb") as f:
            f.write(payload)


@contextlib.contextmanager
def atomic_path(path: Union[str, os.PathLike], keep_extension: bool = True) -> Iterator[str]:
    """Yield a temporary sibling ``<stem>.tmp-<pid><ext>`` (``<path>.tmp-<pid>`` without
    ``keep_extension``: the name the builder's leftover cleanup knows) to write to; renamed onto
    ``path`` on success.

    For writers that want a file name (Keras ``model.save`` wants the ``.keras`` suffix, matplotlib
    ``savefig`` the ``.png``): on any exception the temporary file is removed and ``path`` keeps its
    previous content. Local paths only (the parent folder is created).
    """
    path = os.fspath(path)
    stem, ext = os.path.splitext(path)
    if not keep_extension:
        ext = ""
    tmp = f"{stem}.tmp-{os.getpid()}{ext}" if ext else f"{path}.tmp-{os.getpid()}"
    if len(os.fsencode(os.path.basename(tmp))) > 255:  # a name near NAME_MAX: a short sibling instead
        tmp = os.path.join(os.path.dirname(path), f".musictag.tmp-{os.getpid()}{ext[:32]}")
    if is_url(path):
        yield path  # object stores replace a whole object on close; no rename there
        return
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def open_atomic(path: Union[str, os.PathLike], mode: str = "w", **kwargs) -> Iterator[Any]:
    """``open`` a temporary sibling of ``path`` (text mode: UTF-8, ``newline=""`` unless given);
    renamed onto ``path`` when the block ends without an exception, removed otherwise."""
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
        kwargs.setdefault("newline", "")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def check_output_file(path: Union[str, os.PathLike]) -> str:
    """Check ``path`` can be written before the work starts; returns it. Raises OutputError.

    The path must not be a directory; its folder must exist or be creatable and be writable.
    """
    from musictag_tf.errors import OutputError

    path = os.fspath(path)
    if is_url(path):
        return path
    if os.path.isdir(path):
        raise OutputError(path, "is a directory; give a file name")
    check_output_dir(os.path.dirname(os.path.abspath(path)))
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise OutputError(path, "exists and is not writable")
    return path


def _probe_writable(path: str) -> None:
    """Create and remove a file in directory ``path`` (``os.access`` says yes to root everywhere)."""
    from musictag_tf.errors import OutputError

    probe = os.path.join(path, f".musictag-probe.tmp-{os.getpid()}")
    try:
        with open(probe, "wb"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise OutputError(path, f"directory is not writable ({exc.strerror or exc})") from exc


def check_output_dir(path: Union[str, os.PathLike], create: bool = True) -> str:
    """Check (and by default create) an output directory before the work starts. Raises OutputError."""
    from musictag_tf.errors import OutputError

    path = os.fspath(path)
    if is_url(path):
        return path
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputError(path, "exists and is not a directory")
    if not os.path.exists(path):
        if not create:
            raise OutputError(path, "directory does not exist")
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise OutputError(path, f"cannot create the directory ({exc.strerror or exc})") from exc
    _probe_writable(path)
    return path


def is_nonempty_file(path: Union[str, os.PathLike]) -> bool:
    """True for an existing file with at least one byte (a kill mid-write can leave a 0-byte file)."""
    path = os.fspath(path)
    if is_url(path):
        import tensorflow as tf
        return tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path) and tf.io.gfile.stat(path).length > 0
    return os.path.isfile(path) and os.path.getsize(path) > 0


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


def save_figure(fig, path: Union[str, os.PathLike], dpi: int = 100) -> None:
    """Lay out a matplotlib figure, write it to ``path`` atomically (``atomic_path``) and close it,
    also when writing fails (so a failed plot does not leak the figure)."""
    import matplotlib.pyplot as plt

    try:
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
