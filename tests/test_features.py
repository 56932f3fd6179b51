"""The in-graph log-mel front end against librosa, TFLite and Keras serialization."""

from __future__ import annotations

import collections
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from musictag_tf.audio import features
from musictag_tf.audio.features import (MFCC, LogMelSpectrogram, compute_log_mel, log_mel_spectrogram,
                                        mel_filterbank, mfcc_from_log_mel, power_mel_spectrogram,
                                        pre_emphasis, resolve_stft_impl)
from musictag_tf.audio.io import load_audio
from musictag_tf.params import AudioParams, ConfigError

librosa = pytest.importorskip("librosa")

PARAMS = AudioParams()
IMPLS = ("rfft", "matmul")

# Tolerances against librosa (float64 reference, same pre-emphasis, zero padding, periodic
# Hann, slaney mel, log10(1 + 10000 x)). Measured worst cases of float32 over the 15 real
# recordings (TF 2.21, both impls): log-mel 4.8e-6 abs; power-mel relative error 1.2e-4
# where mel > 1e-6 and 8e-6 where mel > 1e-3 (float32 FFT error is relative to the frame
# energy, so weak bins next to loud ones carry more relative error). The bounds below leave
# about 4x headroom.
LOG_MEL_ATOL = 2e-5
POWER_REL_TOL_ABOVE_1E6 = 5e-4
POWER_REL_TOL_ABOVE_1E3 = 3e-5


def _librosa_power_mel(y: np.ndarray, params: AudioParams) -> np.ndarray:
    """float64 [frames, n_mels] mel power computed by librosa with our settings."""
    y = y.astype(np.float64)
    if params.apply_pre_emphasis:
        y = librosa.effects.preemphasis(y, coef=params.pre_emphasis, zi=[0.0])  # X[-1] = 0
    return librosa.feature.melspectrogram(
        y=y, sr=params.sample_rate, n_fft=params.window_samples, hop_length=params.hop_samples,
        window="hann", center=params.center, pad_mode="constant", power=2.0,
        n_mels=params.n_mels, fmin=params.fmin_hz, fmax=params.fmax_hz, htk=False,
        norm="slaney").T


@pytest.fixture(scope="module")
def real_waveforms(real_audio_files):
    """The MTAT clip, every short real recording, and 10 s of one JamendoLyrics song."""
    waves = {}
    for path in real_audio_files:
        is_jamendo = "jamendolyrics" in path.parts
        if is_jamendo and any("jamendolyrics" in k for k in waves):
            continue
        waves[str(path.relative_to(path.parents[1]))] = load_audio(
            path, PARAMS.sample_rate, max_seconds=10.0 if is_jamendo else 30.0)
    return waves


# ---- pre-emphasis ---------------------------------------------------------------------

def test_pre_emphasis_formula_and_librosa():
    x = np.random.default_rng(0).standard_normal((3, 1000)).astype(np.float32)
    y = pre_emphasis(x, 0.97).numpy()
    expected = x - 0.97 * np.concatenate([np.zeros((3, 1), np.float32), x[:, :-1]], axis=1)
    np.testing.assert_allclose(y, expected, atol=1e-6)
    assert y[0, 0] == x[0, 0]  # X[-1] = 0
    ref = librosa.effects.preemphasis(x[1].astype(np.float64), coef=0.95, zi=[0.0])
    np.testing.assert_allclose(pre_emphasis(x[1], 0.95).numpy(), ref, atol=1e-6)


def test_pre_emphasis_rejects_bad_input():
    for bad in (0.9, 0.98, 1.0):
        with pytest.raises(ConfigError):
            pre_emphasis(np.zeros(10, np.float32), bad)
    with pytest.raises(TypeError):
        pre_emphasis(np.zeros(10, np.int32))


# ---- mel filterbank -------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    PARAMS,
    AudioParams(sample_rate=22050, window_samples=1024, hop_samples=512, n_mels=128,
                fmin_hz=30.0, fmax_hz=11025.0),
    AudioParams(n_mels=40, fmin_hz=100.0, fmax_hz=4000.0, n_mfcc=13),
])
def test_slaney_filterbank_equals_librosa(params):
    ours = mel_filterbank(params)
    ref = librosa.filters.mel(sr=params.sample_rate, n_fft=params.window_samples,
                              n_mels=params.n_mels, fmin=params.fmin_hz, fmax=params.fmax_hz,
                              htk=False, norm="slaney", dtype=np.float64).T
    assert ours.shape == (params.n_fft_bins, params.n_mels) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)


def test_htk_filterbank_peaks_on_the_htk_scale():
    params = AudioParams(mel_scale="htk")
    matrix = mel_filterbank(params)
    assert matrix.shape == (params.n_fft_bins, params.n_mels) and matrix.dtype == np.float32
    hz_per_bin = params.sample_rate / params.window_samples
    mel = np.linspace(0, 2595 * np.log10(1 + params.fmax_hz / 700), params.n_mels + 2)
    centres_hz = 700 * (10 ** (mel[1:-1] / 2595) - 1)
    peaks_hz = matrix.argmax(axis=0) * hz_per_bin
    assert np.all(np.abs(peaks_hz - centres_hz) <= hz_per_bin)
    assert not np.allclose(matrix, mel_filterbank(PARAMS))


# ---- log-mel against librosa ----------------------------------------------------------

@pytest.mark.parametrize("impl", IMPLS)
def test_log_mel_matches_librosa_on_real_audio(real_waveforms, impl):
    params = dataclasses.replace(PARAMS, stft_impl=impl)
    assert len(real_waveforms) >= 10
    for name, y in real_waveforms.items():
        ref_power = _librosa_power_mel(y, params)
        ref_log = np.log10(1 + params.log_multiplier * ref_power)
        power = power_mel_spectrogram(y, params).numpy()
        log_mel = log_mel_spectrogram(y, params).numpy()
        assert log_mel.dtype == np.float32
        assert log_mel.shape == ref_log.shape == (params.num_frames(len(y)), params.n_mels), name
        assert np.max(np.abs(log_mel - ref_log)) <= LOG_MEL_ATOL, name
        for floor, tol in ((1e-6, POWER_REL_TOL_ABOVE_1E6), (1e-3, POWER_REL_TOL_ABOVE_1E3)):
            mask = ref_power > floor
            rel = np.abs(power[mask] - ref_power[mask]) / ref_power[mask]
            assert rel.max() <= tol, (name, floor, rel.max())


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("center", [True, False])
def test_frame_count_equals_librosa(impl, center):
    params = dataclasses.replace(PARAMS, stft_impl=impl, center=center)
    rng = np.random.default_rng(1)
    for n in (100, 255, 256, 511, 512, 513, 1000, 16000, 16001):
        if not center and n < params.window_samples:
            # librosa refuses; we pad to one window so the count is still params.num_frames
            assert log_mel_spectrogram(rng.standard_normal(n), params).shape[0] == params.num_frames(n) == 1
            continue
        y = (0.1 * rng.standard_normal(n)).astype(np.float32)
        ref = np.log10(1 + params.log_multiplier * _librosa_power_mel(y, params))
        ours = log_mel_spectrogram(y, params).numpy()
        assert ours.shape == ref.shape == (params.num_frames(n), params.n_mels), n
        np.testing.assert_allclose(ours, ref, atol=LOG_MEL_ATOL)


def test_impls_agree_and_auto_resolves_to_rfft(mtat_clip):
    y = load_audio(mtat_clip, PARAMS.sample_rate)
    by_impl = {impl: log_mel_spectrogram(y, dataclasses.replace(PARAMS, stft_impl=impl)).numpy()
               for impl in ("rfft", "matmul", "auto")}
    np.testing.assert_allclose(by_impl["rfft"], by_impl["matmul"], atol=1e-5)
    np.testing.assert_array_equal(by_impl["auto"], by_impl["rfft"])
    assert resolve_stft_impl("auto") == features.AUTO_STFT_IMPL == "rfft"
    with pytest.raises(ConfigError):
        resolve_stft_impl("fft")


def test_batched_equals_single_and_input_dtype_is_cast():
    rng = np.random.default_rng(2)
    batch = (0.3 * rng.standard_normal((3, 8000))).astype(np.float32)
    out = log_mel_spectrogram(batch).numpy()
    assert out.shape == (3, PARAMS.num_frames(8000), PARAMS.n_mels)
    for i in range(3):
        np.testing.assert_allclose(out[i], log_mel_spectrogram(batch[i]).numpy(), atol=1e-6)
    as_f64 = log_mel_spectrogram(batch.astype(np.float64))
    assert as_f64.dtype == tf.float32
    np.testing.assert_allclose(as_f64.numpy(), out, atol=1e-6)
    with pytest.raises(ValueError, match="samples"):
        log_mel_spectrogram(np.zeros((2, 2, 100), np.float32))


def test_pre_emphasis_switch_changes_the_output():
    y = (0.3 * np.random.default_rng(3).standard_normal(4000)).astype(np.float32)
    plain = dataclasses.replace(PARAMS, apply_pre_emphasis=False)
    ref = np.log10(1 + 1e4 * _librosa_power_mel(y, plain))
    np.testing.assert_allclose(log_mel_spectrogram(y, plain).numpy(), ref, atol=LOG_MEL_ATOL)
    assert np.abs(log_mel_spectrogram(y, PARAMS).numpy() - ref).max() > 0.1


def test_compute_log_mel_is_the_same_graph(mtat_clip):
    y = load_audio(mtat_clip, PARAMS.sample_rate)
    eager = compute_log_mel(y, PARAMS)
    assert eager.dtype == np.float32 and eager.shape == (1821, 96)
    # same ops; graph mode (grappler) and eager kernels round differently by ~1 ulp
    np.testing.assert_allclose(eager, log_mel_spectrogram(y, PARAMS).numpy(), rtol=1e-5, atol=1e-6)
    half = compute_log_mel(y[:16000], PARAMS, dtype=np.float16)  # another length: no retrace error
    assert half.dtype == np.float16 and half.shape == (PARAMS.num_frames(16000), 96)
    # frames whose window lies inside the first second are the same (the last one reaches past
    # sample 16000, into the zero padding of the shorter input)
    np.testing.assert_allclose(half[:-1], eager[:half.shape[0] - 1], atol=2e-3)
    with pytest.raises(ValueError):
        compute_log_mel(y, PARAMS, dtype=np.int16)


# ---- MFCC -----------------------------------------------------------------------------

def test_mfcc_matches_scipy_dct(mtat_clip):
    scipy_fft = pytest.importorskip("scipy.fft")
    params = AudioParams(n_mfcc=20)
    log_mel = log_mel_spectrogram(load_audio(mtat_clip, params.sample_rate)[None, :], params)
    ours = mfcc_from_log_mel(log_mel, params).numpy()
    ref = scipy_fft.dct(log_mel.numpy().astype(np.float64), type=2, norm="ortho", axis=-1)[..., :20]
    assert ours.shape == (1, 1821, 20) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=2e-5)
    layer_out = MFCC(params)(log_mel)
    np.testing.assert_array_equal(layer_out.numpy(), ours)
    with pytest.raises(ValueError, match="mel bins"):
        mfcc_from_log_mel(tf.zeros([1, 5, 40]), params)


# ---- Keras layer ----------------------------------------------------------------------

def test_layer_output_shape_is_static():
    layer = LogMelSpectrogram(PARAMS)
    assert layer.compute_output_shape((None, 128000)) == (None, 501, 96)
    assert layer.compute_output_shape((4, None)) == (4, None, 96)
    symbolic = layer(keras.Input((128000,)))
    assert tuple(symbolic.shape) == (None, 501, 96)
    assert MFCC(PARAMS).compute_output_shape((None, 501, 96)) == (None, 501, 20)


def test_layer_stays_float32_under_mixed_precision():
    y = (0.3 * np.random.default_rng(4).standard_normal((2, 16000))).astype(np.float32)
    expected = LogMelSpectrogram(PARAMS)(y).numpy()
    previous = keras.mixed_precision.global_policy()
    try:
        for policy in ("mixed_float16", "mixed_bfloat16"):
            keras.mixed_precision.set_global_policy(policy)
            layer = LogMelSpectrogram(PARAMS)
            mfcc = MFCC(PARAMS)
            assert layer.compute_dtype == "float32" and mfcc.compute_dtype == "float32"
            out = layer(y)
            assert out.dtype == "float32"
            np.testing.assert_array_equal(np.asarray(out), expected)
            assert mfcc(out).dtype == "float32"
            # a model whose other layers run in float16 still gets a float32 front end
            inputs = keras.Input((16000,))
            model = keras.Model(inputs, keras.layers.Dense(3)(layer(inputs)))
            assert model.layers[1].output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert keras.mixed_precision.global_policy().name == previous.name


def test_layer_config_round_trip():
    params = AudioParams(n_mels=64, mel_scale="htk", stft_impl="matmul", pre_emphasis=0.95, n_mfcc=13)
    for cls in (LogMelSpectrogram, MFCC):
        layer = cls(params, name="front")
        config = keras.saving.serialize_keras_object(layer)
        assert config["registered_name"] == f"musictag>{cls.__name__}"
        clone = keras.saving.deserialize_keras_object(config)
        assert type(clone) is cls and clone.params == params and clone.name == "front"
    from_dict_layer = LogMelSpectrogram(dataclasses.asdict(params))
    assert from_dict_layer.params == params
    with pytest.raises(TypeError):
        LogMelSpectrogram("slaney")


def test_keras_file_round_trip_gives_identical_output(tmp_path):
    params = AudioParams(stft_impl="matmul")
    inputs = keras.Input((8000,))
    log_mel = LogMelSpectrogram(params)(inputs)
    model = keras.Model(inputs, [log_mel, MFCC(params)(log_mel)])
    path = tmp_path / "front.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    y = (0.3 * np.random.default_rng(5).standard_normal((2, 8000))).astype(np.float32)
    for a, b in zip(model(y), restored(y)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert restored.layers[1].params == params


# ---- TFLite ---------------------------------------------------------------------------

def _tflite_model(params: AudioParams, samples: int) -> bytes:
    layer = LogMelSpectrogram(params)
    fn = tf.function(lambda w: layer(w), input_signature=[tf.TensorSpec([None, samples], tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], layer)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # builtins only
    return converter.convert()


@pytest.mark.parametrize("impl, spectrum_op", [("auto", "RFFT2D"), ("matmul", "FULLY_CONNECTED")])
def test_tflite_builtins_convert_and_match_tf(mtat_clip, impl, spectrum_op):
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    params = dataclasses.replace(PARAMS, stft_impl=impl)
    samples = 8 * params.sample_rate  # ModelParams.chunk_seconds
    model = _tflite_model(params, samples)
    interpreter = litert.Interpreter(
        model_content=model,
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    waveform = load_audio(mtat_clip, params.sample_rate)
    batch = np.stack([waveform[:samples], waveform[-samples:]])
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, batch.shape)
    interpreter.allocate_tensors()
    ops = collections.Counter(op["op_name"] for op in interpreter._get_ops_details())
    assert spectrum_op in ops and "FlexRFFT" not in ops and not any(o.startswith("Flex") for o in ops)
    interpreter.set_tensor(index, batch)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    expected = log_mel_spectrogram(batch, params).numpy()
    assert out.shape == expected.shape == (2, 501, 96)
    np.testing.assert_allclose(out, expected, atol=2e-5)
