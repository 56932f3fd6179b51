"""THE windowing rule for audio longer than a model's input: one module, three callers.

Evaluation (``musictag_tf.data.pipeline``), the Keras / TFLite tagger (``musictag_tf.tag``) and
the SavedModel's in-graph tagger (``export.serving_graph``) all cut clips with the functions
below, so the numbers evaluation reports are the numbers ``musictag tag`` gives.

A window covers ``window_samples`` samples of the clip starting at ``start``; with
``context_samples`` = c it *reads* ``window_samples + 2 c`` samples, from ``start - c`` to
``start + window_samples + c``, zeros outside the clip (for a model whose front end needs the
STFT's centring padding around every window, e.g. musicnn's 3 s patches with c = n_fft / 2).

Rules for the last window (``remainder``):

* ``"end_aligned"`` (musictag's own variants): starts ``0, hop, 2 hop, ...`` while a window fits,
  then one last window ending exactly at the clip's end, so no audio is left out and only the
  single window of a clip shorter than a window holds zero padding.
* ``"drop"`` (the original musicnn): starts ``0, hop, ...`` while a full window fits; the
  remainder that does not fill a window is dropped.

Both: a clip shorter than one window (or empty) has one window starting at 0, zero-padded.
``spread_starts`` is the other protocol, kept for comparisons with the MTAT literature only:
``k`` chunks spread evenly from the clip's start to its end.

Units: samples at the model's sample rate (16 kHz) throughout.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

import numpy as np
import tensorflow as tf

from musictag_tf.params import ConfigError

REMAINDERS = ("end_aligned", "drop")


@dataclasses.dataclass(frozen=True)
class WindowParams:
    """How a clip is cut into model windows (all in samples).

    window_samples: samples of the clip each window covers (the model's input, before context).
    hop_samples: samples between the starts of consecutive windows.
    remainder: "end_aligned" (last window ends at the clip's end) or "drop" (see module doc).
    context_samples: zero-padded samples read before and after each window's core.
    """

    window_samples: int
    hop_samples: int
    remainder: str = "end_aligned"
    context_samples: int = 0

    def __post_init__(self):
        if self.window_samples <= 0 or self.hop_samples <= 0:
            raise ConfigError(f"window_samples and hop_samples must be positive, got "
                              f"{self.window_samples}, {self.hop_samples}")
        if self.remainder not in REMAINDERS:
            raise ConfigError(f"remainder must be one of {REMAINDERS}, got {self.remainder!r}")
        if self.context_samples < 0:
            raise ConfigError(f"context_samples must be >= 0, got {self.context_samples}")

    @classmethod
    def for_chunk(cls, chunk_samples: int, hop_fraction: float) -> "WindowParams":
        """musictag's rule: windows of ``chunk_samples``, hop ``hop_fraction`` of it, end-aligned."""
        return cls(window_samples=int(chunk_samples),
                   hop_samples=max(1, int(round(chunk_samples * hop_fraction))))

    @property
    def read_samples(self) -> int:
        """Samples each window reads: window_samples + 2 * context_samples."""
        return self.window_samples + 2 * self.context_samples


def num_windows(num_samples: int, params: WindowParams) -> int:
    """Windows ``window_starts`` gives for a clip of ``num_samples`` samples (>= 1)."""
    beyond = int(num_samples) - params.window_samples
    if beyond <= 0:
        return 1
    if params.remainder == "drop":
        return beyond // params.hop_samples + 1
    return -(-beyond // params.hop_samples) + 1


def window_starts(num_samples: int, params: WindowParams) -> np.ndarray:
    """Start samples (of each window's core) covering a clip: int64 [windows]."""
    count = num_windows(num_samples, params)
    starts = np.arange(count, dtype=np.int64) * params.hop_samples
    return np.minimum(starts, max(0, int(num_samples) - params.window_samples))


def split_windows(waveform: np.ndarray, params: WindowParams) -> Tuple[np.ndarray, np.ndarray]:
    """float32 [samples] -> (windows float32 [n, read_samples], starts int64 [n] samples).

    Window i is ``waveform[starts[i] - context : starts[i] + window + context]``, zeros outside.
    """
    waveform = np.asarray(waveform, np.float32).reshape(-1)
    starts = window_starts(waveform.shape[0], params)
    c = params.context_samples
    need = int(starts[-1]) + params.window_samples + c  # last sample read, exclusive (before shift)
    padded = np.pad(waveform, (c, max(0, need - waveform.shape[0])))
    return np.stack([padded[s: s + params.read_samples] for s in starts]), starts


def window_layout_tf(num_samples: tf.Tensor, params: WindowParams) -> Tuple[tf.Tensor, tf.Tensor]:
    """``window_starts`` for a batch, in-graph (core TF ops only; no loops).

    Args:
      num_samples: int [batch], each clip's length in samples.
    Returns:
      (starts int32 [batch, windows], valid bool [batch, windows]); ``windows`` is the largest
      count in the batch, rows with fewer windows are padded with invalid entries.
    """
    num_samples = tf.cast(num_samples, tf.int32)
    hop = params.hop_samples
    beyond = tf.maximum(num_samples - params.window_samples, 0)
    if params.remainder == "drop":
        count = beyond // hop + 1
    else:
        count = (beyond + hop - 1) // hop + 1  # [batch]; 1 when the clip fits one window
    index = tf.range(tf.reduce_max(count))
    starts = tf.minimum(index[None, :] * hop, beyond[:, None])
    return starts, index[None, :] < count[:, None]


def gather_windows_tf(waveform: tf.Tensor, starts: tf.Tensor, params: WindowParams) -> tf.Tensor:
    """Cut windows out of one clip in-graph.

    Args:
      waveform: float32 [samples].
      starts: int [n] window starts (from ``window_layout_tf`` or ``window_starts``).
    Returns:
      float32 [n, read_samples], zeros outside the clip (as ``split_windows``).
    """
    c = params.context_samples
    starts = tf.cast(starts, tf.int32)
    need = tf.reduce_max(starts) + params.window_samples + c
    padded = tf.pad(waveform, [[c, tf.maximum(0, need - tf.shape(waveform)[0])]])
    index = starts[:, None] + tf.range(params.read_samples)[None, :]
    return tf.gather(padded, index)


def clip_windows_tf(waveform: tf.Tensor, params: WindowParams) -> Tuple[tf.Tensor, tf.Tensor]:
    """float32 [samples] -> (windows float32 [n, read_samples], starts int32 [n]): one clip in-graph."""
    starts, _ = window_layout_tf(tf.shape(waveform)[:1], params)
    starts = starts[0]
    return gather_windows_tf(waveform, starts, params), starts


# ----------------------------------------------------------------------------- literature protocol

def spread_starts(num_samples: int, window_samples: int, max_chunks: int) -> np.ndarray:
    """The MTAT literature's evaluation chunks: int64 [k] starts spread evenly over the clip.

    k = min(max_chunks, ceil((n - w) / (w/2)) + 1); the first starts at 0, the last ends at the
    clip's end. Only for comparisons with published numbers: the product uses ``window_starts``.
    """
    hop = max(1, window_samples // 2)
    extra = max(0, int(num_samples) - window_samples)
    k = min(int(max_chunks), -(-extra // hop) + 1)
    return (np.arange(k, dtype=np.int64) * extra) // max(k - 1, 1)


def spread_starts_tf(num_samples: tf.Tensor, window_samples: int, max_chunks: int) -> tf.Tensor:
    """``spread_starts`` for one clip in-graph: int32 [k]."""
    hop = max(1, window_samples // 2)
    extra = tf.maximum(0, tf.cast(num_samples, tf.int32) - window_samples)
    k = tf.minimum(max_chunks, (extra + hop - 1) // hop + 1)
    return (tf.range(k) * extra) // tf.maximum(k - 1, 1)


def mean_over_windows(per_window):
    """head -> float [windows, classes] -> head -> float32 [classes]: a clip's scores (mean, float64 sum)."""
    return {name: np.asarray(v, np.float64).mean(axis=0).astype(np.float32) for name, v in per_window.items()}
