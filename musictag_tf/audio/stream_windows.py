"""Fixed-length windows cut from a stream of audio blocks, holding O(window + block) samples.

``WindowStream(blocks, window, hop, remainder)`` yields ``(start, window)`` pairs — start in
samples, window float32 [window] — the same windows ``split_windows`` cuts from the whole
waveform, without ever holding more than the current block plus one window of audio. The
clip's length (``num_samples``) is known once the stream is exhausted.

Which windows a clip of ``n`` samples has is the *rule* ``window_starts(n, window, hop,
remainder)``. While streaming, the windows at ``0, hop, 2 hop, ...`` that fit entirely are
emitted as soon as their samples arrive; when the stream ends (``n`` known) the rule is asked
for the full list and the windows not yet emitted (the end-aligned last window, or the single
zero-padded window of a clip shorter than one window) are cut from the retained tail.

The rule is the one shared by the tagger, evaluation and the exporter (``musictag_tf/windows.py``).
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Optional, Tuple

import numpy as np

from musictag_tf import windows as windows_lib

REMAINDER_RULES = windows_lib.REMAINDERS


def window_starts(num_samples: int, window: int, hop: int, remainder: str = "end_aligned") -> np.ndarray:
    """Start samples of the windows of a clip: int64 [windows], increasing.

    The shared rule of ``musictag_tf.windows`` (the tagger's, evaluation's and the SavedModel's),
    called with plain numbers: ``"end_aligned"`` adds one last window ending at the clip's end,
    ``"drop"`` drops the remainder; a clip shorter than one window has the single window at 0.
    """
    if remainder not in REMAINDER_RULES:
        raise ValueError(f"remainder must be one of {REMAINDER_RULES}, got {remainder!r}")
    return windows_lib.window_starts(num_samples, windows_lib.WindowParams(window, hop, remainder))


# The rule in use: (num_samples, window, hop, remainder) -> int64 [windows] increasing starts.
WINDOW_RULE: Callable[[int, int, int, str], np.ndarray] = window_starts


class WindowStream:
    """Iterate ``(start, window)`` over the windows of a clip given as blocks.

    Args:
      blocks: iterable of float [n] arrays (e.g. ``stream_audio(path)``), consumed once.
      window, hop: window length and hop, samples.
      remainder: ``"end_aligned"`` or ``"drop"`` (see ``window_starts``).

    Yields:
      (start int, float32 [window]) in increasing start order. Each window is a fresh array.

    Attributes:
      num_samples: the clip length in samples, once iteration has finished (else None).
      num_windows: windows yielded so far.
      max_buffered: the largest number of samples held at once (for tests of boundedness).
    """

    def __init__(self, blocks: Iterable[np.ndarray], window: int, hop: int, remainder: str = "end_aligned"):
        if window <= 0 or hop <= 0:
            raise ValueError(f"window and hop must be positive, got {window}, {hop}")
        if remainder not in REMAINDER_RULES:
            raise ValueError(f"remainder must be one of {REMAINDER_RULES}, got {remainder!r}")
        self._blocks = blocks
        self.window = int(window)
        self.hop = int(hop)
        self.remainder = remainder
        self.num_samples: Optional[int] = None
        self.num_windows = 0
        self.max_buffered = 0

    def __iter__(self) -> Iterator[Tuple[int, np.ndarray]]:
        window, hop = self.window, self.hop
        buffer = np.zeros([0], np.float32)
        offset = 0  # stream position of buffer[0]
        total = 0  # samples received
        next_start = 0  # next regular start (k * hop) not yet emitted
        last_emitted = -1  # start of the last window yielded
        for block in self._blocks:
            block = np.asarray(block, np.float32).reshape(-1)
            if block.shape[0] == 0:
                continue
            buffer = np.concatenate([buffer, block])
            total += block.shape[0]
            self.max_buffered = max(self.max_buffered, buffer.shape[0])
            while next_start + window <= total:
                yield next_start, buffer[next_start - offset: next_start - offset + window].copy()
                last_emitted = next_start
                self.num_windows += 1
                next_start += hop
            # Keep what a later window may need: from the next regular start, and the last
            # `window` samples (the end-aligned window starts at total - window at the earliest).
            keep_from = min(next_start, max(total - window, 0))
            if keep_from > offset:
                buffer = buffer[keep_from - offset:]
                offset = keep_from
        self.num_samples = total
        starts = WINDOW_RULE(total, window, hop, self.remainder)
        streamed = self.num_windows
        if not np.array_equal(starts[:streamed], np.arange(streamed, dtype=np.int64) * hop) or (
                streamed < len(starts) and starts[streamed] <= last_emitted):
            raise ValueError(f"window rule {self.remainder!r} does not start with the regular windows "
                             f"0, hop, 2 hop, ... the stream emitted ({streamed} of them, hop {hop})")
        for start in starts[streamed:]:
            start = int(start)
            if start < offset:
                raise AssertionError(f"window at {start} needs samples already released (kept from {offset})")
            piece = buffer[start - offset: start - offset + window]
            if piece.shape[0] < window:
                piece = np.pad(piece, (0, window - piece.shape[0]))
            yield start, np.array(piece, np.float32)
            self.num_windows += 1
