"""One windowing rule: evaluation, the tagger (Keras / TFLite) and the SavedModel graph agree.

The waveform used is ``1, 2, 3, ...`` so a window's first sample names its start (+1) and zero
padding is recognisable; the "model" of every path returns each window's first sample.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from export import serving_graph
from musictag_tf import params as P
from musictag_tf import windows as W
from musictag_tf.data import pipeline
from musictag_tf.tag import backends

from conftest import TINY, tiny_spec  # shared (tests/conftest.py)

SR = 16000
CHUNK = 8000  # 0.5 s windows
HOP = 4000  # TagParams().hop_fraction = 0.5
# shorter than a window, exact window, exact multiples of the hop, odd lengths, a 29.1 s clip
LENGTHS = [1, 100, 7999, 8000, 8001, 11999, 12000, 16000, 16001, 23457, 465_600]


def _ramp(n):
    return np.arange(1, n + 1, dtype=np.float32)


def first_samples_to_starts(first):
    return (np.asarray(first).reshape(-1) - 1).astype(np.int64).tolist()


# ----------------------------------------------------------------------------- the rule itself

@pytest.mark.parametrize("samples, expected", [
    (0, [0]), (1000, [0]), (32000, [0]), (32001, [0, 1]), (48000, [0, 16000]),
    (50000, [0, 16000, 18000]), (80000, [0, 16000, 32000, 48000])])
def test_end_aligned_windows_cover_the_clip_and_end_at_its_end(samples, expected):
    params = W.WindowParams(32000, 16000)
    starts = W.window_starts(samples, params)
    assert starts.tolist() == expected
    assert starts[-1] + 32000 == max(samples, 32000)


def test_the_issues_example_29_1_seconds_with_4_second_windows():
    params = W.WindowParams.for_chunk(4 * SR, P.TagParams().hop_fraction)
    starts = W.window_starts(int(29.1 * SR), params) / SR
    np.testing.assert_allclose(starts, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 25.1])
    # the literature's protocol is different (and stays available only by flag)
    spread = W.spread_starts(int(29.1 * SR), 4 * SR, 3) / SR
    np.testing.assert_allclose(spread, [0, 12.55, 25.1])


@pytest.mark.parametrize("samples, expected", [(100, [0]), (3000, [0]), (5999, [0]), (6000, [0, 3000]),
                                               (8999, [0, 3000]), (9000, [0, 3000, 6000])])
def test_drop_remainder_as_musicnn(samples, expected):
    params = W.WindowParams(3000, 3000, remainder="drop")
    assert W.window_starts(samples, params).tolist() == expected


@pytest.mark.parametrize("params", [W.WindowParams(CHUNK, HOP), W.WindowParams(CHUNK, CHUNK, "drop"),
                                    W.WindowParams(CHUNK, 3000, "drop", context_samples=256),
                                    W.WindowParams(CHUNK, HOP, context_samples=256)])
def test_numpy_and_in_graph_versions_agree(params):
    starts, valid = W.window_layout_tf(tf.constant(LENGTHS), params)
    starts, valid = starts.numpy(), valid.numpy()
    for row, n in enumerate(LENGTHS):
        expected = W.window_starts(n, params)
        assert starts[row][valid[row]].tolist() == expected.tolist(), n
        assert not valid[row][len(expected):].any()
        windows, np_starts = W.split_windows(_ramp(n), params)
        tf_windows, tf_starts = W.clip_windows_tf(tf.constant(_ramp(n)), params)
        np.testing.assert_array_equal(tf_windows.numpy(), windows)
        assert tf_starts.numpy().tolist() == np_starts.tolist()


def test_context_reads_zeros_before_and_after_the_clip():
    params = W.WindowParams(10, 10, "drop", context_samples=3)
    windows, starts = W.split_windows(_ramp(25), params)  # 2 full windows, 5 samples dropped
    assert starts.tolist() == [0, 10] and windows.shape == (2, 16)
    assert windows[0].tolist() == [0, 0, 0] + list(range(1, 14))
    assert windows[1].tolist() == list(range(8, 24))
    short, _ = W.split_windows(_ramp(4), params)
    assert short[0].tolist() == [0, 0, 0, 1, 2, 3, 4] + [0] * 9


def test_bad_params_are_config_errors():
    for kwargs in ({"window_samples": 0, "hop_samples": 1}, {"window_samples": 4, "hop_samples": 0},
                   {"window_samples": 4, "hop_samples": 2, "remainder": "pad"},
                   {"window_samples": 4, "hop_samples": 2, "context_samples": -1}):
        with pytest.raises(P.ConfigError):
            W.WindowParams(**kwargs)


# ----------------------------------------------------------------------------- the three paths

def evaluation_starts(n):
    config = pipeline.PipelineConfig(num_tags=1, chunk_samples=CHUNK, max_tokens=4, sample_rate=SR,
                                     hop_samples=P.TagParams().hop_samples(CHUNK))
    windows = pipeline.eval_windows(tf.constant(_ramp(n)), config, "tagger").numpy()
    return first_samples_to_starts(windows[:, 0])


class _FirstSampleTagger(backends.Tagger):
    """The tagger's own code path (as the Keras and TFLite backends run it) with a model that
    returns each window's first sample."""

    def __init__(self):
        self.info = backends.ModelInfo(kind="keras", path="-", tags=["first"], heads=("tags",), sample_rate=SR,
                                       chunk_samples=CHUNK, hop_samples=P.TagParams().hop_samples(CHUNK),
                                       max_tokens=4, vocab_path=None, lyrics_params={})

    def run_windows(self, windows, lyrics_ids):
        return {"tags": windows[:, :1]}


def tagger_starts(n):
    _, taggram, start_seconds = _FirstSampleTagger().tag_waveform(_ramp(n))
    assert np.round(np.asarray(start_seconds) * SR).astype(int).tolist() == first_samples_to_starts(taggram)
    return first_samples_to_starts(taggram)


def saved_model_graph_starts(n):
    spec = tiny_spec(heads=("tags",), model_params=dataclasses.replace(TINY, num_tags=1, chunk_seconds=CHUNK / SR))
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant([0], tf.int64), tf.constant(["first"])), default_value="")
    graph = serving_graph.TaggingGraph(lambda inputs, training=False: {"tags": inputs["waveform"][:, :1]},
                                       spec, P.TagParams(top_k=1, window_batch=5), tag_table=table)
    out = graph.tag(tf.constant(_ramp(n)[None]), tf.constant([n]), tf.zeros([1, 16], tf.int32))
    count = int(out["num_windows"][0])
    starts = first_samples_to_starts(out["taggram"].numpy()[0, :count, 0])
    seconds = np.round(out["window_start_seconds"].numpy()[0, :count].astype(np.float64) * SR).astype(int)
    assert seconds.tolist() == starts
    return starts


@pytest.mark.parametrize("n", LENGTHS)
def test_evaluation_tagger_and_saved_model_use_the_same_windows(n):
    expected = W.window_starts(n, W.WindowParams.for_chunk(CHUNK, P.TagParams().hop_fraction)).tolist()
    assert evaluation_starts(n) == expected
    assert tagger_starts(n) == expected
    assert saved_model_graph_starts(n) == expected
    if n < CHUNK:
        assert expected == [0]
    else:
        assert expected[-1] + CHUNK == n  # the last window ends at the clip's end


def test_spread_protocol_is_the_literatures():
    config = pipeline.PipelineConfig(num_tags=1, chunk_samples=300, max_tokens=4, sample_rate=SR)
    for n, cap, expect in [(1000, 16, 6), (1000, 3, 3), (100, 16, 1), (10_000, 16, 16)]:
        chunks = pipeline.eval_windows(tf.constant(_ramp(n)), config, "spread", cap).numpy()
        assert chunks.shape == (expect, 300)
        assert first_samples_to_starts(chunks[:, 0]) == W.spread_starts(n, 300, cap).tolist()
        if n >= 300:
            assert chunks[-1, -1] == n
    with pytest.raises(ValueError, match="windows must be one of"):
        pipeline.eval_windows(tf.constant(_ramp(10)), config, "sixteen")
