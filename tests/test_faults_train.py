"""Issue 15, findings 2, 10 and 11 for training: best.keras written atomically and repaired on
resume, training flags checked up front with one line each."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import types
import zipfile

import keras
import pytest

from musictag_tf import params as P, runs, train as train_lib

from conftest import PROJECT_ROOT, TINY

ONE_EPOCH = P.TrainParams(epochs=1, batch_size=8, learning_rate=3e-3, task="tags", eval_chunks=2,
                          early_stopping_patience=5)


def _job(records, model_dir, **changes):
    return train_lib.TrainJob(records_dir=records, model_dir=str(model_dir), model=TINY,
                              train=dataclasses.replace(ONE_EPOCH, **changes), steps_per_epoch=2, verbose=0)


@pytest.mark.slow  # three short training runs (~40 s)
def test_best_keras_survives_a_kill_during_save_and_a_damaged_one_is_rewritten(tiny_records, tmp_path,
                                                                                monkeypatch):
    """Finding 2: a save cut short leaves the previous best.keras; a 0-byte best.keras counts as
    missing and the resumed run rewrites it even when the replayed epoch does not improve."""
    run = tmp_path / "run"
    train_lib.train(_job(tiny_records, run))
    best = run / "best.keras"
    previous = best.read_bytes()
    assert runs.has_best_model(str(run))

    real_save = keras.Model.save

    def killed_mid_save(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt("killed during the save")

    monkeypatch.setattr(keras.Model, "save", killed_mid_save)
    score_better = lambda predictions, tags: {"val_roc_auc": 2.0}  # noqa: E731  (always improves)
    monkeypatch.setattr(train_lib, "validation_scores", score_better)
    with pytest.raises(KeyboardInterrupt):
        train_lib.train(_job(tiny_records, run, epochs=2))
    assert best.read_bytes() == previous
    assert sorted(p.name for p in run.iterdir() if "tmp" in p.name) == []

    monkeypatch.setattr(keras.Model, "save", real_save)
    best.write_bytes(b"")
    assert not runs.has_best_model(str(run)) and runs.is_run_dir(str(run))
    never_better = lambda predictions, tags: {"val_roc_auc": -0.5}  # noqa: E731  (never improves)
    monkeypatch.setattr(train_lib, "validation_scores", never_better)
    result = train_lib.train(_job(tiny_records, run, epochs=3))
    assert runs.has_best_model(str(run)) and zipfile.is_zipfile(best)
    assert result.best_epoch == 2  # the replayed epoch (the kill came before its checkpoint) rewrote it
    runs.load_best_model(str(run))


def test_cut_best_keras_is_a_model_load_error(tmp_path):
    from conftest import make_model_dir
    from musictag_tf.errors import ModelLoadError
    make_model_dir(tmp_path / "run")
    data = (tmp_path / "run" / "best.keras").read_bytes()
    (tmp_path / "run" / "best.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="cut short"):
        runs.load_model_source(str(tmp_path / "run"))


@pytest.mark.parametrize("changes, message", [
    ({"steps_per_epoch": -1}, "--steps_per_epoch: must be >= 0, got -1"),
    ({"eval_chunks": 0}, "--eval_chunks: must be >= 1, got 0"),
    ({"batch_size": 0}, "--batch_size: must be >= 1, got 0"),
    ({"crops_per_clip": 0}, "--crops_per_clip: must be >= 1, got 0"),
    ({"model_dir": "{file}"}, "exists and is not a directory"),
    ({"records_dir": "{file}"}, "--records_dir: "),
])
def test_bad_training_flags_are_one_line_before_any_work(tiny_records, tmp_path, changes, message):
    """Finding 10 and 11: each bad flag is named before anything is read or built."""
    from musictag_tf import errors
    (tmp_path / "file").write_text("x")
    values = dict(epochs=1, batch_size=8, eval_chunks=2, steps_per_epoch=0, early_stopping_patience=5,
                  crops_per_clip=1, records_dir=tiny_records, model_dir=str(tmp_path / "run"))
    values.update({k: v.format(file=tmp_path / "file") if isinstance(v, str) else v for k, v in changes.items()})
    with pytest.raises(errors.MusictagError) as info:
        train_lib.check_flags(types.SimpleNamespace(**values))
    assert message in errors.error_line("musictag-train", info.value)


def test_negative_steps_per_epoch_exits_2_without_a_model(tiny_records, tmp_path):
    """Finding 10 through the command: exit 2, one line, no untrained best.keras."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "musictag_tf.train", f"--records_dir={tiny_records}",
                           f"--model_dir={tmp_path / 'run'}", "--steps_per_epoch=-1"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if "musictag-train" in line]
    assert lines == ["musictag-train: error: --steps_per_epoch: must be >= 0, got -1"]
    assert "Traceback" not in proc.stderr and not (tmp_path / "run" / "best.keras").exists()


@pytest.mark.parametrize("changes, message", [
    ({"batch_size": 0}, "--batch_size: must be >= 1, got 0"),
    ({"output_dir": "{file}"}, "exists and is not a directory"),
    ({"output_json": "{dir}"}, "is a directory"),
])
def test_bad_evaluate_flags_are_one_line(tmp_path, changes, message):
    """Finding 11: musictag-evaluate --batch_size=0 / an --output_dir that is a file."""
    from musictag_tf import errors, evaluate
    (tmp_path / "file").write_text("x")
    values = dict(batch_size=8, eval_chunks=0, epochs=1, threshold=0.5, output_dir=None, output_json=None,
                  output_md=None)
    values.update({k: v.format(file=tmp_path / "file", dir=tmp_path) for k, v in changes.items()
                   if isinstance(v, str)})
    values.update({k: v for k, v in changes.items() if not isinstance(v, str)})
    with pytest.raises(errors.MusictagError) as info:
        evaluate.check_flags(types.SimpleNamespace(**values))
    assert message in str(info.value)
