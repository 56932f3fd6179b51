"""The model variants: shapes, gradients, learning, modality use, serialization, mixed precision."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from musictag_tf import params as P
from musictag_tf.model import variants
from musictag_tf.model.layers import FixedChunkPooling
from musictag_tf.model.losses import WeightedBinaryCrossentropy

TINY = P.ModelParams(num_tags=6, chunk_seconds=2.0, mel_filters=(8, 8, 16, 16), wave_filters=(8, 16, 16),
                     text_filters=8, lstm_units=8, attention_hidden=8, fusion_units=16,
                     vgg_filters=(8, 8, 16), dropout=0.1)
VOCAB = 50
LYRICS = P.LyricsParams(max_tokens=16, embedding_dim=8)
SEGMENTS = P.SegmentParams(kernel_seconds=0.25, min_segment_seconds=0.25, max_segment_seconds=1.0)


def spec_for(variant, **changes):
    return variants.ModelSpec(model=dataclasses.replace(TINY, variant=variant, **changes),
                              audio=P.AudioParams(), segments=SEGMENTS, lyrics=LYRICS, vocab_size=VOCAB)


def batch(spec, n=4, seed=0, lyrics=True):
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, VOCAB, (n, LYRICS.max_tokens)).astype("int32")
    ids[:, 10:] = 0
    if not lyrics:
        ids[:] = 0
    return {"waveform": (0.1 * rng.standard_normal((n, spec.chunk_samples))).astype("float32"),
            "lyrics_ids": ids}


@pytest.mark.parametrize("variant", variants.VARIANTS)
def test_output_shapes_for_every_variant(variant):
    spec = spec_for(variant)
    out = variants.build_model(spec)(batch(spec), training=False)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "tags": (4, 6), "energy": (4, 2), "stress": (4, 2), "quadrant": (4, 4)}
    assert all(v.dtype == tf.float32 and np.isfinite(v.numpy()).all() for v in out.values())


def test_heads_follow_the_task():
    spec = spec_for("cnn_sam", heads=P.HEADS_BY_TASK["emotion4"])
    out = variants.build_model(spec)(batch(spec), training=False)
    assert set(out) == {"quadrant"}


def test_fixed_chunk_alternative_builds_and_pools_means():
    spec = spec_for("cnn_sam", use_segments=False)
    model = variants.build_model(spec)
    assert "fixed_chunks" in [layer.name for layer in model.layers]
    x = np.arange(2 * 10 * 3, dtype="float32").reshape(2, 10, 3)
    pooled, mask = FixedChunkPooling(4)(x)
    np.testing.assert_allclose(pooled[0, 0], x[0, :3].mean(0))  # steps 0,1,2 -> chunk 0
    np.testing.assert_allclose(pooled[1, 3], x[1, 8:].mean(0))  # steps 8,9 -> chunk 3
    assert mask.numpy().all()


@pytest.mark.parametrize("variant", variants.VARIANTS)
def test_gradients_are_finite_and_reach_the_used_branches(variant):
    spec = spec_for(variant)
    model = variants.build_model(spec)
    x = batch(spec)
    loss_fn = WeightedBinaryCrossentropy(pos_weight=2.0)
    with tf.GradientTape() as tape:
        out = model(x, training=True)
        loss = loss_fn(np.ones((4, 6), "float32"), out["tags"]) + tf.reduce_mean(out["quadrant"] ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    named = {v.path: g for v, g in zip(model.trainable_variables, grads)}
    assert all(g is None or np.isfinite(tf.convert_to_tensor(g).numpy()).all() for g in grads)
    touched = {path.split("/")[0] for path, g in named.items()
               if g is not None and np.abs(tf.convert_to_tensor(g).numpy()).sum() > 0}
    if variants.USES_LYRICS[variant]:
        assert "lyrics_embedding" in touched
    if variant == "cnn_sam":
        assert {"mel_conv0", "wave_filterbank", "bilstm", "self_attention"} <= touched
    if variant in ("audio_vgg", "linear_fusion"):
        assert "vgg_conv0_0" in touched


def test_lyrics_branch_changes_outputs_and_audio_branch_too():
    spec = spec_for("cnn_sam")
    model = variants.build_model(spec)
    x = batch(spec, seed=1)
    base = model(x, training=False)["tags"].numpy()
    other_lyrics = dict(x, lyrics_ids=batch(spec, seed=2)["lyrics_ids"])
    other_audio = dict(x, waveform=batch(spec, seed=3)["waveform"])
    assert np.abs(model(other_lyrics, training=False)["tags"].numpy() - base).max() > 1e-4
    assert np.abs(model(other_audio, training=False)["tags"].numpy() - base).max() > 1e-4


def test_single_modality_variants_ignore_the_other_modality():
    for variant, key, seed in (("audio_vgg", "lyrics_ids", 5), ("lyrics_textcnn", "waveform", 6)):
        spec = spec_for(variant)
        model = variants.build_model(spec)
        x = batch(spec, seed=4)
        changed = dict(x, **{key: batch(spec, seed=seed)[key]})
        np.testing.assert_array_equal(model(x, training=False)["tags"].numpy(),
                                      model(changed, training=False)["tags"].numpy())


def test_missing_lyrics_use_the_learned_absent_vector():
    spec = spec_for("lyrics_textcnn")
    model = variants.build_model(spec)
    no_lyrics = batch(spec, lyrics=False)
    out = model(no_lyrics, training=False)["tags"].numpy()
    assert np.isfinite(out).all()
    # every instrumental clip gets the same lyrics representation, whatever its audio
    np.testing.assert_allclose(out, np.repeat(out[:1], len(out), axis=0), atol=1e-6)
    absent = model.get_layer("lyrics_or_absent").absent
    absent.assign(absent.numpy() + 1.0)
    assert np.abs(model(no_lyrics, training=False)["tags"].numpy() - out).max() > 1e-4


def test_small_model_overfits_a_separable_batch():
    spec = spec_for("cnn_sam", dropout=0.0, heads=("tags",))
    model = variants.build_model(spec)
    rng = np.random.default_rng(0)
    n = 8
    t = np.arange(spec.chunk_samples) / 16000.0
    freqs = np.where(np.arange(n) % 2 == 0, 440.0, 2500.0)
    wave = (0.3 * np.sin(2 * np.pi * freqs[:, None] * t[None])).astype("float32")
    wave += 0.01 * rng.standard_normal(wave.shape).astype("float32")
    ids = np.zeros((n, LYRICS.max_tokens), "int32")
    ids[np.arange(n) % 4 < 2, :3] = [5, 6, 7]  # lyric tag lives in the words only
    y = np.zeros((n, 6), "float32")
    y[:, 0] = np.arange(n) % 2 == 0  # audible tag: the low tone
    y[:, 1] = np.arange(n) % 4 < 2  # lyric tag
    x = {"waveform": wave, "lyrics_ids": ids}
    opt = keras.optimizers.Adam(3e-3)
    loss_fn = WeightedBinaryCrossentropy()

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y[:, :2], model(x, training=True)["tags"][:, :2])
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    first = float(step())
    for _ in range(150):
        last = float(step())
    probs = tf.sigmoid(model(x, training=False)["tags"][:, :2]).numpy()
    assert last < 0.25 * first
    np.testing.assert_array_equal(probs > 0.5, y[:, :2] > 0.5)


@pytest.mark.parametrize("variant", variants.VARIANTS)
def test_keras_file_round_trip_gives_identical_outputs(variant, tmp_path):
    spec = spec_for(variant)
    model = variants.build_model(spec)
    x = batch(spec)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    a, b = model(x, training=False), loaded(x, training=False)
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())


def test_with_activations_gives_probabilities():
    spec = spec_for("linear_fusion")
    probs = variants.with_activations(variants.build_model(spec))(batch(spec), training=False)
    assert np.all((probs["tags"].numpy() > 0) & (probs["tags"].numpy() < 1))
    np.testing.assert_allclose(probs["quadrant"].numpy().sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_features_and_outputs_float32(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        spec = spec_for("cnn_sam")
        model = variants.build_model(spec)
        assert model.get_layer("log_mel").compute_dtype == "float32"
        assert model.get_layer("mel_conv0").compute_dtype != "float32"
        x = batch(spec)
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            loss = tf.reduce_mean(out["tags"])
        grads = tape.gradient(loss, model.trainable_variables)
        assert all(v.dtype == tf.float32 for v in out.values())
        assert all(g is None or np.isfinite(tf.convert_to_tensor(g).numpy()).all() for g in grads)
    finally:
        keras.mixed_precision.set_global_policy("float32")
