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


@pytest.mark.skipif(not AUDIO.is_dir(), reason="../shared/data/audio not present")
def test_workers_tag_a_folder_in_parallel_with_the_same_results_in_order(tmp_path):
    """`musictag tag --workers`: one TFLite interpreter per worker thread, the same scores and the
    same order as one file at a time, and a bad file still fails alone, in its place."""
    from musictag_tf.tag.backends import Tagger, load_tagger
    from musictag_tf.tag.tagger import tag_paths, worker_taggers

    names = sorted(p.name for p in (AUDIO / "librosa").glob("*.ogg"))[:2]
    folder = tmp_path / "music"
    folder.mkdir()
    for i, name in enumerate(names):
        os.symlink(AUDIO / "librosa" / name, folder / f"{i}_{name}")
    (folder / "1b_broken.wav").write_bytes(b"RIFF not really audio")
    tagger = load_tagger(STUDENT, tflite_variant="int8")
    assert tagger.info.path.endswith(artifacts.TFLITE_FILES["int8"])
    copies = worker_taggers(tagger, 2, num_files=4)
    assert len(copies) == 2 and copies[0] is not tagger and copies[0].info is tagger.info
    assert worker_taggers(tagger, 2, num_files=1) == [tagger]
    keras_like = Tagger()  # a backend without per-thread copies (Keras, SavedModel) stays one worker
    assert worker_taggers(keras_like, 2, num_files=4) == [keras_like]

    seen = []
    one = tag_paths([str(folder)], tagger, progress=False, workers=1)
    two = tag_paths([str(folder)], tagger, progress=False, workers=2, on_result=lambda c: seen.append(c.path))
    assert [c.path for c in two.results] == [c.path for c in one.results] == seen
    assert len(two.results) == len(names) and [p for p, _ in two.failures] == [str(folder / "1b_broken.wav")]
    assert two.failures == one.failures
    for a, b in zip(one.results, two.results):
        np.testing.assert_allclose(a.probabilities["tags"], b.probabilities["tags"], atol=1e-5)
