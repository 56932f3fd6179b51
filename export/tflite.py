"""TFLite export: float32, dynamic-range int8, float16 and full-integer int8 window models, builtin ops only.

The TFLite model is the bare network on ONE window with fixed shapes::

    inputs   waveform    float32 [1, chunk_samples] at AudioParams.sample_rate
             lyrics_ids  int32   [1, max_tokens] (0 = padding; all 0 = no lyrics)
    outputs  tags [1, num_tags] sigmoid, energy [1, 2], stress [1, 2], quadrant [1, 4] softmax
             (the heads the model has), valid [1, 1]; one signature "serving_default"
             cnn_sam also: attention [1, r, K], attention_start_seconds / attention_end_seconds
             [1, K] (s within the window, -1 unused slots): ``ATTENTION_DOC``

Bad input, the same in all four variants (tests/test_faults_serving.py, tests/test_tflite_int8.py): NaN and +-inf samples
are replaced by 0 in-graph and ``valid`` is the fraction of finite samples (1.0 for clean
audio; a caller must treat valid < 1 as "not tagged"); lyrics ids outside [0, vocab_size) are
mapped to OOV (``serving_graph.map_unknown_ids``, the SavedModel's rule). ``musictag tag``
never feeds non-finite audio (decoding rejects it) and encodes ids with the vocabulary.

Windowing, averaging and tag names are the caller's job (musictag_tf.tag.backends.TFLiteTagger;
the window rule is ``musictag_tf.windows``). ``WindowRunner`` runs the window model with the
interpreter settings users get from ``musictag tag`` (ai-edge-litert's default delegates, i.e.
XNNPACK, on): the tagger and this module's parity checks use that same runner, so the parity
figures are for the runtime users run. The serving SavedModel's dynamic parts
(any-length windowing with a while loop, lookup tables, string outputs) are not TFLite builtins,
so the converter gets its own fixed-shape SavedModel written by ``keras.export.ExportArchive``
(``TFLiteConverter.from_keras_model`` does not work with Keras 3 models). Builtin ops only
(``OpsSet.TFLITE_BUILTINS``): a model needing Select TF ("Flex") ops cannot run in
ai-edge-litert's Python interpreter, so conversion fails instead of silently adding them, and
``op_counts`` double-checks the result.

Variants (``VARIANTS``):

* ``float32``: no optimisation.
* ``dynamic_int8``: ``Optimize.DEFAULT`` without a representative dataset -- learned weights
  stored as int8, run by hybrid kernels that quantize each op's *input* to int8 on the fly. The
  log-mel front end's constant matrices (mel filterbank; DFT with ``stft_impl="matmul"``) are put
  back to float32 after conversion (``keep_float_scopes``): as a hybrid FULLY_CONNECTED the mel
  projection would quantize the power spectrum, whose bins span ~100 dB, to 8 bits per frame,
  zeroing every bin more than ~42 dB below the frame's peak. Measured on a trained model: log-mel
  relative error 46 % -> 0, tag-logit relative error 13 % -> 0.4 % (BUILD_NOTES.md). There is
  no converter option to exclude an op from dynamic-range quantization, hence the flatbuffer edit.
* ``float16``: ``Optimize.DEFAULT`` + ``supported_types=[float16]`` -- weights stored as float16,
  dequantised to float32 at load time.
* ``int8``: full-integer quantization with a representative dataset (``calibration_windows``:
  evenly spread windows of a records directory's *training* split; ``Int8Params``). Weights AND
  activations of the network are int8 (CONV_2D, FULLY_CONNECTED, pooling, ... run XNNPACK's int8
  kernels); the layers in ``Int8Params.float_layers`` (log-mel front end, adaptive segmentation,
  BiLSTM) and the graph-level ops (non-finite guard, lyrics id mapping, output activations) stay
  float32, with QUANTIZE / DEQUANTIZE at the borders. Input and output stay float32, so the
  model is a drop-in for the other variants. Built by calibrating once and quantizing with the
  float ops denylisted (``convert_int8``); ``op_types`` lists which ops run in int8 (also in
  musictag.json). Needs calibration data: ``export_tflite(..., calibration=...)``.

The log-mel STFT stays float in every variant (RFFT2D has float kernels only); see BUILD_NOTES.md
for the measured op lists. ``stft_impl`` can rebuild the model with the matmul STFT (no weights
change) should a runtime lack RFFT2D.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import shutil
import tempfile
from typing import Dict, Iterable, List, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from export import saved_model as sm
from export import serving_graph
from musictag_tf import artifacts
from musictag_tf import fileio
from musictag_tf import params as params_lib
from musictag_tf.data import manifest as manifest_lib
from musictag_tf.errors import ExportError, ModelLoadError

VARIANTS = artifacts.TFLITE_VARIANTS
CALIBRATED_VARIANTS = artifacts.TFLITE_CALIBRATED_VARIANTS  # need representative windows
UNCALIBRATED_VARIANTS = tuple(v for v in VARIANTS if v not in CALIBRATED_VARIANTS)
FILE_NAMES = artifacts.TFLITE_FILES
METADATA_NAME = artifacts.METADATA_FILE  # musictag.json beside the .tflite files
VALID_OUTPUT = "valid"  # float32 [1, 1]: fraction of the window's samples that were finite
# cnn_sam's window model also returns its self-attention (issue 13 item 6; builtin ops only, +24 of 501
# ops and +0.3 % bytes on the default cnn_sam, no measurable time): musictag.json's "attention" entry
ATTENTION_DOC = {
    "attention": "float32 [1, rows, segments]: the window's self-attention weights over its segments; each "
                 "row sums to 1 over the used segments, 0 elsewhere",
    "attention_start_seconds": "float32 [1, segments]: segment start, seconds from the window's start; -1 unused",
    "attention_end_seconds": "float32 [1, segments]: segment end, seconds from the window's start; -1 unused",
}


class TFLiteExportError(ExportError):
    """Conversion failed or produced a model that needs non-builtin ops."""


# ----------------------------------------------------------------------------- conversion

def write_window_saved_model(model: keras.Model, spec, path: str) -> None:
    """The fixed-shape window network as a SavedModel (the converter's input)."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    heads = tuple(spec.model.heads)
    explained = serving_graph.attention_model_for(model, spec)  # cnn_sam: + attention outputs (ATTENTION_DOC)
    if explained is not None:
        archive.track(explained)

    def serving_default(waveform, lyrics_ids):
        # Non-finite input, in-graph with builtin ops (EQUAL, ABS, LESS_EQUAL, SELECT): NaN/inf
        # samples are replaced by 0 and ``valid`` [1, 1] is the fraction of finite samples, so an
        # all-NaN window is scored as silence with valid = 0 (never plausible tags without a flag).
        finite = tf.logical_and(tf.equal(waveform, waveform), tf.abs(waveform) <= np.finfo(np.float32).max)
        waveform = tf.where(finite, waveform, tf.zeros_like(waveform))
        ids = serving_graph.map_unknown_ids(lyrics_ids, spec.vocab_size)  # the SavedModel's id rule
        out = (explained or model)({"waveform": waveform, "lyrics_ids": ids}, training=False)
        result = {name: tf.cast(out[name], tf.float32) for name in heads}
        if explained is not None:
            result.update({key: out[name] for name, key in artifacts.ATTENTION_OUTPUTS.items()})
        result[VALID_OUTPUT] = tf.reduce_mean(tf.cast(finite, tf.float32), axis=1, keepdims=True)
        return result

    archive.add_endpoint("serving_default", serving_default, [
        tf.TensorSpec([1, spec.chunk_samples], tf.float32, name="waveform"),
        tf.TensorSpec([1, spec.lyrics.max_tokens], tf.int32, name="lyrics_ids")])
    archive.write_out(path, verbose=False)


def convert(saved_model_dir: str, variant: str) -> bytes:
    """TFLite flatbuffer of the SavedModel's ``serving_default``, builtin ops only (not ``int8``:
    that needs calibration data, ``convert_int8``)."""
    if variant not in UNCALIBRATED_VARIANTS:
        raise ValueError(f"variant must be one of {UNCALIBRATED_VARIANTS}, got {variant!r}"
                         + (" (int8 is made by convert_int8 with calibration windows)" if variant == "int8" else ""))
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant in ("dynamic_int8", "float16"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises ConverterError / ValueError with the op list
        raise TFLiteExportError(saved_model_dir, f"{variant} conversion with builtin ops failed: {exc}") from exc


_TFLITE_FLOAT32 = 0  # tflite::TensorType
_TFLITE_INT8 = 9


def front_end_scopes(model: keras.Model) -> List[str]:
    """Names of the model's log-mel front-end layers (constant matrices, no learned weights)."""
    from musictag_tf.audio.features import LogMelSpectrogram
    return [layer.name for layer in model.layers if isinstance(layer, LogMelSpectrogram)]


def keep_float_scopes(quantized: bytes, reference: bytes, scopes: Sequence[str]) -> tuple:
    """Put int8 weight tensors under ``scopes`` back to their float32 values.

    Args:
      quantized: dynamic-range TFLite model.
      reference: float32 TFLite model converted from the same SavedModel (same tensor names).
      scopes: layer names; a tensor named ``.../<scope>[_N]/...`` is restored.

    Returns:
      (model bytes, names of the restored tensors). The ops that read them then run their float
      kernels (TFLite picks hybrid vs float kernels by the weight type).
    """
    import re

    from tensorflow.lite.tools import flatbuffer_utils

    if not scopes:
        return quantized, []
    pattern = re.compile("/(" + "|".join(re.escape(s) for s in scopes) + r")(_\d+)?/")
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(quantized))
    ref = flatbuffer_utils.convert_bytearray_to_object(bytearray(reference))
    ref_tensors = {t.name: t for sub in ref.subgraphs for t in sub.tensors if t.type == _TFLITE_FLOAT32}
    restored = []
    for sub in model.subgraphs:
        for tensor in sub.tensors:
            name = tensor.name.decode("utf-8", "replace")
            if tensor.type != _TFLITE_INT8 or not pattern.search(name):
                continue
            source = ref_tensors.get(tensor.name)
            if source is None or list(source.shape) != list(tensor.shape):
                raise TFLiteExportError(name, "no float32 tensor of the same name and shape in the reference model")
            model.buffers[tensor.buffer].data = ref.buffers[source.buffer].data
            tensor.type = _TFLITE_FLOAT32
            tensor.quantization = None
            restored.append(name)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), restored


# ----------------------------------------------------------------------------- full-integer int8

@dataclasses.dataclass
class Calibration:
    """Representative windows for int8 calibration: float32 [n, chunk_samples], int32 [n, max_tokens]
    (None for a model whose signature takes the waveform only, e.g. the shipped musicnn)."""

    waveforms: np.ndarray
    lyrics_ids: Optional[np.ndarray]
    source: str  # where they come from (records dir + split), for metadata and messages


def calibration_windows(records_dir: str, spec, split: str = "train",
                        params: params_lib.Int8Params = params_lib.Int8Params()) -> Calibration:
    """Up to ``params.calibration_windows`` windows of ``split`` (the model's window length and
    token count), at most ``calibration_windows_per_clip`` per clip ("spread" windows), in the
    records' order (clips are ordered by a hash of their id, so the first windows span the set).

    Raises ExportError naming the directory when it has no such split or its windows do not fit
    the model.
    """
    from musictag_tf.data import pipeline

    manifest = manifest_lib.read_manifest(records_dir)
    files = manifest_lib.split_files(records_dir, split, manifest)
    if not files:
        raise ExportError(records_dir, f"no {split} shards for int8 calibration")
    config = pipeline.PipelineConfig.from_records(manifest, spec.model)
    if config.chunk_samples != spec.chunk_samples or config.max_tokens != spec.lyrics.max_tokens:
        raise ExportError(records_dir, f"records give windows of {config.chunk_samples} samples and "
                                       f"{config.max_tokens} tokens; the model takes {spec.chunk_samples} "
                                       f"and {spec.lyrics.max_tokens}")
    waves, ids, total = [], [], 0
    dataset = pipeline.evaluation_dataset(files, config, 64, params.calibration_windows_per_clip, "spread")
    for features, _, _ in dataset:
        waves.append(features["waveform"].numpy())
        ids.append(features["lyrics_ids"].numpy())
        total += len(waves[-1])
        if total >= params.calibration_windows:
            break
    waves = np.concatenate(waves)[: params.calibration_windows].astype(np.float32)
    ids = np.concatenate(ids)[: params.calibration_windows].astype(np.int32)
    return Calibration(waves, ids, f"{records_dir} [{split}]")


def float_layer_scopes(model: keras.Model, float_layers: Sequence[str]) -> List[str]:
    """Names of ``model``'s layers whose class name is in ``float_layers`` (they stay float in int8)."""
    return [layer.name for layer in model.layers if type(layer).__name__ in float_layers]


def float_nodes(calibrated: bytes, scopes: Sequence[str]) -> List[str]:
    """Output tensor names of the ops to keep float: under ``scopes`` (``.../<scope>[_N]/...``) or
    outside every layer (no "/": the non-finite guard, id mapping, output activations)."""
    import re

    from tensorflow.lite.tools import flatbuffer_utils

    pattern = re.compile("/(" + "|".join(re.escape(s) for s in scopes) + r")(_\d+)?/") if scopes else None
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated))
    names = []
    for sub in model.subgraphs:
        for op in sub.operators:
            for index in op.outputs:
                name = sub.tensors[index].name.decode("utf-8", "replace")
                if "/" not in name or (pattern is not None and pattern.search(name)):
                    names.append(name)
    return names


def convert_int8(saved_model_dir: str, calibration: Calibration, scopes: Sequence[str]) -> bytes:
    """Full-integer int8 flatbuffer of ``serving_default`` with float32 input/output.

    Two steps: the converter calibrates (runs ``calibration``'s windows through the float graph,
    recording every activation's range; ``_experimental_calibrate_only``), then the MLIR quantizer
    quantizes every op with an int8 kernel except the ``float_nodes`` (``denylisted_nodes``) --
    exactly what ``tf.lite.experimental.QuantizationDebugger.get_nondebug_quantized_model`` does,
    without building its debug model. ``fully_quantize=False`` keeps the float32 input/output.
    Raises TFLiteExportError when conversion fails or XNNPACK cannot prepare the result.
    """
    from tensorflow.lite.python import convert as lite_convert

    def representative():
        for i, wave in enumerate(calibration.waveforms):
            sample = {"waveform": wave[None].astype(np.float32)}
            if calibration.lyrics_ids is not None:
                sample["lyrics_ids"] = calibration.lyrics_ids[i][None].astype(np.int32)
            yield sample

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter._experimental_calibrate_only = True  # pylint: disable=protected-access
    try:
        calibrated = converter.convert()
        quantized = lite_convert.mlir_quantize(calibrated, fully_quantize=False,
                                               denylisted_nodes=float_nodes(calibrated, scopes))
    except Exception as exc:  # ConverterError / ValueError / RuntimeError with the op list
        raise TFLiteExportError(saved_model_dir, f"int8 conversion with builtin ops failed: {exc}") from exc
    try:
        interpreter(quantized)  # XNNPACK must prepare it, as musictag tag runs it
    except (RuntimeError, ModelLoadError) as exc:
        raise TFLiteExportError(saved_model_dir, f"int8 model does not run with XNNPACK: {exc}") from exc
    return quantized


# ops that only move values (an int8 one copies int8 values at the same scale; no arithmetic)
DATA_MOVEMENT_OPS = ("CONCATENATION", "GATHER", "PACK", "RESHAPE", "SPLIT", "STRIDED_SLICE", "TRANSPOSE",
                     "UNPACK", "REVERSE_V2", "SELECT_V2", "SELECT")


def op_types(model: bytes | str) -> Dict[str, Dict[str, int]]:
    """Operator -> {"int8" | "float32" | other output type: count}: which ops run in int8.

    An op counts as int8 when one of its outputs is int8 (QUANTIZE's output is int8, DEQUANTIZE's
    float32); integer bookkeeping ops (int32 indices, bool masks) are listed by their type.
    """
    it = interpreter(model, default_delegates=False)
    dtypes = {t["index"]: np.dtype(t["dtype"]).name for t in it.get_tensor_details()}
    counts: Dict[str, Dict[str, int]] = collections.defaultdict(lambda: collections.defaultdict(int))
    for op in it._get_ops_details():
        outputs = [dtypes[i] for i in op["outputs"] if i >= 0]
        kind = "int8" if "int8" in outputs else (outputs[0] if outputs else "none")
        counts[op["op_name"]][kind] += 1
    return {name: dict(sorted(kinds.items())) for name, kinds in sorted(counts.items())}


def int8_summary(types: Dict[str, Dict[str, int]]) -> Dict[str, object]:
    """Counts of int8 vs float32 compute ops in an ``op_types`` table (QUANTIZE/DEQUANTIZE apart)."""
    borders = ("QUANTIZE", "DEQUANTIZE")
    int8 = {op: k["int8"] for op, k in types.items() if k.get("int8") and op not in borders}
    floats = {op: k["float32"] for op, k in types.items() if k.get("float32") and op not in borders}
    return {"int8_ops": sum(int8.values()), "float32_ops": sum(floats.values()),
            "quantize": sum(types.get("QUANTIZE", {}).values()),
            "dequantize": sum(types.get("DEQUANTIZE", {}).values()),
            "int8": int8, "float32": floats}


def interpreter(model: bytes | str, num_threads: Optional[int] = None, default_delegates: bool = True):
    """An ai_edge_litert Interpreter with tensors allocated.

    ``default_delegates=True`` (the default) is what ``musictag tag`` and every parity check run:
    ai-edge-litert's builtin ops with its default delegates (XNNPACK on CPU). False (builtin
    kernels only) is used by ``op_counts`` alone, to list the model's own operators rather than
    the DELEGATE nodes XNNPACK replaces them with.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs = {"model_path": model} if isinstance(model, str) else {"model_content": model}
    resolver = OpResolverType.AUTO if default_delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        it = Interpreter(**kwargs, num_threads=num_threads, experimental_op_resolver_type=resolver)
    except ValueError as exc:
        raise ModelLoadError(model if isinstance(model, str) else "<tflite bytes>",
                             f"not a TFLite model: {exc}") from exc
    it.allocate_tensors()
    return it


def op_counts(model: bytes | str) -> Dict[str, int]:
    """Operator name -> count in a TFLite model (its own operators, before any delegate)."""
    ops = collections.Counter(op["op_name"] for op in interpreter(model, default_delegates=False)._get_ops_details())
    return dict(sorted(ops.items()))


def non_builtin_ops(ops: Iterable[str]) -> List[str]:
    """Flex (Select TF) and custom ops in an op list."""
    return sorted(op for op in ops if op.startswith("Flex") or op in ("CUSTOM", "DELEGATE"))


@dataclasses.dataclass
class TFLiteModel:
    variant: str
    path: str
    size_bytes: int
    ops: Dict[str, int]


def export_tflite(source: sm.ModelSource, out_dir: str, variants: Optional[Sequence[str]] = None,
                  stft_impl: Optional[str] = None, verbose: bool = False,
                  config: sm.ServingConfig = sm.ServingConfig(),
                  calibration: Optional[Calibration] = None,
                  int8_params: params_lib.Int8Params = params_lib.Int8Params()) -> List[TFLiteModel]:
    """Write ``model_<variant>.tflite`` + ``musictag.json``, ``tags.txt``, ``vocab.txt`` into ``out_dir``.

    ``variants`` None: every variant the inputs allow (``int8`` only with ``calibration``).
    Each file is written under a temporary name and renamed when complete. Raises
    TFLiteExportError when a variant cannot be converted with builtin ops, or the converted
    model lists Flex/custom ops, and ExportError when ``int8`` is asked for without calibration.
    """
    if variants is None:
        variants = VARIANTS if calibration is not None else UNCALIBRATED_VARIANTS
    if calibration is None and set(variants) & set(CALIBRATED_VARIANTS):
        raise ExportError(out_dir, "the int8 variant needs calibration windows from a records directory's "
                                   "training split (musictag-export --calibration_records)")
    model = source.model
    spec = source.spec
    if stft_impl is not None:
        model = sm.inference_model(source.keras_model, spec, stft_impl)
        spec = dataclasses.replace(spec, audio=dataclasses.replace(spec.audio, stft_impl=stft_impl))
    tf.io.gfile.makedirs(out_dir)
    work = tempfile.mkdtemp(prefix="musictag-tflite-")
    written = []
    try:
        window_dir = os.path.join(work, "window_saved_model")
        write_window_saved_model(model, spec, window_dir)
        float32 = convert(window_dir, "float32")
        int8_info = {}
        for variant in variants:
            if variant == "int8":
                scopes = float_layer_scopes(model, int8_params.float_layers)
                flatbuffer = convert_int8(window_dir, calibration, scopes)
                types = op_types(flatbuffer)
                int8_info = {"calibration": {"source": calibration.source,
                                             "windows": int(len(calibration.waveforms))},
                             "float_layers": scopes, "op_types": types, "summary": int8_summary(types)}
            else:
                flatbuffer = float32 if variant == "float32" else convert(window_dir, variant)
            if variant == "dynamic_int8":
                flatbuffer, float_tensors = keep_float_scopes(flatbuffer, float32, front_end_scopes(model))
                if verbose and float_tensors:
                    print(f"  dynamic_int8: kept float32: {', '.join(float_tensors)}", flush=True)
            ops = op_counts(flatbuffer)
            bad = non_builtin_ops(ops)
            if bad:
                raise TFLiteExportError(out_dir, f"{variant} model needs non-builtin ops {bad}")
            path = os.path.join(out_dir, FILE_NAMES[variant])
            fileio.write_atomic(path, flatbuffer)
            written.append(TFLiteModel(variant, path, len(flatbuffer), ops))
            if verbose:
                print(f"  {variant}: {len(flatbuffer):,} bytes, {sum(ops.values())} ops", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = sm.metadata(source, config, signatures=["serving_default"])  # hop/top_k for the tagger
    explained = serving_graph.attention_model_for(model, spec)
    if explained is not None:
        _, rows, segments = explained.output["attention_weights"].shape
        meta["attention"] = {"rows": int(rows), "segments": int(segments), "outputs": ATTENTION_DOC}
    meta["spec"] = spec.to_dict()
    meta["tflite"] = {m.variant: {"file": os.path.basename(m.path), "size_bytes": m.size_bytes,
                                  "ops": m.ops} for m in written}
    if "int8" in meta["tflite"]:
        meta["tflite"]["int8"].update(int8_info)  # calibration, float layers, which ops run in int8
    meta["inputs"] = {"waveform": ["float32", [1, spec.chunk_samples]],
                      "lyrics_ids": ["int32", [1, spec.lyrics.max_tokens]]}
    meta["bad_input"] = {VALID_OUTPUT: "float32 [1, 1]: fraction of finite waveform samples; NaN/inf samples "
                                       "are replaced by 0 (valid < 1: do not trust the scores)",
                         "lyrics_ids": f"ids outside [0, {spec.vocab_size}) are read as OOV (id 1)"}
    fileio.write_json_atomic(os.path.join(out_dir, METADATA_NAME), meta)
    if "tags" in spec.model.heads:
        fileio.write_atomic(os.path.join(out_dir, sm.TAGS_ASSET), "".join(f"{t}\n" for t in source.tags))
    if source.vocab_path:
        tf.io.gfile.copy(source.vocab_path, os.path.join(out_dir, sm.VOCAB_ASSET), overwrite=True)
    return written


# ----------------------------------------------------------------------------- running / parity

class WindowRunner:
    """A fixed-shape TFLite window model ([1, chunk_samples], [1, max_tokens]) run window by window.

    The interpreter has ai-edge-litert's default delegates on (``interpreter``), as users run it.
    Used by musictag tag's TFLite backend and by the export parity checks alike.
    """

    def __init__(self, model: bytes | str, num_threads: Optional[int] = None):
        self.interpreter = interpreter(model, num_threads)
        self.runner = self.interpreter.get_signature_runner()
        self.output_names = list(self.runner.get_output_details())
        self.takes_lyrics = "lyrics_ids" in self.runner.get_input_details()  # not the shipped musicnn models

    def output_name(self, head: str) -> str:
        """The output holding ``head``'s probabilities (``head`` or ``<head>_probabilities``)."""
        for candidate in (head, f"{head}_probabilities"):
            if candidate in self.output_names:
                return candidate
        raise ModelLoadError("tflite", f"the TFLite model has no output for head {head!r} "
                                       f"(outputs {self.output_names})")

    def __call__(self, waveforms: np.ndarray, lyrics_ids: np.ndarray) -> Dict[str, np.ndarray]:
        """float32 [n, chunk_samples], int32 [n, max_tokens] -> output name -> float32 [n, classes]."""
        outputs: Dict[str, list] = collections.defaultdict(list)
        for wave, ids in zip(waveforms, lyrics_ids):
            extra = {"lyrics_ids": np.asarray(ids, np.int32)[None]} if self.takes_lyrics else {}
            out = self.runner(waveform=np.asarray(wave, np.float32)[None], **extra)
            for name, value in out.items():
                outputs[name].append(value[0])
        return {name: np.stack(v).astype(np.float32) for name, v in outputs.items()}


def run_tflite(model: bytes | str, waveforms: np.ndarray, lyrics_ids: np.ndarray,
               num_threads: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Run the window model on each row (``WindowRunner``): float32 [n, chunk], int32 [n, max_tokens]
    -> output name -> float32 [n, classes]."""
    return WindowRunner(model, num_threads)(waveforms, lyrics_ids)


def run_keras(model: keras.Model, waveforms: np.ndarray, lyrics_ids: np.ndarray,
              batch_size: int = 16) -> Dict[str, np.ndarray]:
    """The probability model on the same windows: head -> float32 [n, classes]."""
    outputs: Dict[str, list] = collections.defaultdict(list)
    for begin in range(0, len(waveforms), batch_size):
        out = model({"waveform": tf.constant(waveforms[begin: begin + batch_size], tf.float32),
                     "lyrics_ids": tf.constant(lyrics_ids[begin: begin + batch_size], tf.int32)}, training=False)
        for name, value in out.items():
            outputs[name].append(np.asarray(value, np.float32))
    return {name: np.concatenate(v) for name, v in outputs.items()}


def max_abs_difference(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray]) -> Dict[str, float]:
    """head -> max |a - b| over the heads both have."""
    return {name: float(np.max(np.abs(a[name] - b[name]))) for name in a if name in b}


# ----------------------------------------------------------------------------- accuracy on records

@dataclasses.dataclass
class VariantScores:
    """Clip-level metrics of one runtime on a records split (eval chunks averaged per clip)."""

    name: str  # "keras" or a TFLite variant
    roc_auc_macro: Optional[float]
    pr_auc_macro: Optional[float]
    emotion_accuracy: Dict[str, float]
    max_abs_difference: Dict[str, float]  # per head, window probabilities vs Keras


def evaluate_on_records(source: sm.ModelSource, tflite_models: Sequence[TFLiteModel], records_dir: str,
                        split: str = "test", max_chunks: int = 16,
                        num_threads: Optional[int] = None, windows: str = "tagger") -> List[VariantScores]:
    """Keras vs each TFLite model on ``split`` of ``records_dir``: macro ROC-AUC / PR-AUC, emotion accuracy.

    Every runtime sees the same evaluation windows (musictag_tf.data.pipeline.evaluation_dataset;
    ``windows`` "tagger" = musictag tag's, or "spread"); window probabilities are averaged per
    clip, as in training's validation.
    """
    from musictag_tf import metrics
    from musictag_tf.data import pipeline
    from musictag_tf.predict import aggregate_by_clip, first_by_clip
    from musictag_tf.data import schema

    manifest = manifest_lib.read_manifest(records_dir)
    files = manifest_lib.split_files(records_dir, split, manifest)
    if not files:
        raise ExportError(records_dir, f"no {split} shards")
    config = pipeline.PipelineConfig.from_records(manifest, source.spec.model)
    waves, ids, clip_index, labels = [], [], [], {}
    for features, batch_labels, index in pipeline.evaluation_dataset(files, config, 64, max_chunks, windows):
        waves.append(features["waveform"].numpy())
        ids.append(features["lyrics_ids"].numpy())
        clip_index.append(index.numpy())
        for key, value in batch_labels.items():
            labels.setdefault(key, []).append(value.numpy())
    waves, ids, clip_index = np.concatenate(waves), np.concatenate(ids), np.concatenate(clip_index)
    labels = {k: first_by_clip(np.concatenate(v), clip_index) for k, v in labels.items()}

    def score(name, per_window, reference):
        clip_probs = {head: aggregate_by_clip(v, clip_index) for head, v in per_window.items()}
        roc = pr = None
        if "tags" in clip_probs:
            s = metrics.tagging_scores(labels["tags"], clip_probs["tags"], source.tags)
            roc, pr = s.roc_auc_macro, s.pr_auc_macro
        accuracy = {}
        for head in schema.EMOTION_KEYS:
            if head in clip_probs and (labels[head] >= 0).any():
                known = labels[head] >= 0
                accuracy[head] = float((clip_probs[head][known].argmax(1) == labels[head][known]).mean())
        diff = max_abs_difference(reference, per_window) if reference is not None else {}
        return VariantScores(name, roc, pr, accuracy, diff)

    keras_out = run_keras(source.model, waves, ids)
    results = [score("keras", keras_out, None)]
    for m in tflite_models:
        results.append(score(m.variant, run_tflite(m.path, waves, ids, num_threads), keras_out))
    return results
