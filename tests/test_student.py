"""The shipped student ``cnn_sam_distilled`` (issue 13): cnn_sam distilled from mtt_musicnn on real
music, shipped as a run + TFLite files + model.json (musictag_tf.tag.ship_student).

Its figures in model.json were measured when it was shipped; these tests check that the files in
the package still give them: the same top-5 as recorded (and the teacher's recorded top-5) on the
shared real recordings, Keras and TFLite agreeing, and every entry point resolving the name.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from musictag_tf import artifacts, runs
from musictag_tf.model.pretrained import registry

from conftest import SHARED_DATA

STUDENT = "cnn_sam_distilled"
AUDIO = SHARED_DATA / "audio"


def test_student_files_and_listing():
    from musictag_tf.tag import models

    run_dir = registry.student_run_dir(STUDENT)
    assert runs.is_run_dir(run_dir) and runs.has_best_model(run_dir)
    assert os.path.isfile(registry.student_tflite(STUDENT, artifacts.TFLITE_FILES["float32"]))
    meta = registry.student_metadata(STUDENT)
    assert meta["teacher"] == "mtt_musicnn" and meta["architecture"] == "cnn_sam"
    assert meta["agreement"]["split"] == "test" and meta["agreement"]["tflite_float32"]["num_clips"] > 100
    assert any(line.startswith(STUDENT) for line in models.describe_students())
    assert registry.resolve_run(STUDENT) == run_dir and registry.resolve_run("runs/x") == "runs/x"
    with pytest.raises(registry.UnknownModelError):
        registry.student_run_dir("mtt_musicnn")


@pytest.mark.skipif(not AUDIO.is_dir(), reason="../shared/data/audio not present")
def test_student_top5_on_real_recordings_is_what_model_json_says():
    """`musictag tag --model=cnn_sam_distilled` (its TFLite float32) reproduces the recorded top-5
    per file, and the teacher still gives its recorded top-5: the overlap figure is reproducible."""
    from musictag_tf.audio import io as audio_io
    from musictag_tf.tag.backends import TFLiteTagger, load_tagger
    from musictag_tf.tag.ship_student import top_k_names

    shared = registry.student_metadata(STUDENT)["shared_recordings"]
    assert shared["files"] >= 10
    student = load_tagger(STUDENT)
    assert isinstance(student, TFLiteTagger) and student.info.name == STUDENT
    teacher = load_tagger("mtt_musicnn")
    checked = sorted(shared["per_file"])[:4]
    for name in checked:
        wave = audio_io.load_audio(str(AUDIO / name), student.info.sample_rate)
        row = shared["per_file"][name]
        assert top_k_names(student.tag_waveform(wave)[0]["tags"], student.info.tags, 5) == row["student"], name
        assert top_k_names(teacher.tag_waveform(wave)[0]["tags"], teacher.info.tags, 5) == row["teacher"], name
    overlaps = [row["overlap"] for row in shared["per_file"].values()]
    assert np.isclose(np.mean(overlaps), shared["mean_top5_overlap"])


@pytest.mark.skipif(not AUDIO.is_dir(), reason="../shared/data/audio not present")
def test_student_keras_run_and_tflite_agree():
    from musictag_tf.audio import io as audio_io
    from musictag_tf.tag.backends import KerasTagger, load_tagger

    path = sorted((AUDIO / "mtat").glob("*.mp3"))[0]
    keras_tagger = load_tagger(STUDENT, keras=True)
    assert isinstance(keras_tagger, KerasTagger)
    wave = audio_io.load_audio(str(path), keras_tagger.info.sample_rate)
    tflite_tagger = load_tagger(STUDENT)
    hop = tflite_tagger.info.hop_samples  # the shipped windows (model.json "windows")
    assert hop == registry.student_metadata(STUDENT)["windows"]["hop_samples"]
    a = keras_tagger.tag_waveform(wave, hop_samples=hop)[0]["tags"]
    b = tflite_tagger.tag_waveform(wave)[0]["tags"]
    np.testing.assert_allclose(a, b, atol=1e-4)
