"""Parity of the converted musicnn models with the original musicnn 0.1.0 (issue 12).

The reference taggrams were produced by the original TF1 code on the real recordings in
../shared/data/audio (SOURCES.md, results/musicnn_reference.json). Bounds, on every file
with >= 3 patches: clip scores within 0.02 (max abs over the 50 tags), the same top-5 tag
set, every taggram row within 0.05. Measured maxima are ~1e-5 (BUILD_NOTES.md).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from conftest import SHARED_DATA
from musictag_tf.audio.io import load_audio
from musictag_tf.model.musicnn_windows import musicnn_windows, num_patches
from musictag_tf.model.pretrained import parity
from musictag_tf.model.pretrained.registry import load_pretrained

REFERENCE = SHARED_DATA / "results" / "musicnn_reference.json"
CLIP_BOUND, ROW_BOUND = 0.02, 0.05


@pytest.fixture(scope="module")
def reference() -> dict:
    if not REFERENCE.exists():
        pytest.skip(f"musicnn reference not available: {REFERENCE} (../shared/data absent)")
    return parity.load_reference(REFERENCE)


@functools.lru_cache(maxsize=None)
def _model(name: str):
    return load_pretrained(name)


@functools.lru_cache(maxsize=None)
def _waveform(relative: str) -> np.ndarray:
    return load_audio(SHARED_DATA / "audio" / relative)


@pytest.mark.parametrize("name", sorted(parity.REFERENCE_NAMES))
def test_keras_model_matches_original(name, reference):
    model, info = _model(name)
    assert list(info.tags) == reference["models"][parity.REFERENCE_NAMES[name]]["labels"]
    checked, failures = 0, []
    for relative, entry in parity.reference_files(reference, name).items():
        waveform = _waveform(relative)
        assert num_patches(waveform.shape[0]) == entry["n_patches"], relative
        if entry["n_patches"] < parity.MIN_PATCHES:
            continue
        windows = musicnn_windows(waveform)
        assert windows.shape == (entry["n_patches"], info.params.window_samples)
        taggram = model.predict(windows, batch_size=8, verbose=0)["tags"]
        dev = parity.deviation(taggram, entry["taggram"], entry["mean"])
        checked += 1
        if dev.clip_max_abs > CLIP_BOUND or dev.row_max_abs > ROW_BOUND or dev.top_k_overlap < 5:
            failures.append((relative, dev))
    assert checked >= 8, f"only {checked} reference files with >= {parity.MIN_PATCHES} patches"
    assert not failures, failures


def test_short_file_gets_one_padded_window_with_finite_scores(reference):
    # medley_solos_db excerpt: 2.97 s, shorter than one 187-frame patch (the original tags nothing)
    relative = next(r for r, e in parity.reference_files(reference, "mtt_musicnn").items()
                    if r.startswith("mirdata/medley_solos_db"))
    waveform = _waveform(relative)
    assert num_patches(waveform.shape[0]) == 0
    windows = musicnn_windows(waveform)
    assert windows.shape == (1, 48128)
    np.testing.assert_array_equal(windows[0, 256:256 + waveform.shape[0]], waveform)
    assert not windows[0, :256].any() and not windows[0, 256 + waveform.shape[0]:].any()
    model, _ = _model("mtt_musicnn")
    out = model.predict(windows, verbose=0)
    assert out["tags"].shape == (1, 50) and np.isfinite(out["tags"]).all()
    assert ((out["tags"] > 0) & (out["tags"] < 1)).all()
    assert out["embedding_pooled"].shape == (1, 1506) and out["embedding_penultimate"].shape == (1, 200)


def test_our_loader_gives_librosa_load_samples():
    """musicnn used librosa.load(sr=16000) (soxr_hq); ours decodes with libsndfile + soxr HQ."""
    librosa = pytest.importorskip("librosa")
    for relative in ("mtat/joram-moments_of_clarity-08-solipsism-59-88.mp3",
                     "librosa/sorohanro_-_solo-trumpet-06.ogg"):
        path = SHARED_DATA / "audio" / relative
        if not path.exists():
            pytest.skip(f"real data not available: {path}")
        expected, _ = librosa.load(path, sr=16000)
        ours = load_audio(path)
        assert ours.shape == expected.shape
        np.testing.assert_allclose(ours, expected, atol=1e-6, rtol=0)
