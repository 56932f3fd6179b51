"""Training and evaluation end to end on a tiny synthetic set, resume after a kill, multi-worker."""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from musictag_tf import evaluation, params as P, runs, train as train_lib
from musictag_tf.data import manifest as manifest_lib

from conftest import TINY  # shared (tests/conftest.py)
FAST = P.TrainParams(epochs=2, batch_size=8, learning_rate=3e-3, task="multi", eval_chunks=2,
                     early_stopping_patience=5)
TRAIN_FLAGS = ["--chunk_seconds=2.0", "--batch_size=8", "--eval_chunks=2", "--task=multi", "--verbose=1"]


def job(records, model_dir, variant="cnn_sam", **train_changes):
    return train_lib.TrainJob(records_dir=records, model_dir=str(model_dir),
                              model=dataclasses.replace(TINY, variant=variant),
                              train=dataclasses.replace(FAST, **train_changes), verbose=0)


def test_train_then_evaluate_end_to_end(tiny_records, tmp_path):
    result = train_lib.train(job(tiny_records, tmp_path / "run"))
    run = tmp_path / "run"
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert all(np.isfinite(h["loss"]) for h in result.history)
    assert result.selection_metric == "val_roc_auc"
    assert result.best_score == max(h["val_roc_auc"] for h in result.history)
    for name in ("best.keras", "spec.json", "tags.txt", "vocab.txt", "history.json", "training_curves.png"):
        assert (run / name).exists(), name
    assert list((run / "logs" / "valid").iterdir()), "TensorBoard events"
    assert (run / "checkpoints" / "checkpoint").exists()

    ev = evaluation.evaluate_model_dir(str(run), tiny_records, "test", batch_size=8, output_dir=str(run),
                                     verbose=False)
    assert set(ev.report) == {"tags", "energy", "stress", "quadrant"}
    n_test = manifest_lib.read_manifest(tiny_records).counts["test"]
    assert ev.report["tags"].num_clips == n_test == len(ev.predictions.clip_ids)
    np.testing.assert_allclose(ev.predictions.probabilities["quadrant"].sum(1), 1.0, rtol=1e-5)
    report = json.loads((run / "evaluation_test.json").read_text())
    assert report["metrics"]["tags"]["roc_auc_macro"] == pytest.approx(ev.report["tags"].roc_auc_macro)
    assert (run / "evaluation_test_confusion_quadrant.png").exists()
    assert "macro ROC-AUC" in (run / "evaluation_test.md").read_text()
    # evaluation measures what musictag tag computes: 3 s clips, 2 s windows, hop 1 s -> 2 windows
    assert ev.predictions.chunks_per_clip.tolist() == [2] * n_test
    # ... and training's validation score of the best epoch is the evaluator's score of best.keras
    valid = evaluation.evaluate_model_dir(str(run), tiny_records, "valid", batch_size=8, verbose=False)
    assert valid.report["tags"].roc_auc_macro == pytest.approx(result.best_score, abs=1e-6)


def test_emotion_only_task_selects_on_accuracy_and_has_no_tag_head(tiny_records, tmp_path):
    result = train_lib.train(job(tiny_records, tmp_path / "emo", variant="audio_vgg", task="emotion4", epochs=1))
    assert result.selection_metric == "val_emotion_accuracy"
    model = runs.load_best_model(str(tmp_path / "emo"))
    assert set(model.output) == {"quadrant"}


def test_task_needing_emotion_labels_fails_clearly_without_them(tiny_records, tmp_path):
    manifest = manifest_lib.read_manifest(tiny_records)
    copy = tmp_path / "records"
    copy.mkdir()
    for name in os.listdir(tiny_records):
        if name != manifest_lib.MANIFEST_NAME:
            os.symlink(os.path.join(tiny_records, name), copy / name)
    manifest.has_emotion = False
    manifest_lib.write_manifest(str(copy), manifest)
    with pytest.raises(ValueError, match="emotion labels"):
        train_lib.train(job(str(copy), tmp_path / "x", task="emotion2"))


def test_logit_loss_needs_soft_targets_and_a_known_name(tiny_records, tmp_path):
    with pytest.raises(ValueError, match="soft_target_loss=logit_mse needs soft targets"):
        train_lib.train(job(tiny_records, tmp_path / "x", task="tags", soft_target_loss="logit_mse"))
    with pytest.raises(P.ConfigError, match="soft_target_loss"):
        P.TrainParams(soft_target_loss="kl")
    with pytest.raises(P.ConfigError, match="crops_per_clip"):
        P.TrainParams(crops_per_clip=0)


def _train_cmd(records, model_dir, epochs, extra=()):
    return [sys.executable, "-m", "musictag_tf.train", f"--records_dir={records}", f"--model_dir={model_dir}",
            f"--epochs={epochs}", *TRAIN_FLAGS, *extra]


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.pop("TF_CONFIG", None)
    return env


@pytest.mark.slow
def test_killed_training_resumes_from_the_last_checkpoint(tiny_records, tmp_path):
    model_dir = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(tiny_records, model_dir, epochs=50), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    try:
        while not (model_dir / "checkpoints" / "ckpt-1.index").exists():
            assert proc.poll() is None, proc.stdout.read()
            assert time.time() < deadline, "no checkpoint within 240 s"
            time.sleep(0.5)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = sorted(int(p.name.split("-")[1].split(".")[0]) for p in (model_dir / "checkpoints").glob("ckpt-*.index"))
    last = done[-1]
    assert last < 50
    out = subprocess.run(_train_cmd(tiny_records, model_dir, epochs=last + 1), env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "resumed from" in out.stdout and f"(epoch {last})" in out.stdout
    assert f"epoch {last + 1}/{last + 1}" in out.stdout
    assert "epoch 1/" not in out.stdout  # nothing retrained
    history = json.loads((model_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(1, last + 2))


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_two_local_workers(tiny_records, tmp_path):
    """Two worker processes on localhost train a few synchronous steps and end with equal weights."""
    model_dir = tmp_path / "mwms"
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = _env()
        env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen(
            _train_cmd(tiny_records, model_dir, epochs=1,
                       extra=["--strategy=multi_worker", "--steps_per_epoch=3", "--variant=audio_vgg"]),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=400)[0])
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
    for proc, out in zip(procs, outputs):
        assert proc.returncode == 0, out[-3000:]
    chief = keras.saving.load_model(str(model_dir / "best.keras"), compile=False)
    other = keras.saving.load_model(str(model_dir / "workers" / "worker-1" / "best.keras"), compile=False)
    assert len(chief.weights) == len(other.weights)
    for a, b in zip(chief.weights, other.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    for out in outputs:
        assert "epoch 1/1  loss" in out  # both workers ran the synchronous steps and validation


def test_pretrained_word_vectors_initialise_a_frozen_embedding(tiny_records, tmp_path):
    from musictag_tf.lyrics import Vocabulary, train_skipgram, embedding_matrix
    from musictag_tf.lyrics.vectors import WordVectors
    from musictag_tf.params import WordVectorParams
    vocab = Vocabulary.load(os.path.join(tiny_records, manifest_lib.VOCAB_NAME))
    # a corpus of the vocabulary's own words is enough to produce a vector file to load
    corpus = [vocab.words[i:i + 12] for i in range(0, len(vocab.words), 6)]
    vectors = train_skipgram(corpus, WordVectorParams(dim=8, epochs=1), verbose=0)
    path = tmp_path / "vectors.txt"
    vectors.save_word2vec_text(str(path))
    j = train_lib.TrainJob(records_dir=tiny_records, model_dir=str(tmp_path / "wv"),
                           model=dataclasses.replace(TINY, variant="lyrics_textcnn", train_embedding=False),
                           train=dataclasses.replace(FAST, epochs=1), word_vectors=str(path), verbose=0)
    train_lib.train(j)
    model = runs.load_best_model(str(tmp_path / "wv"))
    expected = embedding_matrix(vocab, WordVectors.load_word2vec_text(str(path)), seed=FAST.seed)
    np.testing.assert_allclose(model.get_layer("lyrics_embedding").get_weights()[0], expected, rtol=1e-6)


def test_mixed_float16_training_runs_with_loss_scaling(tiny_records, tmp_path):
    j = dataclasses.replace(job(tiny_records, tmp_path / "mp", epochs=1), mixed_precision="mixed_float16")
    try:
        result = train_lib.train(j)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.isfinite(result.history[0]["loss"])
    model = runs.load_best_model(str(tmp_path / "mp"))
    assert model.get_layer("log_mel").compute_dtype == "float32"
