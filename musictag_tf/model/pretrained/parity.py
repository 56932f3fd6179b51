"""Compare our pretrained models with the original musicnn's outputs.

The reference (``shared/data/results/musicnn_reference.json``) holds, per original model
(``MTT_musicnn``, ``MSD_musicnn``, ``MTT_vgg``), its ``labels`` and per recording (path
relative to ``shared/data/audio``) ``n_patches``, ``taggram`` [patches x 50] and ``mean``.

    python -m musictag_tf.model.pretrained.parity --reference=../shared/data/results/musicnn_reference.json

prints, per model and file, the deviations of the Keras model (the numbers in BUILD_NOTES.md).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Callable, Dict, Iterator

import numpy as np

# our shipped name -> the original's model name in the reference
REFERENCE_NAMES = {"mtt_musicnn": "MTT_musicnn", "msd_musicnn": "MSD_musicnn", "mtt_vgg": "MTT_vgg"}
MIN_PATCHES = 3  # files the parity bounds apply to (issue 12)
TOP_K = 5


@dataclasses.dataclass(frozen=True)
class Deviation:
    """How far one file's taggram is from the reference."""

    clip_max_abs: float  # max over tags of |mean over patches - reference mean|
    row_max_abs: float  # max over patches and tags of |taggram - reference taggram|
    top_k_overlap: int  # size of the intersection of the two top-k tag sets
    top_k_same_order: bool  # the top-k tags in the same order


def top_k(scores: np.ndarray, k: int = TOP_K) -> list:
    """Indices of the k highest scores, highest first (stable for ties)."""
    return list(np.argsort(-np.asarray(scores), kind="stable")[:k])


def deviation(taggram: np.ndarray, reference_taggram, reference_mean) -> Deviation:
    """Compare our ``taggram`` [patches, tags] with the reference's (same patches, same tags)."""
    ours = np.asarray(taggram, dtype=np.float64)
    ref = np.asarray(reference_taggram, dtype=np.float64)
    if ours.shape != ref.shape:
        raise ValueError(f"taggram shapes differ: ours {ours.shape}, reference {ref.shape}")
    ours_top, ref_top = top_k(ours.mean(axis=0)), top_k(np.asarray(reference_mean))
    return Deviation(clip_max_abs=float(np.abs(ours.mean(axis=0) - np.asarray(reference_mean)).max()),
                     row_max_abs=float(np.abs(ours - ref).max()),
                     top_k_overlap=len(set(ours_top) & set(ref_top)),
                     top_k_same_order=ours_top == ref_top)


def load_reference(path) -> dict:
    return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))


def reference_files(reference: dict, name: str) -> Dict[str, dict]:
    """``{relative audio path: entry}`` of the reference for our model ``name``."""
    return reference["models"][REFERENCE_NAMES[name]]["files"]


def measure(name: str, run_windows: Callable[[np.ndarray], np.ndarray], reference: dict,
            audio_dir: pathlib.Path) -> Iterator[tuple]:
    """Yield ``(file, n_patches ours, n_patches reference, Deviation or None)`` per reference file.

    ``run_windows``: float32 [n, 48128] -> tag probabilities [n, 50]. Deviation is None for
    files the original could not tag (n_patches 0).
    """
    from musictag_tf.audio.io import load_audio
    from musictag_tf.model.musicnn_windows import musicnn_windows, num_patches

    for relative, entry in reference_files(reference, name).items():
        waveform = load_audio(audio_dir / relative)
        ours = num_patches(waveform.shape[0])
        result = None
        if entry["n_patches"] > 0:
            result = deviation(run_windows(musicnn_windows(waveform)), entry["taggram"], entry["mean"])
        yield relative, ours, entry["n_patches"], result


def main(argv):
    from absl import flags

    from musictag_tf.model.pretrained.registry import load_pretrained

    del argv
    f = flags.FLAGS
    reference_path = pathlib.Path(f.reference)
    reference = load_reference(reference_path)
    audio_dir = reference_path.parent.parent / "audio"
    print("| model | file | patches | clip max-abs | row max-abs | top-5 overlap | same order |")
    print("|---|---|---|---|---|---|---|")
    for name in REFERENCE_NAMES:
        model, _ = load_pretrained(name)
        run = lambda w: model.predict(w, batch_size=8, verbose=0)["tags"]  # noqa: E731
        for relative, ours, theirs, dev in measure(name, run, reference, audio_dir):
            if dev is None:
                print(f"| {name} | {relative} | {ours}/{theirs} | - | - | - | - |")
            else:
                print(f"| {name} | {relative} | {ours}/{theirs} | {dev.clip_max_abs:.2e} | "
                      f"{dev.row_max_abs:.2e} | {dev.top_k_overlap}/5 | {dev.top_k_same_order} |")


def run():
    from absl import app, flags

    flags.DEFINE_string("reference", "../shared/data/results/musicnn_reference.json",
                        "musicnn_reference.json; the audio is read from ../audio beside its folder")
    app.run(main)


if __name__ == "__main__":
    run()
