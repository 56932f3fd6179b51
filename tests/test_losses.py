"""WeightedBinaryCrossentropy: -[α·y·log ŷ + (1-y)·log(1-ŷ)], mean over tags and batch."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from musictag_tf.model.losses import LogitSquaredError, MultiHeadLoss, WeightedBinaryCrossentropy
from musictag_tf.params import TrainParams

BATCH, TAGS = 16, 50


def _data(seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(BATCH, TAGS)) * scale).astype("float32")
    labels = (rng.random((BATCH, TAGS)) < 0.1).astype("float32")  # sparse, like MTAT tags
    return labels, logits


def _reference(y, p, alpha):
    """The corrected formula (6) in float64, mean over tags and batch."""
    y = y.astype(np.float64)
    p = p.astype(np.float64)
    return np.mean(-(alpha * y * np.log(p) + (1 - y) * np.log(1 - p)))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z.astype(np.float64)))


@pytest.mark.parametrize("alpha", [1.0, 2.0, 5.0, 13.7])
def test_logits_match_numpy_reference(alpha):
    y, z = _data(1)
    loss = WeightedBinaryCrossentropy(pos_weight=alpha)(y, z)
    np.testing.assert_allclose(float(loss), _reference(y, _sigmoid(z), alpha), rtol=1e-5)


@pytest.mark.parametrize("alpha", [1.0, 3.0, 10.0])
def test_probabilities_match_numpy_reference(alpha):
    y, z = _data(2, scale=1.5)
    p = _sigmoid(z).astype("float32")
    loss = WeightedBinaryCrossentropy(pos_weight=alpha, from_logits=False)(y, p)
    np.testing.assert_allclose(float(loss), _reference(y, p, alpha), rtol=1e-5)


@pytest.mark.parametrize("alpha", [1.0, 2.5, 8.0])
def test_equals_tf_weighted_cross_entropy_with_logits(alpha):
    y, z = _data(3)
    expected = tf.reduce_mean(tf.nn.weighted_cross_entropy_with_logits(y, z, pos_weight=alpha))
    loss = WeightedBinaryCrossentropy(pos_weight=alpha)(y, z)
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-6)


def test_alpha_one_equals_keras_bce():
    y, z = _data(4)
    ours = WeightedBinaryCrossentropy(pos_weight=1.0)(y, z)
    keras_bce = keras.losses.BinaryCrossentropy(from_logits=True)(y, z)
    np.testing.assert_allclose(float(ours), float(keras_bce), atol=1e-6)
    p = _sigmoid(z).astype("float32")
    ours_p = WeightedBinaryCrossentropy(from_logits=False)(y, p)
    keras_p = keras.losses.BinaryCrossentropy(from_logits=False)(y, p)
    np.testing.assert_allclose(float(ours_p), float(keras_p), atol=1e-6)
    # Probabilities straight out of keras' sigmoid: both losses recover the logits.
    p_keras = keras.activations.sigmoid(tf.constant(z * 20.0))
    ours_s = WeightedBinaryCrossentropy(from_logits=False)(y, p_keras)
    keras_s = keras.losses.BinaryCrossentropy(from_logits=False)(y, p_keras)
    np.testing.assert_allclose(float(ours_s), float(keras_s), rtol=1e-6)
    # With label smoothing and per-clip sample weights too.
    w = np.linspace(0.0, 2.0, BATCH).astype("float32")
    ours_w = WeightedBinaryCrossentropy(label_smoothing=0.1)(y, z, sample_weight=w)
    keras_w = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)(
        y, z, sample_weight=w)
    np.testing.assert_allclose(float(ours_w), float(keras_w), atol=1e-6)


def test_label_smoothing_matches_reference():
    y, z = _data(5)
    smooth = 0.2
    y_s = y * (1 - smooth) + 0.5 * smooth
    loss = WeightedBinaryCrossentropy(pos_weight=4.0, label_smoothing=smooth)(y, z)
    np.testing.assert_allclose(float(loss), _reference(y_s, _sigmoid(z), 4.0), rtol=1e-5)


def test_reduction_is_mean_over_tags_then_batch():
    y, z = _data(6)
    per_clip = WeightedBinaryCrossentropy(pos_weight=3.0, reduction=None)(y, z).numpy()
    assert per_clip.shape == (BATCH,)
    p = _sigmoid(z)
    expected = np.mean(-(3.0 * y * np.log(p) + (1 - y) * np.log(1 - p)), axis=1)
    np.testing.assert_allclose(per_clip, expected, rtol=1e-5)
    total = WeightedBinaryCrossentropy(pos_weight=3.0, reduction="sum")(y, z)
    np.testing.assert_allclose(float(total), expected.sum(), rtol=1e-5)


def test_alpha_weights_only_positive_term():
    y, z = _data(7)
    base = WeightedBinaryCrossentropy(pos_weight=1.0, reduction=None)
    heavy = WeightedBinaryCrossentropy(pos_weight=6.0, reduction=None)
    negatives = np.zeros_like(y)
    np.testing.assert_allclose(heavy(negatives, z).numpy(), base(negatives, z).numpy(), rtol=1e-6)
    positives = np.ones_like(y)
    np.testing.assert_allclose(heavy(positives, z).numpy(), 6.0 * base(positives, z).numpy(),
                               rtol=1e-5)


@pytest.mark.parametrize("bad", [0.0, 0.5, 0.999, float("nan")])
def test_alpha_below_one_raises(bad):
    with pytest.raises(ValueError, match="pos_weight"):
        WeightedBinaryCrossentropy(pos_weight=bad)


def test_label_smoothing_out_of_range_raises():
    with pytest.raises(ValueError, match="label_smoothing"):
        WeightedBinaryCrossentropy(label_smoothing=1.5)


@pytest.mark.parametrize("alpha", [1.0, 7.0])
def test_extreme_logits_finite_loss_and_gradients(alpha):
    z = tf.Variable([[100.0, -100.0, 100.0, -100.0, 0.0, 88.0, -88.0, 1e4]])
    y = tf.constant([[1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]])
    loss_fn = WeightedBinaryCrossentropy(pos_weight=alpha)
    with tf.GradientTape() as tape:
        loss = loss_fn(y, z)
    grad = tape.gradient(loss, z).numpy()
    assert np.isfinite(float(loss)) and np.all(np.isfinite(grad))
    # Confidently wrong predictions cost about |z| (times α for positives).
    per_tag = np.array([0.0, alpha * 100.0, 100.0, 0.0, alpha * np.log(2.0), 88.0, alpha * 88.0, 1e4])
    np.testing.assert_allclose(float(loss), per_tag.mean(), rtol=1e-5)
    # Probabilities at exactly 0 and 1 are clipped, not log(0).
    p = tf.Variable([[1.0, 0.0, 1.0, 0.0]])
    y4 = tf.constant([[1.0, 1.0, 0.0, 0.0]])
    with tf.GradientTape() as tape:
        loss_p = WeightedBinaryCrossentropy(pos_weight=alpha, from_logits=False)(y4, p)
    assert np.isfinite(float(loss_p)) and np.all(np.isfinite(tape.gradient(loss_p, p).numpy()))


@pytest.mark.parametrize("alpha", [1.0, 4.0])
def test_gradient_matches_analytic_formula(alpha):
    y, z0 = _data(8)
    z = tf.Variable(z0)
    with tf.GradientTape() as tape:
        loss = WeightedBinaryCrossentropy(pos_weight=alpha)(y, z)
    grad = tape.gradient(loss, z).numpy()
    # dL/dz = (1-y) - (1+(α-1)y)·σ(-z), divided by the tags*batch of the mean.
    analytic = ((1 - y) - (1 + (alpha - 1) * y) * _sigmoid(-z0)) / (BATCH * TAGS)
    np.testing.assert_allclose(grad, analytic, rtol=1e-4, atol=1e-9)
    if alpha == 1.0:
        np.testing.assert_allclose(grad, (_sigmoid(z0) - y) / (BATCH * TAGS), rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_inputs_compute_in_float32(dtype):
    y, z = _data(9)
    z_half = tf.cast(z, dtype)
    loss = WeightedBinaryCrossentropy(pos_weight=3.0)(tf.cast(y, dtype), z_half)
    assert loss.dtype == "float32"
    exact = _reference(y, _sigmoid(tf.cast(z_half, "float32").numpy()), 3.0)
    np.testing.assert_allclose(float(loss), exact, rtol=1e-5)
    # float16 logits of +-60000 would overflow a float16 softplus path; float32 is fine.
    big = tf.constant([[6e4, -6e4]], "float16")
    assert np.isfinite(float(WeightedBinaryCrossentropy(pos_weight=2.0)([[0.0, 1.0]], big)))


def test_config_round_trip():
    loss = WeightedBinaryCrossentropy(pos_weight=TrainParams(pos_weight=5.0).pos_weight,
                                      from_logits=False, label_smoothing=0.05, name="wbce")
    config = loss.get_config()
    assert config["pos_weight"] == 5.0 and config["from_logits"] is False
    clone = WeightedBinaryCrossentropy.from_config(config)
    assert clone.get_config() == config
    y, z = _data(10)
    p = _sigmoid(z).astype("float32")
    np.testing.assert_array_equal(float(loss(y, p)), float(clone(y, p)))
    revived = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(revived, WeightedBinaryCrossentropy) and revived.get_config() == config


def test_compiled_model_save_load_keeps_loss(tmp_path):
    keras.utils.set_random_seed(0)
    y, _ = _data(11)
    x = np.random.default_rng(11).normal(size=(BATCH, 8)).astype("float32")
    inp = keras.Input((8,))
    model = keras.Model(inp, keras.layers.Dense(TAGS)(inp))
    model.compile(optimizer="sgd", loss=WeightedBinaryCrossentropy(pos_weight=6.0))
    before = model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(before, _reference(y, _sigmoid(model.predict(x, verbose=0)), 6.0),
                               rtol=1e-5)
    path = tmp_path / "wbce.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.loss, WeightedBinaryCrossentropy)
    assert loaded.loss.pos_weight == 6.0 and loaded.loss.from_logits is True
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), before, rtol=1e-6)
    history = loaded.fit(x, y, epochs=3, batch_size=BATCH, verbose=0)
    assert history.history["loss"][-1] < before


def test_logit_squared_error_matches_reference_and_is_zero_at_the_teachers_log_odds():
    rng = np.random.default_rng(12)
    teacher = rng.uniform(0.0, 1.0, size=(BATCH, TAGS)).astype("float32")
    teacher[0, :3] = [0.0, 1.0, 0.5]  # hard values are clipped to [1e-4, 1 - 1e-4]
    _, z = _data(12)
    clipped = np.clip(teacher.astype(np.float64), 1e-4, 1 - 1e-4)
    target = np.log(clipped / (1 - clipped))
    loss = LogitSquaredError()
    np.testing.assert_allclose(float(loss(teacher, z)), np.mean((z - target) ** 2), rtol=1e-5)
    assert float(loss(teacher, target.astype("float32"))) < 1e-8
    z_var = tf.Variable(z)
    with tf.GradientTape() as tape:
        value = LogitSquaredError(reduction=None)(teacher, z_var)
        total = tf.reduce_sum(value)
    assert value.shape == (BATCH,)
    grad = tape.gradient(total, z_var).numpy()
    np.testing.assert_allclose(grad, 2 * (z - target) / TAGS, rtol=1e-3, atol=1e-6)
    assert LogitSquaredError.from_config(loss.get_config()).get_config() == loss.get_config()


def test_multi_head_loss_uses_the_chosen_soft_target_loss():
    teacher = np.full((2, TAGS), 0.01, "float32")
    z = np.zeros((2, TAGS), "float32")
    labels = {"tags": (teacher > 0.5).astype("float32"), "tag_targets": teacher}
    bce = MultiHeadLoss(["tags"], TrainParams()).per_example({"tags": z}, labels).numpy()
    mse = MultiHeadLoss(["tags"], TrainParams(soft_target_loss="logit_mse")).per_example({"tags": z}, labels).numpy()
    np.testing.assert_allclose(bce, np.log(2.0), rtol=1e-5)  # -[0.01 log 0.5 + 0.99 log 0.5]
    np.testing.assert_allclose(mse, np.log(99.0) ** 2, rtol=1e-5)  # (0 - logit 0.01)^2
