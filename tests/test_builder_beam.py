"""The Beam pipeline writes the same shards (names), records and manifest as the local build."""

from __future__ import annotations

import pytest

pytest.importorskip("apache_beam")

from musictag_tf.data import manifest as manifest_lib  # noqa: E402
from musictag_tf.params import BuilderParams  # noqa: E402
from tfrecords_builder import process  # noqa: E402
from test_builder import LYRICS, build_mini, make_mini_mtat, mini_collection, raw_records  # noqa: E402
from tfrecords_builder import beam_pipeline  # noqa: E402

pytestmark = pytest.mark.beam


def test_beam_matches_the_local_build(shared_data, tmp_path):
    mini = make_mini_mtat(tmp_path / "mini", shared_data)
    local = build_mini(mini, tmp_path / "local").manifest
    out = tmp_path / "beam"
    (out).mkdir()
    (out / "train-00000-of-00009.tfrecord").write_bytes(b"stale shard of another layout")
    manifest = beam_pipeline.run_beam(mini_collection(mini), str(out), pipeline_args=["--runner", "FnApiRunner"],
                                      lyrics_params=LYRICS, builder_params=BuilderParams(clips_per_shard=2),
                                      tags_file=str(mini.top50))
    assert manifest == manifest_lib.read_manifest(str(out))
    assert not (out / beam_pipeline.TASKS_NAME).exists()  # the launcher's task list is cleaned up
    # same names, counts, tag frequencies, failures (from the tagged output) and warnings
    assert manifest.shards == local.shards
    assert sorted(p.name for p in out.glob("*.tfrecord")) == sorted(n for s in local.shards.values() for n in s)
    assert manifest.counts == local.counts and manifest.tag_counts == local.tag_counts
    assert manifest.failures == local.failures and len(manifest.failures) == 3
    assert manifest.warnings == local.warnings and manifest.lyrics_counts == local.lyrics_counts
    assert manifest.has_emotion and manifest.config == local.config
    assert (out / "tags.txt").read_text() == (tmp_path / "local" / "tags.txt").read_text()
    assert (out / "vocab.txt").read_text() == (tmp_path / "local" / "vocab.txt").read_text()
    # the same per-clip code: identical Examples, every value (Beam only orders them differently)
    assert raw_records(out) == raw_records(tmp_path / "local")


def test_task_file_round_trips_inline_lyrics_with_newlines(tmp_path):
    tasks = [process.ClipTask(clip_id="a", audio_path="gs://b/a.mp3", relative_path="a.mp3", split="train",
                              tags=(1, 0), lyrics_text="line one\nline two\r\n\u2028 \u6211", energy=1, stress=0,
                              quadrant=2, expected_seconds=29.0),
             process.ClipTask(clip_id="b", audio_path="/x/b.wav", relative_path="b.wav", split="test", tags=(0, 0),
                              lyrics_path="/x/b.txt")]
    path = tmp_path / beam_pipeline.TASKS_NAME
    beam_pipeline.write_tasks(str(path), tasks)
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and [beam_pipeline.task_from_json(line) for line in lines[:-1]] == tasks
