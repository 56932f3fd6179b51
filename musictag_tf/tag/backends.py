"""The tagger's model backends: SavedModel, TFLite and a training run, behind one interface.

``load_tagger(path)`` picks the backend from the path: a ``.tflite`` file written by
``musictag-export`` (with its sibling ``musictag.json``, ``tags.txt``, ``vocab.txt``), a
SavedModel (a version directory, or a TF Serving base directory: the highest numeric version),
or a training run directory (``spec.json`` + ``best.keras``, musictag_tf.runs); a shipped model's
name (``mtt_musicnn``, ...: musictag_tf.model.pretrained) loads it with Keras from the package, a
shipped student's (``cnn_sam_distilled``) its TFLite float32 file from the package.

Every backend windows a clip with musictag_tf.windows (the SavedModel in-graph with
``window_layout_tf``, the others in numpy with ``split_windows``: the same rule, the one
evaluation uses) and averages window probabilities per clip.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from export import tflite
from musictag_tf import artifacts
from musictag_tf import params as params_lib
from musictag_tf import runs
from musictag_tf import windows as windows_lib
from musictag_tf.errors import ModelLoadError
from musictag_tf.model import musicnn_windows, variants
from musictag_tf.model.pretrained import registry


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
    name: str = ""  # shipped model name, or the path's last component
    windows: Optional[windows_lib.WindowParams] = None  # None: chunk_samples / hop_samples, end-aligned


EMBEDDING_PREFIX = "embedding_"  # run_windows outputs with this prefix are embeddings, not heads


class Tagger:
    """Base: decode -> windows -> model -> aggregate. Subclasses implement ``run_windows`` or ``tag_waveform``."""

    info: ModelInfo
    embeddings: bool = False  # also return per-window embeddings (``--embeddings``)

    def run_windows(self, windows: np.ndarray, lyrics_ids: np.ndarray) -> Dict[str, np.ndarray]:
        """float32 [n, chunk_samples], int32 [max_tokens] -> head -> float32 [n, classes]."""
        raise NotImplementedError

    def worker_copy(self, num_threads: int) -> Optional["Tagger"]:
        """An independent tagger on the same model for one more worker thread (``num_threads``
        threads of its own), or None when this backend gains nothing from it (Keras and
        SavedModel already spread one call over every core)."""
        return None

    def window_params(self, hop_samples: Optional[int] = None) -> windows_lib.WindowParams:
        """The windows this model is run on (musictag_tf.windows; the model's hop unless given)."""
        if self.info.windows is not None:
            return dataclasses.replace(self.info.windows, hop_samples=hop_samples or self.info.windows.hop_samples)
        return windows_lib.WindowParams(self.info.chunk_samples, hop_samples or self.info.hop_samples)

    def describe(self, hop_samples: Optional[int] = None) -> dict:
        """The tag JSON's ``model`` entry: name, kind, source and the windows used (samples)."""
        return {"name": self.info.name or os.path.basename(os.path.normpath(self.info.path)),
                "kind": self.info.kind, "source": self.info.path,
                "windows": dataclasses.asdict(self.window_params(hop_samples))}

    def tag_waveform(self, waveform: np.ndarray, lyrics_ids: Optional[np.ndarray] = None,
                     hop_samples: Optional[int] = None
                     ) -> Tuple[Dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """float32 [samples] at info.sample_rate -> (probabilities head -> [classes],
        taggram float32 [windows, tags], window starts float [windows] in seconds).

        With ``self.embeddings`` the probabilities also hold ``embedding_<name>`` -> float32
        [windows, D] per-window embeddings (not averaged; musictag_tf.tag.tagger splits them off).
        """
        info = self.info
        ids = self._ids(lyrics_ids)
        windows, starts = windows_lib.split_windows(waveform, self.window_params(hop_samples))
        per_window = self.run_windows(windows, ids)
        heads = {k: v for k, v in per_window.items() if not k.startswith(EMBEDDING_PREFIX)}
        taggram = per_window.get("tags", np.zeros([len(starts), 0], np.float32))
        probabilities = windows_lib.mean_over_windows(heads)
        if self.embeddings:
            probabilities.update({k: np.asarray(v, np.float32) for k, v in per_window.items()
                                  if k.startswith(EMBEDDING_PREFIX)})
        return probabilities, np.asarray(taggram, np.float32), starts / info.sample_rate

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
        meta = artifacts.read_json(os.path.join(version_dir, *artifacts.EXPORT_METADATA))
        assets = os.path.join(version_dir, "assets")
        vocab = os.path.join(assets, artifacts.VOCAB_FILE)
        self.info = _info_from_metadata("saved_model", version_dir, meta,
                                        vocab if tf.io.gfile.exists(vocab) else None)
        self.loaded = tf.saved_model.load(version_dir)
        self.serve = self.loaded.signatures["serving_default"]
        self.windows_fn = self.loaded.signatures["tag_windows"]

    def tag_waveform(self, waveform, lyrics_ids=None, hop_samples=None):
        if (hop_samples and hop_samples != self.info.hop_samples) or self.embeddings:
            return super().tag_waveform(waveform, lyrics_ids, hop_samples)
        inputs = {"waveform": tf.constant(np.asarray(waveform, np.float32)[None])}
        if self.info.max_tokens:  # a shipped model's export takes audio only
            inputs["lyrics_ids"] = tf.constant(self._ids(lyrics_ids)[None])
        out = self.serve(**inputs)
        probabilities = {head: out[artifacts.PROBABILITY_OUTPUTS[head]].numpy()[0] for head in self.info.heads}
        count = int(out["num_windows"].numpy()[0])
        taggram = out["taggram"].numpy()[0, :count] if "taggram" in out else np.zeros([count, 0], np.float32)
        return probabilities, taggram, out["window_start_seconds"].numpy()[0, :count]

    def run_windows(self, windows, lyrics_ids):
        inputs = {"waveform": tf.constant(windows)}
        if self.info.max_tokens:
            inputs["lyrics_ids"] = tf.constant(np.repeat(lyrics_ids[None], windows.shape[0], axis=0))
        out = self.windows_fn(**inputs)
        return {k: v.numpy() for k, v in out.items() if k in self.info.heads or k.startswith(EMBEDDING_PREFIX)}


class TFLiteTagger(Tagger):
    """Runs a fixed-shape TFLite window model ([1, chunk_samples], [1, max_tokens]) per window,
    with export.tflite.WindowRunner: the runner (and interpreter settings: default delegates on)
    the export parity checks use.

    ``num_threads`` None = every CPU core (``os.cpu_count()``): ai-edge-litert's own default runs
    XNNPACK on ONE thread (it starts no worker thread), while the original musicnn's TF uses
    every core (BUILD_NOTES.md, "Tagging speed"). One window per invoke: a batched invoke of the
    same windows measured no faster (the network's compute, not the call, is the cost).
    """

    def __init__(self, path: str, num_threads: Optional[int] = None):
        num_threads = num_threads or os.cpu_count() or 1
        meta_path = os.path.join(os.path.dirname(os.path.abspath(path)), artifacts.METADATA_FILE)
        meta = artifacts.read_json(meta_path)
        vocab = os.path.join(os.path.dirname(os.path.abspath(path)), artifacts.VOCAB_FILE)
        self.info = _info_from_metadata("tflite", path, meta, vocab if os.path.exists(vocab) else None)
        self.runner = tflite.WindowRunner(str(path), num_threads=num_threads)
        self.output_names = {head: self.runner.output_name(head) for head in self.info.heads}

    def worker_copy(self, num_threads: int) -> "TFLiteTagger":
        """A second interpreter on the same file: ``Interpreter.invoke`` releases the GIL, so
        worker threads with one interpreter each run the model in parallel."""
        copy = TFLiteTagger(self.info.path, num_threads=num_threads)
        copy.info, copy.embeddings = self.info, self.embeddings
        return copy

    def run_windows(self, windows, lyrics_ids):
        ids = np.repeat(np.asarray(lyrics_ids, np.int32)[None], windows.shape[0], axis=0)
        out = self.runner(windows, ids)
        embeddings = {k: v for k, v in out.items() if self.embeddings and k.startswith(EMBEDDING_PREFIX)}
        return {**{head: out[name] for head, name in self.output_names.items()}, **embeddings}


class KerasTagger(Tagger):
    """A training run's ``best.keras`` (rebuilt in float32 with probability outputs)."""

    def __init__(self, model_dir: str, window_batch: int = params_lib.TagParams().window_batch,
                 tag_params: params_lib.TagParams = params_lib.TagParams()):
        source = runs.load_model_source(model_dir)
        spec = source.spec
        self.model = source.model
        self.embedding_model = (variants.with_embeddings(source.model, spec.model.variant)
                                if spec.model.variant in variants.EMBEDDING_LAYERS else None)
        self.window_batch = window_batch
        self.info = ModelInfo(kind="keras", path=model_dir, tags=source.tags, heads=tuple(spec.model.heads),
                              sample_rate=spec.audio.sample_rate, chunk_samples=spec.chunk_samples,
                              hop_samples=tag_params.hop_samples(spec.chunk_samples),
                              max_tokens=spec.lyrics.max_tokens,
                              vocab_path=source.vocab_path, lyrics_params=dataclasses.asdict(spec.lyrics))

    @property
    def embeddings(self) -> bool:
        return getattr(self, "_embeddings", False)

    @embeddings.setter
    def embeddings(self, wanted: bool) -> None:
        if wanted and self.embedding_model is None:
            raise ModelLoadError(self.info.path, "--embeddings: no embedding layers known for this run's variant")
        self._embeddings = wanted

    def run_windows(self, windows, lyrics_ids):
        ids = np.repeat(np.asarray(lyrics_ids, np.int32)[None], windows.shape[0], axis=0)
        model = self.embedding_model if self.embeddings else self.model
        out = tflite.run_keras(model, windows, ids, batch_size=self.window_batch)
        return {k: v for k, v in out.items() if k in self.info.heads or k.startswith(EMBEDDING_PREFIX)}


class PretrainedTagger(Tagger):
    """A shipped pretrained model (musictag_tf.model.pretrained), run with Keras in batches.

    Windows as the original musicnn (musicnn_windows.window_params: 3 s patches, no overlap,
    remainder dropped) except that a file shorter than one patch gets one zero-padded window.
    Keras rather than a TFLite conversion cached on first use: on 2 cores the conversion costs
    ~2.6 s while a 29 s clip runs in ~0.34 s either way (BUILD_NOTES.md).
    """

    def __init__(self, name: str, window_batch: int = params_lib.TagParams().window_batch):
        self.model, self.pretrained = registry.load_pretrained(name)
        params = self.pretrained.params
        windows = musicnn_windows.window_params(params)
        self.window_batch = window_batch
        self.info = ModelInfo(kind="pretrained", path=f"{registry.PRETRAINED_DIR / name}",
                              tags=list(self.pretrained.tags), heads=("tags",),
                              sample_rate=params.audio_params().sample_rate,
                              chunk_samples=windows.read_samples, hop_samples=windows.hop_samples,
                              max_tokens=0, vocab_path=None, lyrics_params={}, name=name, windows=windows)

    def run_windows(self, windows, lyrics_ids):
        outputs = collections.defaultdict(list)
        for begin in range(0, len(windows), self.window_batch):
            out = self.model(tf.constant(windows[begin: begin + self.window_batch]), training=False)
            for key, value in out.items():
                if key == "tags" or self.embeddings:
                    outputs[key].append(np.asarray(value, np.float32))
        return {key: np.concatenate(v) for key, v in outputs.items()}


def _info_from_metadata(kind: str, path: str, meta: dict, vocab_path: Optional[str]) -> ModelInfo:
    try:
        return ModelInfo(kind=kind, path=path, tags=list(meta["tags"]), heads=tuple(meta["heads"]),
                         sample_rate=int(meta["sample_rate"]), chunk_samples=int(meta["chunk_samples"]),
                         hop_samples=int(meta["hop_samples"]), max_tokens=int(meta["max_tokens"]),
                         vocab_path=vocab_path, lyrics_params=dict(meta["spec"]["lyrics"]),
                         name=str(meta.get("pretrained", "")),
                         windows=windows_lib.WindowParams(**meta["windows"]) if "windows" in meta else None)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(path, f"export metadata is incomplete ({exc!r}); re-export with musictag-export")


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


def load_tagger(path: str, num_threads: Optional[int] = None, keras: bool = False,
                tflite_variant: str = "float32") -> Tagger:
    """The right Tagger for ``path``: a shipped model's name (registry.SHIPPED_NAMES), ``.tflite``
    file, SavedModel (version or base dir) or model_dir.

    A shipped student (registry.SHIPPED_STUDENTS) runs its TFLite ``tflite_variant`` model
    (artifacts.TFLITE_FILES: float32, the default, dynamic_int8 or int8, as shipped), as a phone
    would; ``keras=True`` (``--embeddings``) runs its training run with Keras instead.
    """
    path = os.fspath(path)
    if path in registry.SHIPPED_MODELS:
        return PretrainedTagger(path)
    if path in registry.SHIPPED_STUDENTS:
        if keras:
            tagger = KerasTagger(registry.student_run_dir(path))
        else:
            file = registry.student_tflite(path, artifacts.TFLITE_FILES[tflite_variant])
            if not os.path.isfile(file):
                raise ModelLoadError(path, f"this student ships no {tflite_variant} TFLite model ({file})")
            tagger = TFLiteTagger(file, num_threads=num_threads)
        tagger.info.name = path
        return tagger
    if not tf.io.gfile.exists(path):
        raise ModelLoadError(path, "model path does not exist and is not a shipped model "
                                   f"(shipped: {', '.join(registry.SHIPPED_NAMES)})")
    if path.endswith(".tflite"):
        return TFLiteTagger(path, num_threads=num_threads)
    if tf.io.gfile.isdir(path):
        if runs.is_run_dir(path):
            return KerasTagger(path)
        return SavedModelTagger(path)
    raise ModelLoadError(path, "expected a .tflite file, a SavedModel directory or a training model_dir")
