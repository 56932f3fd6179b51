"""The musicnn port without the original's outputs: checkpoint mapping, shipped files,
windowing and the front end against librosa (issue 12)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from conftest import SHARED_DATA
from musictag_tf.audio.features import log_mel_spectrogram
from musictag_tf.model import musicnn
from musictag_tf.model.musicnn_windows import musicnn_windows, num_patches, window_starts
from musictag_tf.model.pretrained import convert, named_weights, registry
from musictag_tf.params import MusicnnParams

VGG = MusicnnParams(architecture="vgg")


def _fake_checkpoint_tensors(model, layer_map) -> dict:
    """Checkpoint-style ``{"<scope>/<var>": array}`` for ``model``'s weights (inverse map)."""
    scope_of = {layer: scope for scope, layer in layer_map.items()}
    tensors = {}
    for key, value in named_weights.named_weights(model).items():
        layer, var = key.split("/")
        if key in convert.SQUEEZED_KERNELS:
            value = value[:, :, None, :]
        tensors[f"{scope_of[layer]}/{var}"] = value
    return tensors


def _write_checkpoint(prefix: str, tensors: dict) -> None:
    """A name-based TF checkpoint as TF1's Saver wrote them (SaveV2, no graph)."""
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])


@pytest.fixture(scope="module")
def vgg_model():
    model = musicnn.build_musicnn_vgg(VGG)
    rng = np.random.default_rng(0)
    for w in model.weights:
        w.assign(rng.normal(size=w.shape).astype(np.float32))
    return model


def test_checkpoint_round_trip_ignores_only_optimizer_state(tmp_path, vgg_model):
    tensors = _fake_checkpoint_tensors(vgg_model, convert.LAYER_MAPS["vgg"])
    with_optimizer = dict(tensors, beta1_power=np.float32(0.9), beta2_power=np.float32(0.999))
    with_optimizer.update({f"{k}/Adam": v for k, v in tensors.items()})
    with_optimizer.update({f"{k}/Adam_1": v for k, v in tensors.items()})
    prefix = str(tmp_path / "ckpt") + "/"
    _write_checkpoint(prefix, with_optimizer)
    read = convert.read_checkpoint(prefix)
    assert sorted(read) == sorted(tensors)
    arrays = convert.checkpoint_to_named_weights(read, musicnn.build_musicnn_vgg(VGG), convert.LAYER_MAPS["vgg"])
    expected = named_weights.named_weights(vgg_model)
    assert sorted(arrays) == sorted(expected)
    for key in expected:
        np.testing.assert_array_equal(arrays[key], expected[key])


def test_musicnn_map_covers_every_weight_with_squeezed_midend_kernels():
    model = musicnn.build_musicnn()
    tensors = _fake_checkpoint_tensors(model, convert.LAYER_MAPS["musicnn"])
    assert tensors["conv2d_5/kernel"].shape == (7, 561, 1, 64)  # as in the original checkpoint
    arrays = convert.checkpoint_to_named_weights(tensors, model, convert.LAYER_MAPS["musicnn"])
    assert len(arrays) == len(model.weights) == 64


@pytest.mark.parametrize("change, message", [
    ("extra", "checkpoint tensors mapped to no model weight: ['conv2d_9/kernel']"),
    ("missing", "model weights with no checkpoint tensor: ['tags_logits/bias']"),
    ("shape", "shape mismatches: ['1CNN/bias (127,) -> vgg_1_conv/bias (128,)']"),
])
def test_mapping_fails_loudly(vgg_model, change, message):
    tensors = _fake_checkpoint_tensors(vgg_model, convert.LAYER_MAPS["vgg"])
    if change == "extra":
        tensors["conv2d_9/kernel"] = np.zeros((3, 3, 1, 1), np.float32)
    elif change == "missing":
        del tensors["dense/bias"]
    else:
        tensors["1CNN/bias"] = tensors["1CNN/bias"][:127]
    with pytest.raises(convert.CheckpointMappingError) as error:
        convert.checkpoint_to_named_weights(tensors, vgg_model, convert.LAYER_MAPS["vgg"])
    assert message in str(error.value)
    if change == "shape":  # a mis-shaped tensor is reported once, not also as missing
        assert "no checkpoint tensor" not in str(error.value)


def test_named_weights_load_is_strict(vgg_model):
    arrays = named_weights.named_weights(vgg_model)
    del arrays["vgg_3_bn/moving_variance"]
    with pytest.raises(named_weights.WeightMismatchError, match="vgg_3_bn/moving_variance"):
        named_weights.assign_named_weights(musicnn.build_musicnn_vgg(VGG), arrays)


def test_unknown_pretrained_name_lists_the_shipped_ones():
    with pytest.raises(registry.UnknownModelError, match="mtt_musicnn, msd_musicnn, mtt_vgg, msd_vgg"):
        registry.load_pretrained("mtt_musicnn_big")


@pytest.mark.parametrize("name", registry.SHIPPED_MODELS)
def test_shipped_files_are_complete(name):
    info = registry.pretrained_info(name)
    meta = info.metadata
    assert meta["windowing"]["window_samples"] == 48128 == info.params.window_samples
    assert meta["windowing"]["hop_samples"] == 47872 and meta["windowing"]["context_samples"] == 256
    assert len(meta["source"]["checkpoint_data_sha256"]) == 64 and "Pons" in meta["attribution"]
    assert meta["source"]["wheel_sha256"] == convert.KNOWN_WHEEL_SHA256
    assert len(info.tags) == len(set(info.tags)) == 50
    shapes = named_weights.model_weight_shapes(musicnn.build_pretrained_architecture(info.params))
    arrays = named_weights.load_named_weights(info.directory / "weights.npz")
    assert {k: v.shape for k, v in arrays.items()} == shapes
    assert all(np.isfinite(v).all() for v in arrays.values())
    assert "Permission to use, copy, modify" in registry.LICENSE_FILE.read_text(encoding="utf-8")
    assert f"{name}: musicnn/" in registry.NOTICE_FILE.read_text(encoding="utf-8")
    if name.startswith("mtt"):
        assert meta["published_results"]["roc_auc"] > 0.9
        top50 = SHARED_DATA / "mtat" / "top50_tags.txt"
        if top50.exists():
            assert list(info.tags) == top50.read_text(encoding="utf-8").split("\n")[:50]
    else:
        assert info.tags[:3] == ("rock", "pop", "alternative") and "Hip-Hop" in info.tags


@pytest.mark.parametrize("samples, patches", [(0, 0), (47615, 0), (47616, 1), (95487, 1),
                                              (95488, 2), (465984, 9)])
def test_patch_count_is_librosa_centred_frames_over_187(samples, patches):
    librosa = pytest.importorskip("librosa")
    frames = librosa.stft(np.zeros(samples, np.float32), n_fft=512, hop_length=256).shape[1] if samples else 1
    assert num_patches(samples) == patches == frames // 187


def test_windows_reproduce_the_whole_file_centred_frames():
    """Un-centred frames of window k == centred frames [187k, 187k+187) of the whole file."""
    params = MusicnnParams()
    rng = np.random.default_rng(1)
    waveform = (0.1 * rng.standard_normal(2 * 47872 + 30000)).astype(np.float32)
    windows = musicnn_windows(waveform, params)
    assert windows.shape == (2, 48128)
    np.testing.assert_array_equal(window_starts(waveform.shape[0], params), [-256, 47616])
    per_window = log_mel_spectrogram(windows, params.audio_params()).numpy()
    whole = log_mel_spectrogram(waveform, dataclasses.replace(params.audio_params(), center=True)).numpy()
    assert per_window.shape == (2, 187, 96)
    np.testing.assert_allclose(per_window.reshape(-1, 96), whole[:374], atol=1e-4)


def test_front_end_matches_musicnn_librosa_mel():
    """musicnn: librosa melspectrogram (centred, power 2, Slaney) -> float16 -> log10(1+1e4 x)."""
    librosa = pytest.importorskip("librosa")
    params = MusicnnParams()
    rng = np.random.default_rng(2)
    t = np.arange(48128 + 5000) / 16000
    waveform = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    mel = librosa.feature.melspectrogram(y=waveform, sr=16000, hop_length=256, n_fft=512, n_mels=96).T
    expected = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)[:187]
    ours = log_mel_spectrogram(musicnn_windows(waveform, params)[:1], params.audio_params()).numpy()[0]
    assert np.abs(ours - expected).max() < 2e-3  # float16 rounding of nearly-equal float32 values
    assert np.median(np.abs(ours - expected)) < 1e-5
