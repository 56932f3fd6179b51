"""``musictag tag --attention``: where cnn_sam listened, per window, in seconds of the file.

For a cnn_sam training run (``--model=<model_dir>``) or its export (``--model=<export
dir>/saved_model`` or a ``.tflite`` file), each tagged file (or clip, with ``--clip_seconds``)
is decoded again, cut into the tagger's windows and run through
``musictag_tf.model.attention.attention_model`` (run), the SavedModel's ``tag_windows``
signature or the TFLite window model, whose attention outputs are the same numbers
(export/serving_graph.py, export/tflite.py); its JSON object gains::

    "attention": {"window_start_seconds": [...],
                  "segment_start_seconds": [[s, ...] per window],   # used segments only, s of the file
                  "segment_end_seconds":   [[e, ...] per window],
                  "weights": [[[w, ...] per segment] x r rows] per window}

and ``--plot`` draws, under the taggram, the attention (mean of the r rows, per segment, as a
step curve over the file's seconds; overlapping windows are averaged where they overlap).
A cnn_sam TFLite window model has the same three outputs per window (export/tflite.py), used
likewise. ``AttentionError`` (one line) for models without self-attention (audio_vgg, the
shipped musicnn models) and for exports written before these outputs existed.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from musictag_tf import artifacts
from musictag_tf import windows as windows_lib
from musictag_tf.audio import io as audio_io
from musictag_tf.audio.clips import read_span, split_clip_key
from musictag_tf.errors import ModelLoadError
from musictag_tf.params import TagParams
from musictag_tf.tag.tagger import TagRun


class AttentionError(ModelLoadError):
    """--attention with a model that cannot show attention."""


class AttentionExplainer:
    """A cnn_sam training run's attention over segments, per window (module docstring)."""

    def __init__(self, model_dir: str, hop_samples: Optional[int] = None):
        from musictag_tf import runs
        from musictag_tf.model.attention import attention_model
        from musictag_tf.params import ConfigError

        if not runs.is_run_dir(model_dir):
            raise AttentionError(model_dir, "--attention needs a cnn_sam training run directory or its "
                                            "SavedModel export")
        source = runs.load_model_source(model_dir)
        try:
            self.model = attention_model(source.keras_model, source.spec)
        except ConfigError as exc:
            raise AttentionError(model_dir, f"--attention: {exc.reason}") from exc
        self.max_tokens = source.spec.lyrics.max_tokens
        chunk = source.spec.chunk_samples
        self.window_params = windows_lib.WindowParams(chunk, hop_samples or TagParams().hop_samples(chunk))
        self.sample_rate = source.spec.audio.sample_rate

    def window_attention(self, windows: np.ndarray):
        """float32 [n, chunk] -> (weights [n, r, K], segment start s [n, K], end s [n, K]) within
        each window, -1 for unused slots (musictag_tf.model.attention); no lyrics."""
        ids = np.zeros([len(windows), self.max_tokens], np.int32)
        out = self.model({"waveform": windows, "lyrics_ids": ids}, training=False)
        return (out["attention_weights"].numpy(), out["segment_start_seconds"].numpy(),
                out["segment_end_seconds"].numpy())

    def _from_export(self, tagger, hop_samples: Optional[int], output_names, kind: str) -> None:
        """Windows, rate and token count from an export's tagger; AttentionError when the export
        (``kind``, for the message) lacks the attention outputs."""
        if not set(artifacts.ATTENTION_OUTPUTS.values()) <= set(output_names):
            raise AttentionError(tagger.info.path, f"--attention: this {kind} has no attention outputs "
                                                   "(cnn_sam only, exported by this version of musictag-export)")
        self.max_tokens = tagger.info.max_tokens
        self.window_params = tagger.window_params(hop_samples)
        self.sample_rate = tagger.info.sample_rate

    def explain(self, waveform: np.ndarray, offset_seconds: float = 0.0) -> dict:
        """float32 [samples] -> the "attention" JSON object (seconds from ``offset_seconds``)."""
        windows, starts = windows_lib.split_windows(waveform, self.window_params)
        weights, seg_start, seg_end = self.window_attention(windows)
        window_start = starts / self.sample_rate + offset_seconds
        entry = {"window_start_seconds": [round(float(s), 3) for s in window_start],
                 "segment_start_seconds": [], "segment_end_seconds": [], "weights": []}
        for i, w0 in enumerate(window_start):
            used = seg_start[i] >= 0
            entry["segment_start_seconds"].append([round(float(w0 + s), 3) for s in seg_start[i][used]])
            entry["segment_end_seconds"].append([round(float(w0 + e), 3) for e in seg_end[i][used]])
            entry["weights"].append([[round(float(v), 5) for v in row[used]] for row in weights[i]])
        return entry

    def explain_clip(self, path: str, duration_seconds: float) -> dict:
        """Decode a tagged file, or the clip ``<path>#<start>`` of ``duration_seconds``, and explain it."""
        base, start = split_clip_key(path)
        if start is None:
            return self.explain(audio_io.load_audio(path, self.sample_rate))
        return self.explain(read_span(base, start, duration_seconds, self.sample_rate), start)


class SavedModelAttentionExplainer(AttentionExplainer):
    """The same attention from an exported cnn_sam SavedModel's ``tag_windows`` signature.

    Args:
      tagger: a musictag_tf.tag.backends.SavedModelTagger.
      hop_samples: window hop (None: the export's).
    """

    def __init__(self, tagger, hop_samples: Optional[int] = None):
        self._from_export(tagger, hop_samples, tagger.windows_fn.structured_outputs, "SavedModel")
        self.windows_fn = tagger.windows_fn
        self.window_batch = TagParams().window_batch

    def window_attention(self, windows: np.ndarray):
        parts = []
        for begin in range(0, len(windows), self.window_batch):
            batch = windows[begin: begin + self.window_batch]
            out = self.windows_fn(waveform=tf.constant(batch, tf.float32),
                                  lyrics_ids=tf.zeros([len(batch), self.max_tokens], tf.int32))
            parts.append([out[key].numpy() for key in artifacts.ATTENTION_OUTPUTS.values()])
        return tuple(np.concatenate(values) for values in zip(*parts))


class TFLiteAttentionExplainer(AttentionExplainer):
    """The same attention from a cnn_sam TFLite window model's extra outputs (export.tflite).

    Args:
      tagger: a musictag_tf.tag.backends.TFLiteTagger.
      hop_samples: window hop (None: the export's).
    """

    def __init__(self, tagger, hop_samples: Optional[int] = None):
        self._from_export(tagger, hop_samples, tagger.runner.output_names, "TFLite model")
        self.runner = tagger.runner

    def window_attention(self, windows: np.ndarray):
        out = self.runner(windows, np.zeros([len(windows), self.max_tokens], np.int32))
        return tuple(out[key] for key in artifacts.ATTENTION_OUTPUTS.values())


def load_explainer(model: str, tagger, hop_samples: Optional[int] = None) -> AttentionExplainer:
    """The explainer for ``--model``: the SavedModel's or TFLite model's own outputs, else a training run."""
    kind = getattr(tagger.info, "kind", "")
    if kind == "saved_model":
        return SavedModelAttentionExplainer(tagger, hop_samples)
    if kind == "tflite":
        return TFLiteAttentionExplainer(tagger, hop_samples)
    return AttentionExplainer(model, hop_samples)


def explain_run(run: TagRun, explainer: AttentionExplainer) -> Dict[str, dict]:
    """path -> "attention" object for every tagged file or clip of ``run``."""
    return {clip.path: explainer.explain_clip(clip.path, clip.duration_seconds) for clip in run.results}


def attention_curve(attention: dict, step_seconds: float = 0.05):
    """(times s [n], weight [n]): mean of the r rows per segment, averaged over overlapping windows."""
    ends = [e for row in attention["segment_end_seconds"] for e in row]
    starts = [s for row in attention["segment_start_seconds"] for s in row]
    if not ends:
        return np.zeros(0), np.zeros(0)
    times = np.arange(min(starts), max(ends), step_seconds)
    total, count = np.zeros_like(times), np.zeros_like(times)
    for seg_s, seg_e, rows in zip(attention["segment_start_seconds"], attention["segment_end_seconds"],
                                  attention["weights"]):
        mean = np.mean(np.asarray(rows, np.float64), axis=0) if rows else []
        for s, e, w in zip(seg_s, seg_e, mean):
            inside = (times >= s) & (times < e)
            total[inside] += w
            count[inside] += 1
    return times, np.where(count > 0, total / np.maximum(count, 1), 0.0)


def with_attention(entries: List[dict], attention: Dict[str, dict]) -> List[dict]:
    """JSON entries (tag.outputs.clip_json) with their "attention" object added."""
    for entry in entries:
        if entry.get("path") in attention:
            entry["attention"] = attention[entry["path"]]
    return entries
