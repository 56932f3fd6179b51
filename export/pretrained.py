"""Export a shipped pretrained model (mtt_musicnn, ...) like a trained run: SavedModel + TFLite.

    musictag-export --model=mtt_musicnn --export_dir=exports/mtt_musicnn

writes::

    exports/mtt_musicnn/saved_model/<version>/   assets/tags.txt, assets.extra/musictag.json
    exports/mtt_musicnn/tflite/model_{float32,dynamic_int8,float16}.tflite, musictag.json, tags.txt

SavedModel signatures (rows of one request share its length, as for musictag's own exports):

=================  ===========================================================================
serving_default    ``waveform`` float32 [batch, samples] at 16 kHz, any length ->
                   ``tag_probabilities`` [batch, 50] (clip mean), ``taggram`` [batch, windows, 50],
                   ``num_windows`` int32 [batch], ``window_start_seconds`` [batch, windows],
                   ``top_tags`` string / ``top_scores`` [batch, top_k] (tag names: assets/tags.txt)
embed              same input -> ``embedding_pooled`` / ``embedding_penultimate`` [batch, D] (clip
                   mean) and ``*_per_window`` [batch, windows, D], ``num_windows``
tag_windows        ``waveform`` float32 [n, 48128]: the bare network on windows -> ``tags``,
                   ``embedding_pooled``, ``embedding_penultimate``
=================  ===========================================================================

Windows are musicnn's (musictag_tf.model.musicnn_windows.window_params, THE windowing rule
in-graph), run ``window_batch`` at a time. The TFLite files are one-window models
(export/pretrained_window.py); ``musictag tag --model=<export>`` reads either.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
from typing import Dict, Sequence

import keras
import tensorflow as tf

from export import pretrained_window as pw
from export import saved_model as sm
from musictag_tf import artifacts, fileio
from musictag_tf import params as params_lib
from musictag_tf import windows as windows_lib
from musictag_tf.model import musicnn_windows
from musictag_tf.model.musicnn import OUTPUT_NAMES
from musictag_tf.model.pretrained import registry

EMBEDDINGS = tuple(n for n in OUTPUT_NAMES if n != "tags")


def _clip_graph(model: keras.Model, wp: windows_lib.WindowParams, window_batch: int, sample_rate: int):
    """fn(waveform float32 [B, S]) -> per-window outputs [B, W, D] for every output, and the layout."""
    read = wp.read_samples
    sizes = {name: int(model.output[name].shape[-1]) for name in OUTPUT_NAMES}

    def run(waveform):
        batch, samples = tf.shape(waveform)[0], tf.shape(waveform)[1]
        starts, valid = windows_lib.window_layout_tf(tf.fill([1], samples), wp)
        starts = starts[0]  # [W], shared by the batch's rows (one length per request)
        count = tf.shape(starts)[0]
        need = starts[-1] + wp.window_samples + wp.context_samples
        padded = tf.pad(waveform, [[0, 0], [wp.context_samples, tf.maximum(0, need - samples)]])
        windows = tf.gather(padded, starts[:, None] + tf.range(read)[None, :], axis=1)  # [B, W, read]
        flat = tf.reshape(windows, [-1, read])
        total = tf.shape(flat)[0]
        group = tf.minimum(window_batch, total)
        groups = (total + group - 1) // group
        grouped = tf.reshape(tf.pad(flat, [[0, groups * group - total], [0, 0]]), [groups, group, read])
        spec = {n: tf.TensorSpec([None, d], tf.float32) for n, d in sizes.items()}
        out = tf.map_fn(lambda w: {n: tf.cast(v, tf.float32) for n, v in model(w, training=False).items()},
                        grouped, fn_output_signature=spec, parallel_iterations=1)
        per_window = {n: tf.reshape(tf.reshape(v, [-1, sizes[n]])[:total], [batch, count, sizes[n]])
                      for n, v in out.items()}
        seconds = tf.cast(starts, tf.float32) / float(sample_rate)
        layout = {"num_windows": tf.fill([batch], count),
                  "window_start_seconds": tf.tile(seconds[None], [batch, 1])}
        return per_window, layout
    return run


def build_archive(model: keras.Model, wp: windows_lib.WindowParams, tags_path: str,
                  config: params_lib.TagParams, sample_rate: int) -> keras.export.ExportArchive:
    """The ExportArchive with serving_default, embed and tag_windows (module docstring)."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    tag_table = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(  # assets/tags.txt
        tags_path, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE), "")
    archive.track(tag_table)
    run = _clip_graph(model, wp, config.window_batch, sample_rate)
    clip_spec = [tf.TensorSpec([None, None], tf.float32, name="waveform")]

    def serving_default(waveform):
        per_window, layout = run(waveform)
        clip = tf.reduce_mean(per_window["tags"], axis=1)
        top = tf.math.top_k(clip, k=min(config.top_k, clip.shape[-1]))
        return {artifacts.PROBABILITY_OUTPUTS["tags"]: clip, "taggram": per_window["tags"],
                "top_tags": tag_table.lookup(tf.cast(top.indices, tf.int64)), "top_scores": top.values, **layout}

    def embed(waveform):
        per_window, layout = run(waveform)
        out = {"num_windows": layout["num_windows"]}
        for name in EMBEDDINGS:
            out[name] = tf.reduce_mean(per_window[name], axis=1)
            out[f"{name}_per_window"] = per_window[name]
        return out

    def tag_windows(waveform):
        return {n: tf.cast(v, tf.float32) for n, v in model(waveform, training=False).items()}

    archive.add_endpoint("serving_default", serving_default, clip_spec)
    archive.signature_names = ("serving_default", "embed", "tag_windows")
    archive.add_endpoint("embed", embed, clip_spec)
    archive.add_endpoint("tag_windows", tag_windows,
                         [tf.TensorSpec([None, wp.read_samples], tf.float32, name="waveform")])
    return archive


def metadata(info: registry.PretrainedInfo, wp: windows_lib.WindowParams, signatures: Sequence[str]) -> dict:
    """musictag.json of a shipped model's export: what the tagger (backends) reads, plus provenance."""
    return {"format_version": artifacts.EXPORT_FORMAT_VERSION,
            "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "pretrained": info.name, "source": info.metadata.get("source", {}),
            "attribution": info.metadata.get("attribution", ""),
            "tags": list(info.tags), "heads": ["tags"], "sample_rate": info.params.audio_params().sample_rate,
            "chunk_samples": wp.read_samples, "hop_samples": wp.hop_samples, "max_tokens": 0,
            "windows": dataclasses.asdict(wp), "spec": {"lyrics": {}}, "signatures": list(signatures),
            "has_vocabulary": False}


def export_pretrained(name: str, export_dir: str, version: int = 0, overwrite: bool = False,
                      tflite_variants: Sequence[str] = tuple(v for v in artifacts.TFLITE_VARIANTS
                                                            if v not in artifacts.TFLITE_CALIBRATED_VARIANTS),
                      config: params_lib.TagParams = params_lib.TagParams()) -> Dict[str, object]:
    """Write shipped model ``name``'s SavedModel (TF Serving layout) and TFLite files.

    Returns {"saved_model": version dir, "tflite": {variant: path}, "metadata": dict}.
    Raises registry.UnknownModelError for an unknown name, ExportError for an existing version.
    """
    model, info = registry.load_pretrained(name)
    wp = musicnn_windows.window_params(info.params)
    base = os.path.join(export_dir, artifacts.SAVED_MODEL_SUBDIR)
    version = sm.choose_version(base, version, overwrite)
    final = os.path.join(base, str(version))
    partial = os.path.join(base, f".partial-{version}-{os.getpid()}")
    tf.io.gfile.makedirs(base)
    try:
        archive = build_archive(model, wp, str(info.directory / artifacts.TAGS_FILE), config,
                                info.params.audio_params().sample_rate)
        meta = metadata(info, wp, list(archive.signature_names))
        archive.write_out(partial, verbose=False)
        fileio.write_json_atomic(os.path.join(partial, *artifacts.EXPORT_METADATA), meta)
        if tf.io.gfile.exists(final):
            tf.io.gfile.rmtree(final)
        tf.io.gfile.rename(partial, final)
    finally:
        if tf.io.gfile.exists(partial):
            tf.io.gfile.rmtree(partial)
    written = {}
    if tflite_variants:
        out_dir = os.path.join(export_dir, artifacts.TFLITE_SUBDIR)
        os.makedirs(out_dir, exist_ok=True)
        work = os.path.join(out_dir, f".work-{os.getpid()}")
        try:
            for variant in tflite_variants:
                path = os.path.join(out_dir, artifacts.TFLITE_FILES[variant])
                fileio.write_atomic(path, pw.tflite_model(model, variant, work))
                written[variant] = path
        finally:
            shutil.rmtree(work, ignore_errors=True)
        fileio.write_json_atomic(os.path.join(out_dir, artifacts.METADATA_FILE), meta)
        shutil.copyfile(info.directory / artifacts.TAGS_FILE, os.path.join(out_dir, artifacts.TAGS_FILE))
    return {"saved_model": final, "tflite": written, "metadata": meta}
