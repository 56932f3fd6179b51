"""Issue 13 items 2-3: long files -> clips (``--clip_seconds``) and soft teacher labels (``--soft_labels``)."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import tensorflow as tf

from musictag_tf.audio import clips as clips_lib
from musictag_tf.audio.io import load_audio
from musictag_tf.data import manifest as manifest_lib
from musictag_tf.data import schema
from musictag_tf.errors import DatasetError
from musictag_tf.params import BuilderParams, ConfigError, SegmentParams

LONG = "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg"  # 119.9 s, 22.05 kHz
SHORT = "sorohanro_-_solo-trumpet-06.ogg"
SEGMENTS = SegmentParams(kernel_seconds=0.25, min_segment_seconds=0.25, max_segment_seconds=1.0)


def test_clip_spans_rule():
    p = clips_lib.ClipParams(clip_seconds=10.0)
    assert clips_lib.clip_spans(35.0, p) == [(0.0, 10.0), (10.0, 10.0), (20.0, 10.0)]
    kept = clips_lib.ClipParams(clip_seconds=10.0, keep_remainder=True, min_remainder_seconds=4.0)
    assert clips_lib.clip_spans(35.0, kept)[-1] == (30.0, 5.0)
    assert len(clips_lib.clip_spans(33.0, kept)) == 3  # 3 s remainder < 4 s minimum
    assert clips_lib.clip_spans(6.0, p) == []
    assert clips_lib.clip_spans(6.0, kept) == [(0.0, 6.0)]
    assert clips_lib.clip_key("a/b", 29.1) == "a/b#29.10"
    assert clips_lib.split_clip_key("a#b/c.ogg#58.20") == ("a#b/c.ogg", 58.2)
    assert clips_lib.split_clip_key("plain.ogg") == ("plain.ogg", None)
    with pytest.raises(ConfigError):
        clips_lib.ClipParams(clip_seconds=0.5)


def _table(tmp_path, shared_data, names=(LONG,)):
    """A table of copies under tmp_path/audio (a table may only name files under its folder)."""
    table = tmp_path / "songs.csv"
    (tmp_path / "audio").mkdir(exist_ok=True)
    with open(table, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["audio_path", "tags", "split"])
        for name in names:
            shutil.copy(shared_data / "audio" / "librosa" / name, tmp_path / "audio" / name)
            w.writerow([f"audio/{name}", "", "train"])
    return str(table)


def _build(table, out, **kwargs):
    from tfrecords_builder import sources
    from tfrecords_builder.build import build_records

    return build_records(sources.read_table(table), str(out), segment_params=SEGMENTS,
                         builder_params=BuilderParams(clips_per_shard=8, num_workers=1), progress=False,
                         pool=False, **kwargs)


def _records(out, num_tags):
    rows = []
    for path in manifest_lib.split_files(str(out), "train"):
        for raw in tf.data.TFRecordDataset(path):
            rows.append(schema.decode_example_numpy(raw.numpy(), num_tags))
    return sorted(rows, key=lambda r: float(r["clip_id"].rsplit("#", 1)[1]))


@pytest.mark.parametrize("keep, expected", [(False, 4), (True, 5)])
def test_clip_seconds_cuts_long_file(tmp_path, shared_data, keep, expected):
    soft = tmp_path / "soft.csv"
    table = _table(tmp_path, shared_data)
    path = str(tmp_path / "audio" / LONG)
    params = clips_lib.ClipParams(29.1, keep_remainder=keep, min_remainder_seconds=1.0)
    starts = [s for s, _ in clips_lib.clip_spans(clips_lib.file_duration(path), params)]
    soft.write_text("path,a\n" + "".join(f"{clips_lib.clip_key(path, s)},0.0\n" for s in starts))
    _build(table, tmp_path / "rec", clip_params=params, soft_labels=str(soft))
    rows = _records(tmp_path / "rec", 1)
    assert len(rows) == expected
    whole = load_audio(path, 16000)
    stem = "audio/" + LONG[:-len(".ogg")]  # clip id: the table's audio_path without its extension
    for k, row in enumerate(rows):
        assert row["clip_id"] == f"{stem}#{k * 29.1:.2f}"
        n = row["num_samples"]
        start = int(round(k * 29.1 * 16000))
        if k < 4:
            assert n == int(round(29.1 * 16000))
        else:
            assert n == whole.shape[0] - start  # the 3.5 s remainder, up to the file's end
        np.testing.assert_allclose(row["waveform"], whole[start:start + n], atol=1.5 / 32767)


def _soft_build(tmp_path, shared_data, text, **kwargs):
    path = str(tmp_path / "audio" / LONG)
    soft = tmp_path / "teacher.csv"
    soft.write_text(text.format(p=path))
    return _build(_table(tmp_path, shared_data), tmp_path / "rec", clip_params=clips_lib.ClipParams(39.0),
                  soft_labels=str(soft), **kwargs)


def test_soft_labels_round_trip(tmp_path, shared_data):
    result = _soft_build(tmp_path, shared_data, "path,rock,piano\n{p}#0.00,0.123456,0.9\n"
                         "{p}#39.00,0.75,0.0\n{p}#78,0.5,0.499\n")
    assert manifest_lib.read_tags(str(tmp_path / "rec")) == ["rock", "piano"]
    assert result.manifest.schema_version == schema.SCHEMA_VERSION == 2
    rows = _records(tmp_path / "rec", 2)
    targets = np.array([r["tag_targets"] for r in rows])
    np.testing.assert_allclose(targets, [[0.123456, 0.9], [0.75, 0.0], [0.5, 0.499]], rtol=1e-6)
    np.testing.assert_array_equal(np.array([r["tags"] for r in rows]), [[0, 1], [1, 0], [1, 0]])


@pytest.mark.parametrize("text, message", [
    ("path,rock,zzz\n{p}#0.00,0.1,0.2\n{p}#39.00,0.1,0.2\n{p}#78.00,0.1,0.2\n", "not tags of this build: zzz"),
    ("path,rock\n{p}#0.00,nan\n{p}#39.00,0.1\n{p}#78.00,0.1\n", "finite number in [0, 1]"),
    ("path,rock\n{p}#0.00,1.5\n", "finite number in [0, 1]"),
    ("path,rock\n{p}#0.00,0.1\n", "2 of 3 records have no soft-label row"),
])
def test_soft_labels_errors(tmp_path, shared_data, text, message):
    tags_file = tmp_path / "tags.txt"
    tags_file.write_text("rock\n")
    with pytest.raises(DatasetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _soft_build(tmp_path, shared_data, text, tags_file=str(tags_file))


def test_missing_soft_labels_allowed(tmp_path, shared_data):
    result = _soft_build(tmp_path, shared_data, "path,rock\n{p}#0.00,0.25\n", allow_missing_soft_labels=True)
    assert any("2 of 3 records have no soft-label row" in w.reason for w in result.manifest.warnings)
    rows = _records(tmp_path / "rec", 1)
    assert [float(r["tag_targets"][0]) for r in rows] == [0.25, 0.0, 0.0]


def test_schema_v1_record_parses_with_hard_targets():
    """A record written before tag_targets existed: targets = its multi-hot tags."""
    record = schema.ClipRecord(clip_id="c", audio_path="a", split="train", waveform=np.zeros(160, np.float32),
                               sample_rate=16000, log_mel=np.zeros((4, 3), np.float32), lyrics_ids=[],
                               lyrics_text="", tags=[0, 1, 1])
    example = tf.train.Example.FromString(schema.encode_example(record))
    del example.features.feature["tag_targets"]
    parsed = schema.decode_example_numpy(example.SerializeToString(), 3)
    np.testing.assert_array_equal(parsed["tag_targets"], [0.0, 1.0, 1.0])
