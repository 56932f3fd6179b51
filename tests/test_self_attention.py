"""SelfAttention (Lin et al. 2017) and the small helper layers in musictag_tf.model.layers."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from musictag_tf.model.layers import (LyricsPresence, MaskedGlobalMaxPool1D,
                                      MissingLyricsEmbedding, SelfAttention, TokenMask)
from musictag_tf.params import LyricsParams, ModelParams

BATCH, TIME, FEATURES, HEADS, HIDDEN = 4, 7, 6, 3, 5


def _inputs(seed=0, batch=BATCH, time_steps=TIME, features=FEATURES):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, time_steps, features)).astype("float32")


def _length_mask(lengths, time_steps=TIME):
    return np.arange(time_steps)[None, :] < np.asarray(lengths)[:, None]


def _reference(x, w1, w2, mask=None):
    """NumPy A = softmax_time(W2 tanh(W1 Xᵀ)), M = A X; masked steps excluded, empty rows 0."""
    batch, time_steps, _ = x.shape
    mask = np.ones((batch, time_steps), bool) if mask is None else mask
    a = np.zeros((batch, w2.shape[0], time_steps))
    for b in range(batch):
        valid = mask[b]
        if not valid.any():
            continue
        scores = w2.astype(np.float64) @ np.tanh(w1.astype(np.float64) @ x[b, valid].T)
        scores -= scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        a[b][:, valid] = e / e.sum(axis=1, keepdims=True)
    m = np.einsum("brt,btf->brf", a, x.astype(np.float64))
    return m, a


def _penalty_reference(a):
    eye = np.eye(a.shape[1])
    gram = np.einsum("brt,bst->brs", a, a)
    return np.mean(np.sum((gram - eye) ** 2, axis=(1, 2)))


def _built_layer(**kwargs):
    layer = SelfAttention(heads=HEADS, hidden=HIDDEN, return_attention=True, **kwargs)
    layer.build((None, TIME, FEATURES))
    return layer


def test_output_shapes_and_weight_shapes():
    layer = _built_layer()
    m, a = layer(_inputs())
    assert tuple(m.shape) == (BATCH, HEADS, FEATURES)
    assert tuple(a.shape) == (BATCH, HEADS, TIME)
    assert tuple(layer.w1.shape) == (HIDDEN, FEATURES)  # W1 [d_a, 2u]
    assert tuple(layer.w2.shape) == (HEADS, HIDDEN)  # W2 [r, d_a]
    assert len(layer.trainable_weights) == 2  # no biases
    assert layer.compute_output_shape((None, TIME, FEATURES)) == \
        [(None, HEADS, FEATURES), (None, HEADS, TIME)]
    only_m = SelfAttention(heads=HEADS, hidden=HIDDEN)(_inputs())
    assert tuple(only_m.shape) == (BATCH, HEADS, FEATURES)


def test_defaults_follow_paper_and_params():
    layer = SelfAttention()
    assert (layer.heads, layer.hidden, layer.penalty) == (4, 64, 0.0)
    params = ModelParams()
    layer = SelfAttention(params.attention_heads, params.attention_hidden, params.attention_penalty)
    assert layer.heads == params.attention_heads and layer.penalty == params.attention_penalty


@pytest.mark.parametrize("kwargs", [dict(heads=0), dict(hidden=0), dict(penalty=-0.1)])
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        SelfAttention(**kwargs)


def test_matches_numpy_reference_without_mask():
    layer = _built_layer()
    x = _inputs(1)
    m, a = layer(x)
    m_ref, a_ref = _reference(x, layer.w1.numpy(), layer.w2.numpy())
    np.testing.assert_allclose(a.numpy(), a_ref, atol=1e-6)
    np.testing.assert_allclose(m.numpy(), m_ref, atol=1e-5)
    np.testing.assert_allclose(a.numpy().sum(-1), 1.0, atol=1e-6)


def test_variable_length_batch_matches_reference_with_explicit_mask():
    layer = _built_layer()
    x = _inputs(2)
    mask = _length_mask([TIME, 4, 1, 2])
    m, a = layer(x, mask=mask)
    m_ref, a_ref = _reference(x, layer.w1.numpy(), layer.w2.numpy(), mask)
    np.testing.assert_allclose(a.numpy(), a_ref, atol=1e-6)
    np.testing.assert_allclose(m.numpy(), m_ref, atol=1e-5)
    a = a.numpy()
    np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-6)  # per head, over valid steps
    assert np.all(a[~np.broadcast_to(mask[:, None, :], a.shape)] == 0.0)  # exactly zero
    # Padding values must not leak: changing them leaves the output unchanged.
    x2 = np.where(mask[..., None], x, 1e3).astype("float32")
    m2, _ = layer(x2, mask=mask)
    np.testing.assert_allclose(m2.numpy(), m.numpy(), atol=1e-6)


def test_implicit_keras_mask_equals_explicit_mask():
    x = _inputs(3)
    mask = _length_mask([3, TIME, 5, 2])
    x[~mask] = 0.0  # Masking(0.0) turns all-zero steps into masked steps
    inp = keras.Input((TIME, FEATURES))
    layer = SelfAttention(heads=HEADS, hidden=HIDDEN, return_attention=True)
    model = keras.Model(inp, layer(keras.layers.Masking(0.0)(inp)))
    m_implicit, a_implicit = (t.numpy() for t in model(x))
    m_explicit, a_explicit = (t.numpy() for t in layer(x, mask=mask))
    np.testing.assert_array_equal(a_implicit, a_explicit)
    np.testing.assert_array_equal(m_implicit, m_explicit)
    assert np.all(a_implicit[~np.broadcast_to(mask[:, None, :], a_implicit.shape)] == 0.0)
    np.testing.assert_allclose(a_implicit.sum(-1), 1.0, atol=1e-6)
    # Without the mask the padding would get weight: the mask is really used.
    _, a_unmasked = layer(x)
    assert a_unmasked.numpy()[0, :, 3:].sum() > 0.01


def test_fully_masked_rows_are_zero_and_finite_with_finite_gradients():
    layer = _built_layer(penalty=0.5)
    x = tf.constant(_inputs(4))
    mask = _length_mask([0, 3, 0, TIME])
    with tf.GradientTape() as tape:
        tape.watch(x)
        m, a = layer(x, mask=mask)
        total = tf.reduce_sum(m ** 2) + tf.add_n(layer.losses)
    assert np.all(np.isfinite(m.numpy())) and np.all(np.isfinite(a.numpy()))
    assert np.all(a.numpy()[[0, 2]] == 0.0) and np.all(m.numpy()[[0, 2]] == 0.0)
    grads = tape.gradient(total, [layer.w1, layer.w2, x])
    for g in grads:
        assert np.all(np.isfinite(g.numpy()))
    assert np.all(grads[2].numpy()[[0, 2]] == 0.0)  # nothing flows into empty clips
    # Penalty: fully-masked clips contribute 0; the mean still runs over the whole batch.
    _, a_ref = _reference(x.numpy(), layer.w1.numpy(), layer.w2.numpy(), mask)
    per_clip = np.sum((np.einsum("brt,bst->brs", a_ref, a_ref) - np.eye(HEADS)) ** 2, axis=(1, 2))
    expected = 0.5 * np.sum(per_clip[[1, 3]]) / BATCH
    np.testing.assert_allclose(float(layer.losses[0]), expected, rtol=1e-5)


@pytest.mark.parametrize("coefficient", [0.01, 0.7])
def test_penalty_matches_numpy_and_is_in_model_losses(coefficient):
    x = _inputs(5)
    inp = keras.Input((TIME, FEATURES))
    layer = SelfAttention(heads=HEADS, hidden=HIDDEN, penalty=coefficient, return_attention=True)
    model = keras.Model(inp, layer(inp))
    _, a = model(x)
    assert len(model.losses) == 1
    expected = coefficient * _penalty_reference(a.numpy().astype(np.float64))
    np.testing.assert_allclose(float(model.losses[0]), expected, rtol=1e-5)
    _, a_ref = _reference(x, layer.w1.numpy(), layer.w2.numpy())
    np.testing.assert_allclose(float(model.losses[0]), coefficient * _penalty_reference(a_ref),
                               rtol=1e-5)
    # Finite gradients of the penalty alone, and it really depends on W1 and W2.
    with tf.GradientTape() as tape:
        model(x)
        penalty = tf.add_n(model.losses)
    g1, g2 = tape.gradient(penalty, [layer.w1, layer.w2])
    assert np.all(np.isfinite(g1.numpy())) and np.all(np.isfinite(g2.numpy()))
    assert np.abs(g2.numpy()).max() > 0


def test_zero_penalty_adds_no_loss():
    inp = keras.Input((TIME, FEATURES))
    model = keras.Model(inp, SelfAttention(heads=HEADS, hidden=HIDDEN)(inp))
    model(_inputs())
    assert model.losses == []


def test_minimising_penalty_diversifies_heads():
    """Gradient descent on the penalty alone drives heads apart (it lowers the penalty)."""
    keras.utils.set_random_seed(0)
    layer = _built_layer(penalty=1.0)
    x = _inputs(6)
    layer(x)
    start = float(layer.losses[0])
    optimizer = keras.optimizers.Adam(0.05)
    for _ in range(60):
        with tf.GradientTape() as tape:
            layer(x)
            loss = layer.losses[0]
        grads = tape.gradient(loss, layer.trainable_weights)
        optimizer.apply_gradients(zip(grads, layer.trainable_weights))
    layer(x)
    assert float(layer.losses[0]) < 0.5 * start


def test_large_w2_masked_steps_still_excluded():
    """The mask shift scales with ||W2_r||_1, so sharp trained heads cannot leak padding."""
    layer = _built_layer()
    layer.w2.assign(layer.w2.numpy() * 200.0)
    x = _inputs(13)
    mask = _length_mask([2, TIME, 5, 1])
    m, a = layer(x, mask=mask)
    m_ref, a_ref = _reference(x, layer.w1.numpy(), layer.w2.numpy(), mask)
    np.testing.assert_allclose(a.numpy(), a_ref, atol=1e-6)
    np.testing.assert_allclose(m.numpy(), m_ref, atol=1e-5)
    assert np.all(np.isfinite(a.numpy()))


def test_gradients_finite_for_weights_and_inputs():
    layer = _built_layer()
    x = tf.constant(_inputs(7) * 20.0)  # large inputs saturate tanh
    mask = _length_mask([TIME, 2, 5, 1])
    with tf.GradientTape() as tape:
        tape.watch(x)
        m, _ = layer(x, mask=mask)
        loss = tf.reduce_sum(tf.sin(m))
    g1, g2, gx = tape.gradient(loss, [layer.w1, layer.w2, x])
    for g in (g1, g2, gx):
        assert np.all(np.isfinite(g.numpy())) and np.abs(g.numpy()).max() > 0
    assert np.all(gx.numpy()[~mask] == 0.0)  # masked steps receive no gradient


def test_keras_save_load_round_trip(tmp_path):
    x = _inputs(8)
    x[1, 4:] = 0.0
    inp = keras.Input((TIME, FEATURES))
    m, a = SelfAttention(heads=HEADS, hidden=HIDDEN, penalty=0.25, return_attention=True,
                         name="sam")(keras.layers.Masking(0.0)(inp))
    logits = keras.layers.Dense(2)(keras.layers.Flatten()(m))
    model = keras.Model(inp, [logits, a])
    path = tmp_path / "sam.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    for before, after in zip(model(x), loaded(x)):
        np.testing.assert_array_equal(before.numpy(), after.numpy())
    np.testing.assert_array_equal(np.asarray(model.losses), np.asarray(loaded.losses))
    layer = loaded.get_layer("sam")
    assert isinstance(layer, SelfAttention)
    assert (layer.heads, layer.hidden, layer.penalty, layer.return_attention) == \
        (HEADS, HIDDEN, 0.25, True)
    clone = SelfAttention.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("policy,atol", [("mixed_float16", 3e-3), ("mixed_bfloat16", 2e-2)])
def test_mixed_precision(policy, atol):
    x = _inputs(9)
    mask = _length_mask([TIME, 3, 0, 5])
    reference = _built_layer(penalty=0.1)
    layer = SelfAttention(heads=HEADS, hidden=HIDDEN, penalty=0.1, return_attention=True,
                          dtype=policy)
    layer.build((None, TIME, FEATURES))
    layer.set_weights(reference.get_weights())
    assert layer.w1.dtype == "float32"  # variables stay float32 under a mixed policy
    m, a = layer(x, mask=mask)
    compute = policy.split("_")[1]
    assert m.dtype == compute and a.dtype == compute
    m32, a32 = reference(x, mask=mask)
    a_np = a.numpy().astype("float32")
    assert np.all(np.isfinite(a_np)) and np.all(np.isfinite(m.numpy().astype("float32")))
    assert np.all(a_np[~np.broadcast_to(mask[:, None, :], a_np.shape)] == 0.0)
    assert np.all(a_np[2] == 0.0)
    np.testing.assert_allclose(a_np, a32.numpy(), atol=atol)
    np.testing.assert_allclose(m.numpy().astype("float32"), m32.numpy(), atol=5 * atol)
    assert layer.losses[0].dtype == "float32"
    np.testing.assert_allclose(float(layer.losses[0]), float(reference.losses[0]), rtol=0.05)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_softmax_runs_in_float32(policy):
    layer = SelfAttention(heads=HEADS, hidden=HIDDEN, return_attention=True, dtype=policy)
    layer.build((None, TIME, FEATURES))
    compute = policy.split("_")[1]
    fn = tf.function(lambda x, m: layer(x, mask=m)).get_concrete_function(
        tf.TensorSpec((None, TIME, FEATURES), compute), tf.TensorSpec((None, TIME), tf.bool))
    softmax = [op for op in fn.graph.get_operations() if op.type == "Softmax"]
    assert len(softmax) == 1 and softmax[0].outputs[0].dtype == tf.float32
    tanh = [op for op in fn.graph.get_operations() if op.type == "Tanh"]
    assert tanh[0].outputs[0].dtype == compute  # the rest runs in the compute dtype


def test_mixed_precision_global_policy_in_a_model():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        inp = keras.Input((TIME, FEATURES))
        m = SelfAttention(heads=HEADS, hidden=HIDDEN)(keras.layers.Masking(0.0)(inp))
        out = keras.layers.Dense(1, dtype="float32")(keras.layers.Flatten()(m))
        model = keras.Model(inp, out)
        assert m.dtype == "float16"
        x = _inputs(10)
        x[0] = 0.0  # one fully-masked clip
        with tf.GradientTape() as tape:
            y = model(x)
        grads = tape.gradient(y, model.trainable_weights)
        assert np.all(np.isfinite(y.numpy()))
        assert all(np.all(np.isfinite(g.numpy())) for g in grads)
    finally:
        keras.config.set_dtype_policy(previous)


def _litert_interpreter(model, tmp_path):
    from ai_edge_litert.interpreter import Interpreter
    export_dir = str(tmp_path / "saved_model")
    model.export(export_dir, verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(export_dir)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    tflite_model = converter.convert()
    return Interpreter(model_content=tflite_model)


def test_tflite_builtins_parity(tmp_path):
    keras.utils.set_random_seed(1)
    inp = keras.Input((TIME, FEATURES), name="states")
    m, a = SelfAttention(heads=HEADS, hidden=HIDDEN, penalty=0.1, return_attention=True)(
        keras.layers.Masking(0.0)(inp))
    model = keras.Model(inp, [keras.layers.Flatten()(m), a])
    x = _inputs(11)
    x[1, 3:] = 0.0
    x[2] = 0.0  # fully masked
    expected = [t.numpy() for t in model(x)]

    started = time.perf_counter()
    interpreter = _litert_interpreter(model, tmp_path)
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not any(name.startswith("Flex") or name == "CUSTOM" for name in ops), ops
    runner = interpreter.get_signature_runner("serving_default")
    input_name = next(iter(runner.get_input_details()))
    outputs = runner(**{input_name: x})
    got = sorted(outputs.values(), key=lambda v: v.ndim)  # [flat M (rank 2), A (rank 3)]
    np.testing.assert_allclose(got[0], expected[0], atol=1e-5)
    np.testing.assert_allclose(got[1], expected[1], atol=1e-5)
    assert np.all(got[1][2] == 0.0)
    assert time.perf_counter() - started < 60


def test_tflite_full_int8_keeps_attention_usable(tmp_path):
    """Full-integer quantization: the masked scores must not blow up the int8 range.

    Measured (this test's data, attention sharpened x6): with a -1e9 masked fill the int8
    attention was off by up to 0.91 (useless); with the bounded floor by at most 0.175.
    """
    from ai_edge_litert.interpreter import Interpreter
    keras.utils.set_random_seed(1)
    steps, features = 12, 16
    inp = keras.Input((steps, features))
    layer = SelfAttention(heads=4, hidden=16, return_attention=True)
    m, a = layer(keras.layers.Masking(0.0)(inp))
    model = keras.Model(inp, [keras.layers.Flatten()(m), a])
    layer.set_weights([w * 6 for w in layer.get_weights()])
    rng = np.random.default_rng(0)

    def sample():
        x = rng.normal(size=(1, steps, features)).astype("float32")
        x[0, rng.integers(1, steps + 1):] = 0.0
        return x

    export_dir = str(tmp_path / "saved_model")
    model.export(export_dir, verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(export_dir)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([sample()] for _ in range(50))
    runner = Interpreter(model_content=converter.convert()).get_signature_runner()
    input_name = next(iter(runner.get_input_details()))
    worst = 0.0
    for _ in range(20):
        x = sample()
        got = sorted(runner(**{input_name: x}).values(), key=lambda v: v.ndim)[1]
        worst = max(worst, float(np.abs(got - model(x)[1].numpy()).max()))
    assert worst < 0.25, worst


# --- helper layers ---------------------------------------------------------------------


def test_masked_global_max_pool():
    rng = np.random.default_rng(12)
    x = (rng.normal(size=(3, 5, 4)) - 10.0).astype("float32")  # all negative
    mask = _length_mask([2, 0, 5], 5)
    pooled = MaskedGlobalMaxPool1D()(x, mask=mask).numpy()
    np.testing.assert_allclose(pooled[0], x[0, :2].max(0))
    np.testing.assert_array_equal(pooled[1], np.zeros(4))  # fully masked -> 0, not -inf
    np.testing.assert_allclose(pooled[2], x[2].max(0))
    np.testing.assert_allclose(MaskedGlobalMaxPool1D()(x).numpy(), x.max(1))
    # Implicit mask from an Embedding(mask_zero=True).
    ids = np.array([[3, 4, 0, 0], [0, 0, 0, 0]], "int32")
    inp = keras.Input((4,), dtype="int32")
    emb = keras.layers.Embedding(6, 4, mask_zero=True)
    model = keras.Model(inp, MaskedGlobalMaxPool1D()(emb(inp)))
    out = model(ids).numpy()
    vectors = emb.embeddings.numpy()
    np.testing.assert_allclose(out[0], vectors[[3, 4]].max(0))
    np.testing.assert_array_equal(out[1], np.zeros(4))
    # float16 works too, fully-masked rows still zero.
    half = MaskedGlobalMaxPool1D(dtype="float16")(x.astype("float16"), mask=mask).numpy()
    assert np.all(np.isfinite(half)) and np.all(half[1] == 0)


def test_token_mask_and_lyrics_presence():
    ids = np.array([[5, 9, 0, 0], [0, 0, 0, 0], [1, 0, 0, 2]], "int32")
    np.testing.assert_array_equal(TokenMask()(ids).numpy(), ids != 0)
    np.testing.assert_array_equal(LyricsPresence()(ids).numpy(), [[1.0], [0.0], [1.0]])
    assert LyricsPresence()(ids).dtype == "float32"
    assert TokenMask(pad_id=LyricsParams().pad_id)(ids).dtype == "bool"
    np.testing.assert_array_equal(TokenMask(pad_id=9)(ids).numpy(), ids != 9)
    np.testing.assert_array_equal(LyricsPresence(pad_id=0)(ids.astype("int64")).numpy()[:, 0],
                                  [1, 0, 1])


def test_missing_lyrics_embedding_uses_and_learns_absent_vector():
    vectors = np.arange(12, dtype="float32").reshape(3, 4) + 1.0
    has = np.array([[1.0], [0.0], [1.0]], "float32")
    layer = MissingLyricsEmbedding(absent_initializer="ones")
    out = layer([vectors, has]).numpy()
    np.testing.assert_array_equal(out[[0, 2]], vectors[[0, 2]])
    np.testing.assert_array_equal(out[1], np.ones(4))
    assert tuple(layer.absent.shape) == (4,) and layer.absent.trainable
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer([vectors, has]) * 2.0)
    grad = tape.gradient(loss, layer.absent).numpy()
    np.testing.assert_array_equal(grad, np.full(4, 2.0))  # only the one absent clip
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer([vectors, np.ones_like(has)]))
    assert np.all(tape.gradient(loss, layer.absent).numpy() == 0.0)


def test_helper_layers_round_trip_in_keras_file(tmp_path):
    ids_in = keras.Input((6,), dtype="int32")
    vec_in = keras.Input((4,))
    emb = keras.layers.Embedding(10, 4)(ids_in)
    pooled = MaskedGlobalMaxPool1D()(emb, mask=TokenMask(name="tmask")(ids_in))
    has = LyricsPresence(name="presence")(ids_in)
    fused = MissingLyricsEmbedding(absent_initializer="random_normal", name="missing")(
        [pooled + vec_in, has])
    model = keras.Model([ids_in, vec_in], fused)
    path = tmp_path / "helpers.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    ids = np.array([[3, 4, 5, 0, 0, 0], [0] * 6], "int32")
    vec = np.ones((2, 4), "float32")
    np.testing.assert_array_equal(model([ids, vec]).numpy(), loaded([ids, vec]).numpy())
    np.testing.assert_array_equal(loaded([ids, vec]).numpy()[1],
                                  loaded.get_layer("missing").absent.numpy())
    assert loaded.get_layer("tmask").pad_id == 0 and loaded.get_layer("presence").pad_id == 0
