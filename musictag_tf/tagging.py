"""``musictag tag``: tag audio files of any length with an exported (or trained) model.

    musictag tag song.mp3 music/ --model=exports/cnn_sam/saved_model [--top_k=5]
        [--format=json|csv] [--output=tags.json] [--lyrics=lyrics.txt|lyrics_dir/] [--plot=pngs/]

Models: a SavedModel (a version directory, or a TF Serving base directory: the highest numeric
version is used), a ``.tflite`` file written by ``musictag-export`` (with its sibling
``musictag.json``, ``tags.txt``, ``vocab.txt``), or a training run's model_dir
(``spec.json`` + ``best.keras``).

Windows: a clip of ``num_samples`` samples is cut into windows of the model's ``chunk_samples``
(ModelParams.chunk_seconds) starting every ``hop`` samples (half a window by default); the last
window ends exactly at the clip's end (as the evaluation chunks do, musictag_tf.data.pipeline), so
no window but the single window of a clip shorter than ``chunk_samples`` holds zero padding.
A clip's scores are the mean of its windows' probabilities; the per-window probabilities
``[windows, tags]`` are its taggram. The SavedModel does the same windowing in-graph
(``window_layout_tf``), the TFLite and Keras paths in Python (``window_starts``).

Outputs: JSON (default): a list with one object per file::

    {"path": ..., "duration_seconds": 29.1, "scores": {tag: p, ...},
     "top_tags": [{"tag": ..., "score": p}, ...],
     "quadrant": {"name": "exuberance", "probability": p, "probabilities": {...}},   # emotion models
     "energy": {"low": p, "high": p}, "stress": {...},                                 # when present
     "taggram": {"window_start_seconds": [...], "window_seconds": 8.0, "scores": [[p, ...], ...]}}

and ``{"path": ..., "error": ...}`` for a file that could not be tagged. CSV: ``path`` and one
column per tag (the format musictag_tf.score_predictions reads; top tags and the quadrant are
JSON-only). Both formats can be scored against MTAT ground truth.

Errors: a file that cannot be decoded, is silent or too short, or whose lyrics file cannot be
read gets one line on stderr naming the file and the reason; the other files are still tagged
and the exit status is 1.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import sys
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from musictag_tf.data import schema
from musictag_tf.errors import AudioDecodeError, LyricsError, MusictagError

AUDIO_EXTENSIONS = (".mp3", ".wav", ".ogg", ".oga", ".flac", ".aiff", ".aif", ".au", ".opus")
EXPORT_METADATA = ("assets.extra", "musictag.json")  # inside a SavedModel version directory
TFLITE_METADATA = "musictag.json"  # beside the .tflite files
TAGS_FILE = "tags.txt"
VOCAB_FILE = "vocab.txt"
# Signature output key of each head's clip probabilities in the exported SavedModel.
PROBABILITY_OUTPUTS = {"tags": "tag_probabilities", "energy": "energy_probabilities",
                       "stress": "stress_probabilities", "quadrant": "quadrant_probabilities"}
EMOTION_CLASS_NAMES = {"energy": schema.ENERGY_NAMES, "stress": schema.STRESS_NAMES,
                       "quadrant": schema.QUADRANT_NAMES}


class ModelLoadError(MusictagError):
    """A --model path is not a SavedModel, .tflite export or training model_dir."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


# ----------------------------------------------------------------------------- windows

def window_starts(num_samples: int, window: int, hop: int) -> np.ndarray:
    """Start samples of the windows covering a clip: int64 [windows].

    ``[0, hop, 2 hop, ...]`` while a window fits, then one last window ending at the clip's end;
    a clip shorter than ``window`` (or empty) has the single window starting at 0 (zero-padded).
    ``window_layout_tf`` is the same rule in TensorFlow.
    """
    if window <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be positive, got {window}, {hop}")
    if num_samples <= window:
        return np.zeros([1], np.int64)
    count = -(-(num_samples - window) // hop) + 1
    return np.minimum(np.arange(count, dtype=np.int64) * hop, num_samples - window)


def window_layout_tf(num_samples: tf.Tensor, window: int, hop: int) -> Tuple[tf.Tensor, tf.Tensor]:
    """``window_starts`` for a batch in-graph.

    Args:
      num_samples: int32 [batch], each clip's length in samples.
    Returns:
      (starts int32 [batch, windows], valid bool [batch, windows]); ``windows`` is the largest
      count in the batch, rows with fewer windows are padded with invalid entries.
    """
    num_samples = tf.cast(num_samples, tf.int32)
    beyond = tf.maximum(num_samples - window, 0)
    count = (beyond + hop - 1) // hop + 1  # [batch]; 1 when the clip fits one window
    index = tf.range(tf.reduce_max(count))
    starts = tf.minimum(index[None, :] * hop, beyond[:, None])
    return starts, index[None, :] < count[:, None]


def split_windows(waveform: np.ndarray, window: int, hop: int) -> Tuple[np.ndarray, np.ndarray]:
    """float32 [samples] -> (windows float32 [n, window] (zero-padded), starts int64 [n] samples)."""
    waveform = np.asarray(waveform, np.float32).reshape(-1)
    starts = window_starts(waveform.shape[0], window, hop)
    if waveform.shape[0] < window:
        waveform = np.pad(waveform, (0, window - waveform.shape[0]))
    return np.stack([waveform[s: s + window] for s in starts]), starts


# ----------------------------------------------------------------------------- results

@dataclasses.dataclass
class ClipTags:
    """One tagged file.

    probabilities: head -> float32 [classes], the mean over windows.
    taggram: float32 [windows, num_tags] per-window tag probabilities (empty without a tag head).
    window_start_seconds: float [windows].
    """

    path: str
    duration_seconds: float
    probabilities: Dict[str, np.ndarray]
    taggram: np.ndarray
    window_start_seconds: np.ndarray
    window_seconds: float
    warnings: List[str] = dataclasses.field(default_factory=list)

    def top_tags(self, tags: Sequence[str], k: int) -> List[Tuple[str, float]]:
        if "tags" not in self.probabilities:
            return []
        p = self.probabilities["tags"]
        order = np.argsort(-p, kind="stable")[:k]
        return [(tags[i], float(p[i])) for i in order]

    def quadrant(self) -> Optional[Tuple[str, float, np.ndarray]]:
        """(name, probability, probabilities [4]) of the Thayer quadrant, when the model has it."""
        q = quadrant_probabilities_np(self.probabilities)
        if q is None:
            return None
        index = int(np.argmax(q))
        return schema.QUADRANT_NAMES[index], float(q[index]), q


def quadrant_probabilities_np(probabilities: Dict[str, np.ndarray]) -> Optional[np.ndarray]:
    """Quadrant probabilities [..., 4]: the quadrant head, or energy x stress (2 * energy + stress)."""
    if "quadrant" in probabilities:
        return np.asarray(probabilities["quadrant"])
    if "energy" in probabilities and "stress" in probabilities:
        e, s = np.asarray(probabilities["energy"]), np.asarray(probabilities["stress"])
        return (e[..., :, None] * s[..., None, :]).reshape(e.shape[:-1] + (4,))
    return None


def aggregate_windows(per_window: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """head -> [windows, classes] -> head -> [classes], the mean over windows (float32)."""
    return {name: np.asarray(v, np.float64).mean(axis=0).astype(np.float32) for name, v in per_window.items()}


# ----------------------------------------------------------------------------- models

@dataclasses.dataclass
class ModelInfo:
    """What the tagger needs to know about a model, from its export metadata or spec.json."""

    kind: str  # "saved_model" | "tflite" | "keras"
    path: str
    tags: List[str]
    heads: Tuple[str, ...]
    sample_rate: int
    chunk_samples: int
    hop_samples: int
    max_tokens: int
    vocab_path: Optional[str]
    lyrics_params: dict


class Tagger:
    """Base: decode -> windows -> model -> aggregate. Subclasses implement ``run_windows`` or ``tag_waveform``."""

    info: ModelInfo

    def run_windows(self, windows: np.ndarray, lyrics_ids: np.ndarray) -> Dict[str, np.ndarray]:
        """float32 [n, chunk_samples], int32 [max_tokens] -> head -> float32 [n, classes]."""
        raise NotImplementedError

    def tag_waveform(self, waveform: np.ndarray, lyrics_ids: Optional[np.ndarray] = None,
                     hop_samples: Optional[int] = None
                     ) -> Tuple[Dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """float32 [samples] at info.sample_rate -> (probabilities, taggram [windows, tags], starts s)."""
        info = self.info
        ids = self._ids(lyrics_ids)
        windows, starts = split_windows(waveform, info.chunk_samples, hop_samples or info.hop_samples)
        per_window = self.run_windows(windows, ids)
        taggram = per_window.get("tags", np.zeros([len(starts), 0], np.float32))
        return aggregate_windows(per_window), np.asarray(taggram, np.float32), starts / info.sample_rate

    def _ids(self, lyrics_ids: Optional[np.ndarray]) -> np.ndarray:
        ids = np.zeros([self.info.max_tokens], np.int32)
        if lyrics_ids is not None:
            given = np.asarray(lyrics_ids, np.int32).reshape(-1)[: self.info.max_tokens]
            ids[: given.shape[0]] = given
        return ids


class SavedModelTagger(Tagger):
    """Calls the SavedModel's ``serving_default`` on the whole clip (windowing happens in-graph)."""

    def __init__(self, path: str):
        version_dir = resolve_saved_model_dir(path)
        meta = read_json(os.path.join(version_dir, *EXPORT_METADATA))
        assets = os.path.join(version_dir, "assets")
        vocab = os.path.join(assets, VOCAB_FILE)
        self.info = _info_from_metadata("saved_model", version_dir, meta,
                                        vocab if tf.io.gfile.exists(vocab) else None)
        self.loaded = tf.saved_model.load(version_dir)
        self.serve = self.loaded.signatures["serving_default"]
        self.windows_fn = self.loaded.signatures["tag_windows"]

    def tag_waveform(self, waveform, lyrics_ids=None, hop_samples=None):
        if hop_samples and hop_samples != self.info.hop_samples:
            return super().tag_waveform(waveform, lyrics_ids, hop_samples)
        out = self.serve(waveform=tf.constant(np.asarray(waveform, np.float32)[None]),
                         lyrics_ids=tf.constant(self._ids(lyrics_ids)[None]))
        probabilities = {head: out[PROBABILITY_OUTPUTS[head]].numpy()[0] for head in self.info.heads}
        count = int(out["num_windows"].numpy()[0])
        taggram = out["taggram"].numpy()[0, :count] if "taggram" in out else np.zeros([count, 0], np.float32)
        return probabilities, taggram, out["window_start_seconds"].numpy()[0, :count]

    def run_windows(self, windows, lyrics_ids):
        ids = np.repeat(lyrics_ids[None], windows.shape[0], axis=0)
        out = self.windows_fn(waveform=tf.constant(windows), lyrics_ids=tf.constant(ids))
        return {head: out[head].numpy() for head in self.info.heads}


class TFLiteTagger(Tagger):
    """Runs a fixed-shape TFLite window model ([1, chunk_samples], [1, max_tokens]) per window."""

    def __init__(self, path: str, num_threads: Optional[int] = None):
        from ai_edge_litert.interpreter import Interpreter

        meta_path = os.path.join(os.path.dirname(os.path.abspath(path)), TFLITE_METADATA)
        meta = read_json(meta_path)
        vocab = os.path.join(os.path.dirname(os.path.abspath(path)), VOCAB_FILE)
        self.info = _info_from_metadata("tflite", path, meta, vocab if os.path.exists(vocab) else None)
        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        except ValueError as exc:
            raise ModelLoadError(path, f"not a TFLite model: {exc}") from exc
        self.interpreter.allocate_tensors()
        self.runner = self.interpreter.get_signature_runner()
        self.output_names = {head: _tflite_output_name(self.runner, head) for head in self.info.heads}

    def run_windows(self, windows, lyrics_ids):
        outputs: Dict[str, list] = {head: [] for head in self.info.heads}
        ids = lyrics_ids[None].astype(np.int32)
        for window in windows:
            out = self.runner(waveform=window[None].astype(np.float32), lyrics_ids=ids)
            for head, name in self.output_names.items():
                outputs[head].append(out[name][0])
        return {head: np.stack(v).astype(np.float32) for head, v in outputs.items()}


def _tflite_output_name(runner, head: str) -> str:
    names = list(runner.get_output_details())
    for candidate in (head, f"{head}_probabilities"):
        if candidate in names:
            return candidate
    raise ModelLoadError("tflite", f"the TFLite model has no output for head {head!r} (outputs {names})")


class KerasTagger(Tagger):
    """A training run's ``best.keras`` (rebuilt in float32 with probability outputs)."""

    def __init__(self, model_dir: str, window_batch: int = 16):
        from export.saved_model import load_model_source  # lazy: export depends on this module

        source = load_model_source(model_dir)
        spec = source.spec
        self.model = source.model
        self.window_batch = window_batch
        self.info = ModelInfo(kind="keras", path=model_dir, tags=source.tags, heads=tuple(spec.model.heads),
                              sample_rate=spec.audio.sample_rate, chunk_samples=spec.chunk_samples,
                              hop_samples=max(1, spec.chunk_samples // 2), max_tokens=spec.lyrics.max_tokens,
                              vocab_path=source.vocab_path, lyrics_params=dataclasses.asdict(spec.lyrics))
        self._forward = tf.function(lambda w, i: self.model({"waveform": w, "lyrics_ids": i}, training=False),
                                    reduce_retracing=True)

    def run_windows(self, windows, lyrics_ids):
        outputs: Dict[str, list] = {head: [] for head in self.info.heads}
        for begin in range(0, windows.shape[0], self.window_batch):
            chunk = windows[begin: begin + self.window_batch]
            ids = np.repeat(lyrics_ids[None], chunk.shape[0], axis=0)
            out = self._forward(tf.constant(chunk), tf.constant(ids))
            for head in self.info.heads:
                outputs[head].append(out[head].numpy())
        return {head: np.concatenate(v).astype(np.float32) for head, v in outputs.items()}


def _info_from_metadata(kind: str, path: str, meta: dict, vocab_path: Optional[str]) -> ModelInfo:
    try:
        return ModelInfo(kind=kind, path=path, tags=list(meta["tags"]), heads=tuple(meta["heads"]),
                         sample_rate=int(meta["sample_rate"]), chunk_samples=int(meta["chunk_samples"]),
                         hop_samples=int(meta["hop_samples"]), max_tokens=int(meta["max_tokens"]),
                         vocab_path=vocab_path, lyrics_params=dict(meta["spec"]["lyrics"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(path, f"export metadata is incomplete ({exc!r}); re-export with musictag-export")


def read_json(path: str) -> dict:
    if not tf.io.gfile.exists(path):
        raise ModelLoadError(path, "missing; export the model with musictag-export")
    try:
        with tf.io.gfile.GFile(path) as f:
            return json.load(f)
    except ValueError as exc:
        raise ModelLoadError(path, f"not valid JSON: {exc}") from exc


def resolve_saved_model_dir(path: str) -> str:
    """A SavedModel version directory from itself or from a TF Serving base directory (highest version)."""
    path = os.fspath(path)
    if tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        return path
    versions = []
    if tf.io.gfile.isdir(path):
        versions = sorted(int(n.rstrip("/")) for n in tf.io.gfile.listdir(path) if n.rstrip("/").isdigit()
                          and tf.io.gfile.exists(os.path.join(path, n.rstrip("/"), "saved_model.pb")))
    if not versions:
        raise ModelLoadError(path, "no saved_model.pb here or in a numeric version subdirectory")
    return os.path.join(path, str(versions[-1]))


def load_tagger(path: str, num_threads: Optional[int] = None) -> Tagger:
    """The right Tagger for ``path``: ``.tflite`` file, SavedModel (version or base dir) or model_dir."""
    path = os.fspath(path)
    if not tf.io.gfile.exists(path):
        raise ModelLoadError(path, "model path does not exist")
    if path.endswith(".tflite"):
        return TFLiteTagger(path, num_threads=num_threads)
    if tf.io.gfile.isdir(path):
        if tf.io.gfile.exists(os.path.join(path, "spec.json")) and \
                tf.io.gfile.exists(os.path.join(path, "best.keras")):
            return KerasTagger(path)
        return SavedModelTagger(path)
    raise ModelLoadError(path, "expected a .tflite file, a SavedModel directory or a training model_dir")


# ----------------------------------------------------------------------------- inputs

def find_audio_files(paths: Iterable[str], extensions: Sequence[str] = AUDIO_EXTENSIONS) -> List[str]:
    """Files named directly (any extension: decoding decides) and audio files under folders (recursive, sorted)."""
    found = []
    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                found.extend(os.path.join(root, f) for f in sorted(files)
                             if f.lower().endswith(tuple(extensions)) and not f.startswith("."))
        else:
            found.append(path)  # missing files are reported as errors when tagged
    return found


class LyricsSource:
    """Lyrics for each audio file: one file for all inputs, or ``<dir>/<audio stem>.txt``.

    Encoding uses musictag_tf.lyrics (jieba words for Chinese, as in training) and the model's
    vocabulary. A directory without a file for some audio means "no lyrics" for it.
    """

    def __init__(self, location: Optional[str], vocab_path: Optional[str], lyrics_params: dict):
        self.location = location or None
        self.is_dir = bool(self.location) and os.path.isdir(self.location)
        self._vocab = None
        self._params = None
        self._cache: Dict[str, np.ndarray] = {}
        if self.location:
            if not os.path.exists(self.location):
                raise LyricsError(self.location, "lyrics file or directory not found")
            if vocab_path is None:
                raise LyricsError(self.location, "the model has no lyrics vocabulary (vocab.txt); "
                                                 "cannot encode lyrics for it")
            from musictag_tf import params as params_lib
            from musictag_tf.lyrics.vocab import Vocabulary
            self._vocab = Vocabulary.load(vocab_path)
            self._params = params_lib.from_dict(params_lib.LyricsParams, lyrics_params)

    def file_for(self, audio_path: str) -> Optional[str]:
        if not self.location:
            return None
        if not self.is_dir:
            return self.location
        candidate = os.path.join(self.location, pathlib.Path(audio_path).stem + ".txt")
        return candidate if os.path.exists(candidate) else None

    def ids_for(self, audio_path: str) -> Optional[np.ndarray]:
        """int32 [max_tokens] or None (no lyrics). Raises LyricsError for an unreadable file."""
        path = self.file_for(audio_path)
        if path is None:
            return None
        if path not in self._cache:
            from musictag_tf.lyrics.encode import encode_lyrics_file
            self._cache[path] = encode_lyrics_file(path, self._vocab, self._params)
        return self._cache[path]


# ----------------------------------------------------------------------------- tagging

@dataclasses.dataclass
class TagRun:
    results: List[ClipTags]
    failures: List[Tuple[str, str]]  # (path, reason)


def tag_file(tagger: Tagger, path: str, lyrics: Optional[LyricsSource] = None,
             hop_samples: Optional[int] = None) -> ClipTags:
    """Decode ``path`` (any length, any format libsndfile reads) and tag it.

    Raises AudioDecodeError (unreadable, silent, shorter than 0.1 s) or LyricsError.
    """
    from musictag_tf.audio import io as audio_io

    info = tagger.info
    waveform = audio_io.load_audio(path, info.sample_rate)
    warnings = audio_io.check_audio_usable(waveform, path, info.sample_rate)
    ids = lyrics.ids_for(path) if lyrics is not None else None
    probabilities, taggram, starts = tagger.tag_waveform(waveform, ids, hop_samples)
    return ClipTags(path=path, duration_seconds=waveform.shape[0] / info.sample_rate,
                    probabilities=probabilities, taggram=taggram,
                    window_start_seconds=np.asarray(starts, np.float64),
                    window_seconds=info.chunk_samples / info.sample_rate, warnings=warnings)


def tag_paths(paths: Sequence[str], tagger: Tagger, lyrics: Optional[LyricsSource] = None,
              hop_samples: Optional[int] = None, progress: bool = True,
              on_error: Optional[Callable[[str, str], None]] = None) -> TagRun:
    """Tag every audio file in ``paths`` (files and folders); failures are collected, not raised."""
    files = find_audio_files(paths)
    results, failures = [], []
    iterator = files
    if progress and len(files) > 1:
        from tqdm import tqdm
        iterator = tqdm(files, desc="tagging", unit="file", file=sys.stderr, disable=None)
    for path in iterator:
        try:
            results.append(tag_file(tagger, path, lyrics, hop_samples))
        except (AudioDecodeError, LyricsError) as exc:
            reason = exc.reason if isinstance(exc, AudioDecodeError) else f"lyrics {exc.source}: {exc.reason}"
            failures.append((path, reason))
            if on_error:
                on_error(path, reason)
    return TagRun(results=results, failures=failures)


# ----------------------------------------------------------------------------- output

def clip_json(clip: ClipTags, tags: Sequence[str], top_k: int, with_taggram: bool = True,
              digits: int = 6) -> dict:
    """The JSON object of one tagged file (see the module docstring)."""
    def r(x):
        return round(float(x), digits)

    entry = {"path": clip.path, "duration_seconds": round(clip.duration_seconds, 3)}
    if "tags" in clip.probabilities:
        entry["scores"] = {t: r(p) for t, p in zip(tags, clip.probabilities["tags"])}
        entry["top_tags"] = [{"tag": t, "score": r(p)} for t, p in clip.top_tags(tags, top_k)]
    quadrant = clip.quadrant()
    if quadrant is not None:
        name, p, all_p = quadrant
        entry["quadrant"] = {"name": name, "probability": r(p),
                             "probabilities": {n: r(v) for n, v in zip(schema.QUADRANT_NAMES, all_p)}}
    for head in ("energy", "stress"):
        if head in clip.probabilities:
            entry[head] = {n: r(v) for n, v in zip(EMOTION_CLASS_NAMES[head], clip.probabilities[head])}
    if with_taggram and clip.taggram.size:
        entry["taggram"] = {"window_start_seconds": [round(float(s), 3) for s in clip.window_start_seconds],
                            "window_seconds": clip.window_seconds,
                            "scores": [[r(v) for v in row] for row in clip.taggram]}
    if clip.warnings:
        entry["warnings"] = list(clip.warnings)
    return entry


def write_json(run: TagRun, tags: Sequence[str], top_k: int, out, with_taggram: bool = True) -> None:
    entries = [clip_json(c, tags, top_k, with_taggram) for c in run.results]
    entries += [{"path": path, "error": reason} for path, reason in run.failures]
    json.dump(entries, out, indent=1, ensure_ascii=False)
    out.write("\n")


def write_csv(run: TagRun, tags: Sequence[str], out) -> None:
    """``path`` + one column per tag (musictag_tf.score_predictions reads this)."""
    import csv

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["path"] + list(tags))
    for clip in run.results:
        if "tags" in clip.probabilities:
            writer.writerow([clip.path] + [f"{p:.6f}" for p in clip.probabilities["tags"]])


def plot_taggram(clip: ClipTags, tags: Sequence[str], path: str, max_tags: int = 50) -> None:
    """Taggram PNG: tag probability per window (time in seconds on x, tag names on y)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    taggram = clip.taggram[:, :max_tags]
    names = list(tags)[: taggram.shape[1]]
    starts = clip.window_start_seconds
    centres = starts + min(clip.window_seconds, clip.duration_seconds) / 2
    if len(starts) > 1:
        step = np.median(np.diff(starts)) if len(starts) > 2 else starts[1] - starts[0]
        edges = np.concatenate([centres - step / 2, [centres[-1] + step / 2]])
    else:
        edges = np.array([0.0, clip.duration_seconds])
    height = max(3.0, 0.18 * len(names) + 1.2)
    fig, ax = plt.subplots(figsize=(max(6.0, min(16.0, 2 + 0.25 * len(starts))), height))
    mesh = ax.pcolormesh(edges, np.arange(len(names) + 1), taggram.T, cmap="magma", vmin=0.0, vmax=1.0)
    ax.set_yticks(np.arange(len(names)) + 0.5)
    ax.set_yticklabels(names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time (s, window centres)")
    ax.set_title(f"{os.path.basename(clip.path)}  ({clip.duration_seconds:.1f} s, "
                 f"{len(starts)} windows of {clip.window_seconds:g} s)", fontsize=9)
    fig.colorbar(mesh, ax=ax, label="tag probability", fraction=0.03)
    fig.tight_layout()
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def plot_paths(run: TagRun, tags: Sequence[str], out_dir: str) -> List[str]:
    """One ``<stem>.taggram.png`` per tagged file in ``out_dir`` (``-2``, ``-3`` ... on name clashes)."""
    os.makedirs(out_dir, exist_ok=True)
    written, used = [], set()
    for clip in run.results:
        if not clip.taggram.size:
            continue
        stem = pathlib.Path(clip.path).stem
        name, n = f"{stem}.taggram.png", 1
        while name in used:
            n += 1
            name = f"{stem}-{n}.taggram.png"
        used.add(name)
        target = os.path.join(out_dir, name)
        plot_taggram(clip, tags, target)
        written.append(target)
    return written


# ----------------------------------------------------------------------------- command line

def define_flags(flag_values=None) -> None:
    """The ``musictag tag`` flags (absl), on ``flag_values`` (default: absl.flags.FLAGS)."""
    from absl import flags

    fv = flags.FLAGS if flag_values is None else flag_values
    flags.DEFINE_string("model", None, "SavedModel (version or TF Serving base dir), .tflite file from "
                        "musictag-export, or a training model_dir (spec.json + best.keras).", flag_values=fv)
    flags.DEFINE_integer("top_k", 5, "Top tags listed per file (JSON).", flag_values=fv)
    flags.DEFINE_enum("format", "json", ["json", "csv"],
                      "json: scores, top tags, quadrant, taggram per file; csv: path + one column per "
                      "tag (scorable with musictag_tf.score_predictions).", flag_values=fv)
    flags.DEFINE_string("output", "-", "Output file ('-' = stdout).", flag_values=fv)
    flags.DEFINE_string("lyrics", None, "Lyrics text file used for every input, or a directory holding "
                        "<audio stem>.txt per audio file (missing = no lyrics).", flag_values=fv)
    flags.DEFINE_string("plot", None, "Directory to write a taggram PNG per file into.", flag_values=fv)
    flags.DEFINE_float("hop_seconds", 0.0, "Window hop in seconds (0: the model's, half a window).",
                       flag_values=fv)
    flags.DEFINE_boolean("taggram", True, "Include the per-window taggram in JSON output.", flag_values=fv)
    flags.DEFINE_integer("num_threads", 0, "TFLite interpreter threads (0: default).", flag_values=fv)


def main(argv: Sequence[str], flag_values=None) -> int:
    """Run ``musictag tag`` with parsed flags; ``argv[1:]`` are the audio paths. Returns the exit status."""
    from absl import flags

    fv = flags.FLAGS if flag_values is None else flag_values
    paths = list(argv[1:])
    prog = "musictag tag"
    if not paths:
        print(f"{prog}: error: give audio files or folders to tag", file=sys.stderr)
        return 2
    if not fv.model:
        print(f"{prog}: error: --model is required", file=sys.stderr)
        return 2
    if fv.top_k <= 0:
        print(f"{prog}: error: --top_k must be positive", file=sys.stderr)
        return 2
    try:
        tagger = load_tagger(fv.model, num_threads=fv.num_threads or None)
        lyrics = LyricsSource(fv.lyrics, tagger.info.vocab_path, tagger.info.lyrics_params)
    except (MusictagError, OSError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    hop = int(round(fv.hop_seconds * tagger.info.sample_rate)) if fv.hop_seconds > 0 else None

    def report(path, reason):
        print(f"{prog}: error: {path}: {reason}", file=sys.stderr)

    run = tag_paths(paths, tagger, lyrics, hop_samples=hop, on_error=report)
    for clip in run.results:
        for warning in clip.warnings:
            print(f"{prog}: warning: {warning}", file=sys.stderr)
    if not run.results and not run.failures:
        print(f"{prog}: error: no audio files found in {paths}", file=sys.stderr)
        return 2
    tags = tagger.info.tags
    out = sys.stdout if fv.output in ("-", "") else open(fv.output, "w", encoding="utf-8", newline="")
    try:
        if fv.format == "csv":
            write_csv(run, tags, out)
        else:
            write_json(run, tags, fv.top_k, out, with_taggram=fv.taggram)
    finally:
        if out is not sys.stdout:
            out.close()
    if fv.plot:
        for written in plot_paths(run, tags, fv.plot):
            print(f"{prog}: taggram {written}", file=sys.stderr)
    if run.failures:
        print(f"{prog}: {len(run.failures)} of {len(run.failures) + len(run.results)} files failed",
              file=sys.stderr)
        return 1
    return 0


def run() -> None:
    """Stand-alone entry point: ``python -m musictag_tf.tagging PATH... --model=...``."""
    from absl import app

    define_flags()
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
