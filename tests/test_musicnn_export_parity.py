"""The converted musicnn models through the window SavedModel and TFLite (issue 12, item 3).

float32 runtimes (SavedModel, TFLite float32): the Keras bounds (clip 0.02, rows 0.05, the
same top-5). Dynamic-range int8 and float16 TFLite: clip scores within 0.05 and >= 4 of the
top 5 on every reference file with >= 3 patches. Slow: ~1.5 min per model (conversion and
~300 single-window TFLite calls per runtime), so one model per architecture is exported here
(mtt_musicnn, mtt_vgg): msd_musicnn has mtt_musicnn's graph and export path with other weights,
and its weights are checked against the original in Keras (test_musicnn_parity.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED_DATA
from export import pretrained_window as pw
from musictag_tf.model.pretrained import parity
from musictag_tf.model.pretrained.registry import load_pretrained

REFERENCE = SHARED_DATA / "results" / "musicnn_reference.json"
FLOAT_BOUNDS = {"clip": 0.02, "row": 0.05, "top5": 5}
QUANTIZED_BOUNDS = {"clip": 0.05, "row": None, "top5": 4}


@pytest.fixture(scope="module")
def reference() -> dict:
    if not REFERENCE.exists():
        pytest.skip(f"musicnn reference not available: {REFERENCE} (../shared/data absent)")
    return parity.load_reference(REFERENCE)


def _check(name, run, reference, bounds) -> list:
    failures, checked = [], 0
    for relative, _, n, dev in parity.measure(name, run, reference, SHARED_DATA / "audio"):
        if dev is None or n < parity.MIN_PATCHES:
            continue
        checked += 1
        if (dev.clip_max_abs > bounds["clip"] or dev.top_k_overlap < bounds["top5"]
                or (bounds["row"] is not None and dev.row_max_abs > bounds["row"])):
            failures.append((relative, dev))
    assert checked >= 8
    return failures


EXPORTED = ("mtt_musicnn", "mtt_vgg")  # one per architecture (module docstring)


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPORTED)
def test_exported_runtimes_match_original(name, reference, tmp_path):
    model, _ = load_pretrained(name)
    saved = str(tmp_path / "saved_model")
    pw.write_window_saved_model(model, saved)
    failures = {"saved_model": _check(name, lambda w: pw.run_saved_model(saved, w)["tags"], reference,
                                      FLOAT_BOUNDS)}
    for variant in ("float32", "dynamic_int8", "float16"):
        flat = pw.tflite_model(model, variant, str(tmp_path))
        outputs = pw.run_tflite_windows(flat, np.zeros((1, 48128), np.float32))
        assert set(outputs) == {"tags", "embedding_pooled", "embedding_penultimate"}
        bounds = FLOAT_BOUNDS if variant == "float32" else QUANTIZED_BOUNDS
        failures[variant] = _check(name, lambda w, f=flat: pw.run_tflite_windows(f, w)["tags"], reference, bounds)
    assert not any(failures.values()), failures
