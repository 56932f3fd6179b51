"""Thayer emotion classification: heads, softmax cross-entropy, the five-group comparison."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from musictag_tf import emotion, evaluation, experiments, metrics, params as P
from musictag_tf.data import schema
from musictag_tf.model import losses as losses_lib
from musictag_tf.model import variants

from conftest import TINY, tiny_spec  # shared (tests/conftest.py)


def _spec(variant, heads):
    return tiny_spec(variant, heads, dataclasses.replace(TINY, num_tags=5))


@pytest.mark.parametrize("task", ["emotion2", "emotion4", "multi"])
@pytest.mark.parametrize("variant", variants.VARIANTS)
def test_emotion_heads_are_softmax_distributions(task, variant):
    heads = P.HEADS_BY_TASK[task]
    spec = _spec(variant, heads)
    model = variants.with_activations(variants.build_model(spec))
    rng = np.random.default_rng(0)
    x = {"waveform": (0.1 * rng.standard_normal((3, spec.chunk_samples))).astype("float32"),
         "lyrics_ids": rng.integers(0, 40, (3, 16)).astype("int32")}
    out = model(x, training=False)
    assert set(out) == set(heads)
    for head in heads:
        if head == "tags":
            continue
        probs = out[head].numpy()
        assert probs.shape == (3, variants.EMOTION_HEADS[head])
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
        assert (probs > 0).all()


def test_emotion_loss_is_softmax_cross_entropy_and_ignores_unknown_labels():
    computer = losses_lib.MultiHeadLoss(("quadrant",), P.TrainParams(emotion_loss_weight=2.0))
    logits = {"quadrant": tf.constant([[2.0, 0.0, -1.0, 0.5], [0.1, 0.2, 0.3, 0.4]])}
    labels = {"quadrant": tf.constant([0, -1])}
    loss = computer.per_example(logits, labels).numpy()
    p = np.exp([2.0, 0.0, -1.0, 0.5]) / np.exp([2.0, 0.0, -1.0, 0.5]).sum()
    np.testing.assert_allclose(loss, [2.0 * -np.log(p[0]), 0.0], rtol=1e-5)


def test_quadrant_index_is_two_energy_plus_stress():
    # Thayer: the quadrant's name follows from energy and stress, and the index round-trips
    named = {(e, st): schema.QUADRANT_NAMES[emotion.quadrant_index(e, st)] for e in (0, 1) for st in (0, 1)}
    assert named == {(1, 0): "exuberance", (1, 1): "anxious", (0, 0): "contentment", (0, 1): "depression"}
    for q in range(4):
        assert emotion.quadrant_index(*emotion.energy_stress(q)) == q
    # the builder derives the missing labels with the same rule (tfrecords_builder.sources)
    from tfrecords_builder.sources import parse_emotion
    assert parse_emotion("high", "low", "", "row") == (1, 0, 2)
    assert parse_emotion("", "", "anxious", "row") == (1, 1, 3)


def test_quadrant_probabilities_from_energy_and_stress_heads():
    energy = np.array([[0.2, 0.8], [0.9, 0.1]])  # [clips, (low, high)]
    stress = np.array([[0.7, 0.3], [0.4, 0.6]])
    q = emotion.quadrant_probabilities({"energy": energy, "stress": stress})
    assert q.shape == (2, 4)
    # exuberance = high energy, low stress = 0.8 * 0.7
    assert q[0, schema.QUADRANT_NAMES.index("exuberance")] == pytest.approx(0.56)
    assert q[1, schema.QUADRANT_NAMES.index("depression")] == pytest.approx(0.9 * 0.6)
    np.testing.assert_allclose(q.sum(1), 1.0)
    # the in-graph version (serving graph) gives the same numbers
    q_tf = emotion.quadrant_probabilities({"energy": tf.constant(energy), "stress": tf.constant(stress)})
    np.testing.assert_allclose(q_tf.numpy(), q)
    # a quadrant head wins; without emotion heads there is nothing
    head = np.array([[0.1, 0.2, 0.3, 0.4]])
    assert emotion.quadrant_probabilities({"quadrant": head, "energy": energy}) is head
    assert emotion.quadrant_probabilities({"tags": head}) is None


def _fake_evaluation(variant, tag_auc, accuracies):
    report = {}
    if tag_auc is not None:
        report["tags"] = metrics.TaggingScores(tag_auc, tag_auc / 2, 0.9, 0.5, 0.5, {}, [], 10)
    for head, acc in accuracies.items():
        names = evaluation.CLASS_NAMES[head]
        report[head] = metrics.ClassificationScores(acc, {}, acc, [[0] * len(names)] * len(names), list(names), 10)
    return evaluation.Evaluation(variant, "test", report, None)


def test_five_group_table_rows_and_differences():
    evs = {
        "audio_vgg": _fake_evaluation("audio_vgg", 0.7, {"energy": 0.9, "stress": 0.5, "quadrant": 0.45}),
        "lyrics_textcnn": _fake_evaluation("lyrics_textcnn", 0.6, {"energy": 0.55, "stress": 0.8, "quadrant": 0.4}),
        "linear_fusion": _fake_evaluation("linear_fusion", 0.72, {"energy": 0.88, "stress": 0.7, "quadrant": 0.5}),
        "cnn_sam": _fake_evaluation("cnn_sam", 0.8, {"energy": 0.9, "stress": 0.75, "quadrant": 0.6}),
    }
    table = experiments.five_group_table(evs).splitlines()
    assert table[2] == "| audio + VGG16 (two classes) | 90.0 | 50.0 | – | – | – |"
    assert table[3] == "| audio + VGG16 (four classes) | – | – | 45.0 | – | – |"
    assert table[4] == "| lyrics + TextCNN (two classes) | 55.0 | 80.0 | – | – | – |"
    assert table[6].startswith("| CNN + SAM | 90.0 | 75.0 | 60.0 | 0.8000 |")
    assert table[7] == "| **CNN + SAM − linear fusion** | +2.0 | +5.0 | +10.0 | +0.0800 | +0.0400 |"
    claims = experiments.check_claims(experiments.Comparison(evs, "", ""))
    assert [c["holds"] for c in claims] == [True, True, True, True]
    evs["cnn_sam"] = _fake_evaluation("cnn_sam", 0.71, {"energy": 0.9, "stress": 0.75, "quadrant": 0.48})
    claims = experiments.check_claims(experiments.Comparison(evs, "", ""))
    assert [c["holds"] for c in claims] == [False, True, True, False]


@pytest.mark.slow
def test_five_group_comparison_end_to_end_on_tiny_records(tiny_records, tmp_path):
    comparison = experiments.compare_variants(
        tiny_records, str(tmp_path), model_params=TINY,
        train_params=P.TrainParams(epochs=1, batch_size=8, task="multi", eval_chunks=2), verbose=0)
    assert set(comparison.evaluations) == set(variants.VARIANTS)
    for variant, ev in comparison.evaluations.items():
        assert {"tags", "energy", "stress", "quadrant"} <= set(ev.report), variant
        assert (tmp_path / variant / "evaluation_test.json").exists()
    lines = comparison.groups_markdown.splitlines()
    assert len(lines) == 2 + 5 + 1  # header, five groups, the difference row
    sam = comparison.evaluations["cnn_sam"].report["quadrant"].accuracy
    lin = comparison.evaluations["linear_fusion"].report["quadrant"].accuracy
    assert f"{100 * (sam - lin):+.1f}" in lines[-1]
    text = (tmp_path / "comparison.md").read_text()
    assert "CNN + SAM" in text and "macro ROC-AUC" in text
