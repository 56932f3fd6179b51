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


def test_with_attention_keeps_the_heads_and_adds_the_same_attention():
    """The export's model (model.attention.with_attention on the probability model) in one pass."""
    from musictag_tf.runs import inference_model
    spec = tiny_spec("cnn_sam")
    model = variants.build_model(spec)
    probabilities = inference_model(model, spec)
    combined = attention.with_attention(probabilities, spec)
    rng = np.random.default_rng(1)
    inputs = {"waveform": (0.1 * rng.standard_normal((2, spec.chunk_samples))).astype("float32"),
              "lyrics_ids": np.zeros((2, spec.lyrics.max_tokens), "int32")}
    out, heads = combined(inputs, training=False), probabilities(inputs, training=False)
    reference = attention.attention_model(model, spec)(inputs, training=False)
    assert set(out) == set(heads) | set(attention.OUTPUTS)
    for name in heads:
        np.testing.assert_allclose(out[name].numpy(), heads[name].numpy(), atol=1e-6)
    for name in attention.OUTPUTS:
        np.testing.assert_allclose(out[name].numpy(), reference[name].numpy(), atol=1e-6)


def test_exports_of_models_without_attention_keep_their_signatures(tmp_path):
    """audio_vgg: no attention outputs, no ``attention`` metadata (issue 13 item 6 is cnn_sam only)."""
    from export import saved_model as sm
    from export import serving_graph
    from musictag_tf import artifacts
    from conftest import make_model_dir
    make_model_dir(tmp_path / "vgg", variant="audio_vgg", heads=("tags",))
    source = sm.load_model_source(str(tmp_path / "vgg"))
    assert serving_graph.attention_model_for(source.model, source.spec) is None
    archive = serving_graph.build_archive(source, str(tmp_path))
    assert archive.attention_shape is None and sm.attention_metadata(archive.attention_shape) is None
    outputs = archive.endpoints["tag_audio"].get_concrete_function().structured_outputs
    assert set(outputs) == {"tag_probabilities", "top_k_scores", "top_k_tags", "taggram", "num_windows",
                            "window_start_seconds"}
    windows = archive.endpoints["tag_windows"].get_concrete_function().structured_outputs
    assert set(windows) == {"tags"} and not set(artifacts.ATTENTION_OUTPUTS.values()) & set(outputs)
