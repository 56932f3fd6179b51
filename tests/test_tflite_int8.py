"""Full-integer int8 TFLite (export/tflite.py variant ``int8``) on the tiny cnn_sam.

What must hold: builtin ops only; the network's convolutions and dense layers really run in int8
(int8 weights, int8 activations, int32 bias) while the log-mel front end, the adaptive
segmentation and the BiLSTM stay float32 as ``Int8Params.float_layers`` says; outputs close to
float32; the non-finite guard and the lyrics-id rule unchanged; and int8 is refused without
calibration windows. Speed and accuracy on a trained model: benchmarks/bench_int8.py and the slow
test in test_export.py.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from export import saved_model as sm
from export import tflite
from musictag_tf import params as P
from musictag_tf.errors import ExportError

from conftest import check_window_model_bad_input, make_model_dir

SR = 16000


def _windows(spec, n: int, seed: int) -> tuple:
    """Tone mixtures with noise at several levels, float32 [n, chunk]; random lyrics ids [n, tokens]."""
    rng = np.random.default_rng(seed)
    t = np.arange(spec.chunk_samples) / SR
    waves = []
    for _ in range(n):
        freqs = rng.uniform(60, 4000, 3)
        wave = sum(rng.uniform(0.05, 0.3) * np.sin(2 * np.pi * f * t * (1 + 0.05 * t)) for f in freqs)
        wave = wave * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.5, 4) * t) ** 2)
        waves.append(rng.uniform(0.1, 1.0) * wave + rng.uniform(0.001, 0.05) * rng.standard_normal(t.shape))
    ids = np.zeros((n, spec.lyrics.max_tokens), np.int32)
    for row in range(0, n, 2):  # half the windows have lyrics
        ids[row, :8] = rng.integers(2, spec.vocab_size, 8)
    return np.stack(waves).astype(np.float32), ids


@pytest.fixture(scope="module")
def int8_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("int8")
    spec, _ = make_model_dir(root / "run")
    source = sm.load_model_source(str(root / "run"))
    waves, ids = _windows(spec, 24, seed=1)
    calibration = tflite.Calibration(waves, ids, "synthetic tones")
    models = tflite.export_tflite(source, str(root / "tflite"), variants=("float32", "int8"),
                                  calibration=calibration)
    return {"spec": spec, "source": source, "models": {m.variant: m for m in models}, "dir": root / "tflite"}


def test_int8_is_builtin_only_and_its_network_runs_in_int8(int8_export):
    model = int8_export["models"]["int8"]
    assert tflite.non_builtin_ops(model.ops) == [] and "RFFT2D" in model.ops
    meta = json.loads((int8_export["dir"] / "musictag.json").read_text(encoding="utf-8"))["tflite"]["int8"]
    types = tflite.op_types(model.path)
    assert meta["ops"] == model.ops and meta["op_types"] == types
    assert meta["float_layers"] == ["log_mel", "adaptive_segments", "bilstm"]
    assert meta["calibration"] == {"source": "synthetic tones", "windows": 24}
    # the convolutions and dense layers run int8 kernels; the front end's ops stay float
    assert types["CONV_2D"].get("int8", 0) >= 6 and types["FULLY_CONNECTED"].get("int8", 0) >= 2
    assert types["RFFT2D"] == {"complex64": 1} and "int8" not in types["LOG"]
    assert meta["summary"]["int8_ops"] > 0 and meta["summary"]["quantize"] > 0

    it = tflite.interpreter(model.path, default_delegates=False)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    int8_convs = 0
    for op in it._get_ops_details():
        outputs = [tensors[i] for i in op["outputs"]]
        names = " ".join(t["name"] for t in outputs)
        dtypes = {np.dtype(t["dtype"]).name for t in outputs}
        float_layer = any(f"/{scope}" in names for scope in ("log_mel", "adaptive_segments", "bilstm"))
        # Data movement may carry int8 values into a float layer (the MLIR quantizer cannot denylist
        # multi-output ops such as UNPACK / SPLIT by name); it does no arithmetic. QUANTIZE is the
        # border into int8, named after its input.
        if float_layer and op["op_name"] not in tflite.DATA_MOVEMENT_OPS + ("QUANTIZE",):
            assert "int8" not in dtypes, (op["op_name"], names)  # float layers stay float
        if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED") and "int8" in dtypes:
            inputs = [tensors[i] for i in op["inputs"] if i >= 0]
            assert [np.dtype(t["dtype"]).name for t in inputs[:2]] == ["int8", "int8"], names  # activation, weights
            if len(inputs) > 2:
                assert np.dtype(inputs[2]["dtype"]).name == "int32"  # bias
            assert outputs[0]["quantization_parameters"]["scales"].size >= 1
            int8_convs += op["op_name"] == "CONV_2D"
    assert int8_convs == types["CONV_2D"]["int8"]


def test_int8_outputs_are_close_to_float32(int8_export):
    spec, models = int8_export["spec"], int8_export["models"]
    waves, ids = _windows(spec, 6, seed=2)  # not the calibration windows
    f32 = tflite.run_tflite(models["float32"].path, waves, ids)
    int8 = tflite.run_tflite(models["int8"].path, waves, ids)
    assert set(int8) == set(f32)
    np.testing.assert_array_equal(int8[tflite.VALID_OUTPUT], 1.0)
    diff = tflite.max_abs_difference(f32, int8)
    print(diff)
    # heads within 0.01 (measured 1.8e-3); the attention outputs (explanations, not scores: weights
    # in [0, 1], segment bounds in seconds) within 0.05 (measured 0.021 and 0.009 s)
    for name, value in diff.items():
        assert value < (0.05 if name.startswith("attention") else 0.01), (name, value)
    # not trivially equal: the model really changed precision
    assert max(diff.values()) > 1e-6


def test_int8_zeroes_non_finite_samples_flags_them_and_maps_ids(int8_export):
    spec = int8_export["spec"]
    run = tflite.WindowRunner(int8_export["models"]["int8"].path)
    check_window_model_bad_input(run, spec, _windows(spec, 1, seed=3)[0])


def test_int8_needs_calibration_windows(int8_export, tmp_path):
    with pytest.raises(ExportError, match="calibration"):
        tflite.export_tflite(int8_export["source"], str(tmp_path), variants=("int8",))
    with pytest.raises(ValueError, match="convert_int8"):
        tflite.convert(str(tmp_path), "int8")
    assert not list(tmp_path.iterdir())


def test_calibration_windows_come_from_the_training_split(tiny_records):
    from musictag_tf.data import manifest as manifest_lib
    from conftest import tiny_spec
    manifest = manifest_lib.read_manifest(tiny_records)
    spec = tiny_spec()
    spec = dataclasses.replace(spec, lyrics=dataclasses.replace(
        spec.lyrics, max_tokens=manifest.lyrics_params().max_tokens))
    params = P.Int8Params(calibration_windows=10, calibration_windows_per_clip=2)
    cal = tflite.calibration_windows(tiny_records, spec, "train", params)
    assert cal.waveforms.shape == (10, spec.chunk_samples) and cal.waveforms.dtype == np.float32
    assert cal.lyrics_ids.shape == (10, spec.lyrics.max_tokens) and cal.lyrics_ids.dtype == np.int32
    assert np.all(np.isfinite(cal.waveforms)) and cal.waveforms.std() > 1e-3 and "[train]" in cal.source
    with pytest.raises(ExportError, match="the model takes"):
        tflite.calibration_windows(tiny_records, tiny_spec(), "train", params)  # 16 tokens, records 32
    with pytest.raises(ExportError, match="no nonexistent shards"):
        tflite.calibration_windows(tiny_records, spec, "nonexistent", params)
