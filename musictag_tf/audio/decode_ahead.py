"""Decode the next files in a background thread while the model runs on the current one.

``DecodeAhead(paths, open_blocks, max_blocks)`` runs ``open_blocks(path)`` (e.g.
``stream_audio``: decode, downmix, resample) for each path in order in ONE background thread and
hands the blocks to the consumer through a queue of at most ``max_blocks`` blocks, so memory stays
bounded (``max_blocks`` x ``StreamParams.block_seconds`` of audio, whatever the files' lengths)
while decoding overlaps the model: libsndfile (cffi), soxr and the TFLite interpreter release
the GIL while they work.

Iterating yields ``(path, blocks)`` in the order of ``paths``; ``blocks`` iterates that file's
blocks exactly as ``open_blocks(path)`` would, and raises the same exception object where
``open_blocks`` raised it (before the first block or after some), so per-file error isolation
is unchanged. A consumer may stop reading a file's blocks early (its model failed): the rest of
that file is skipped when the next file is asked for. ``close()`` (or leaving a ``with`` block)
stops the thread.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, Iterator, Optional, Sequence, Tuple

import numpy as np

_BLOCK, _END, _ERROR = "block", "end", "error"


class DecodeAhead:
    """Iterate ``(path, blocks iterator)`` over ``paths``, decoded ahead in a background thread.

    Args:
      paths: files, in the order they are consumed.
      open_blocks: path -> iterable of float32 [n] blocks (raises as the decoder does).
      max_blocks: queue capacity in blocks (>= 1): the bound on audio decoded ahead.
    """

    def __init__(self, paths: Sequence[str], open_blocks: Callable[[str], Iterable[np.ndarray]],
                 max_blocks: int):
        if max_blocks < 1:
            raise ValueError(f"max_blocks must be >= 1, got {max_blocks}")
        self.paths = list(paths)
        self._open = open_blocks
        self._queue: "queue.Queue[Tuple[str, object]]" = queue.Queue(maxsize=max_blocks)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._current_open = False  # the consumer's current file still has items in the queue

    # ------------------------------------------------------------------ producer (background)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        for path in self.paths:
            try:
                for block in self._open(path):
                    if not self._put((_BLOCK, block)):
                        return
            except BaseException as exc:  # handed to the consumer, raised in its file's context
                if not self._put((_ERROR, exc)):
                    return
                continue
            if not self._put((_END, None)):
                return

    # ------------------------------------------------------------------ consumer

    def __iter__(self) -> Iterator[Tuple[str, Iterator[np.ndarray]]]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._produce, name="decode-ahead", daemon=True)
            self._thread.start()
        try:
            for path in self.paths:
                self._skip_rest()
                self._current_open = True
                yield path, self._blocks()
            self._skip_rest()
        finally:
            self.close()

    def _blocks(self) -> Iterator[np.ndarray]:
        while self._current_open:
            kind, value = self._queue.get()
            if kind == _BLOCK:
                yield value
                continue
            self._current_open = False
            if kind == _ERROR:
                raise value
            return

    def _skip_rest(self) -> None:
        """Drop what is left of the current file (its consumer stopped early)."""
        while self._current_open:
            kind, _ = self._queue.get()
            if kind != _BLOCK:
                self._current_open = False

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
