"""cnn_sam's attention weights mapped onto seconds (musictag_tf.model.attention)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from musictag_tf.model import attention, variants
from musictag_tf.params import ConfigError

from conftest import TINY, tiny_spec


def test_segment_bounds_by_hand():
    ids = tf.constant([[0, 0, 1, 1, 1, 3]])
    start, end = attention.SegmentBounds(4, 0.5)(ids)
    np.testing.assert_allclose(start.numpy(), [[0.0, 1.0, -1.0, 2.5]])
    np.testing.assert_allclose(end.numpy(), [[1.0, 2.5, -1.0, 3.0]])


@pytest.mark.parametrize("use_segments", [True, False])
def test_attention_model_outputs_and_unchanged_tags(use_segments):
    spec = tiny_spec("cnn_sam", heads=("tags",), model_params=dataclasses.replace(TINY, use_segments=use_segments))
    model = variants.build_model(spec)
    explained = attention.attention_model(model, spec)
    rng = np.random.default_rng(0)
    inputs = {"waveform": (0.1 * rng.standard_normal((2, spec.chunk_samples))).astype("float32"),
              "lyrics_ids": np.zeros((2, spec.lyrics.max_tokens), "int32")}
    out = explained(inputs, training=False)
    logits = model(inputs, training=False)["tags"]
    np.testing.assert_allclose(out["tags"].numpy(), tf.sigmoid(logits).numpy(), rtol=1e-5, atol=1e-6)
    a = out["attention_weights"].numpy()
    start, end = out["segment_start_seconds"].numpy(), out["segment_end_seconds"].numpy()
    assert a.shape[:2] == (2, TINY.attention_heads) and a.shape[2] == start.shape[1] == end.shape[1]
    used = start >= 0
    np.testing.assert_allclose(a.sum(axis=-1), 1.0, rtol=1e-5)  # each row a distribution over used slots
    for b in range(2):
        assert np.all(a[b][:, ~used[b]] == 0)  # unused slots get no weight
        s, e = start[b][used[b]], end[b][used[b]]
        assert s[0] == 0.0 and np.all(e > s) and np.all(s[1:] == e[:-1])  # contiguous, from 0 s
        assert e[-1] == pytest.approx(spec.model.chunk_seconds, abs=0.1)
    if not use_segments:
        np.testing.assert_allclose(start[0], start[1])  # fixed chunks: same bounds for every window


def test_attention_model_refuses_models_without_attention():
    spec = tiny_spec("audio_vgg", heads=("tags",))
    with pytest.raises(ConfigError, match="cnn_sam only"):
        attention.attention_model(variants.build_model(spec), spec)
