"""``musictag tag --clip_seconds``: one CSV row per clip, keyed as the builder's --soft_labels expects."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest
from absl import flags

from musictag_tf.audio.clips import ClipParams, clip_spans, file_duration
from musictag_tf.tag import backends, cli as tag_cli, tagger as tag_tagger
from musictag_tf.tag.clips import tag_clips_of_file
from tfrecords_builder import soft_labels

from conftest import TAGS, make_model_dir

LONG = "Kevin_MacLeod_-_Vibe_Ace.ogg"  # 61.5 s


def test_clip_rows_match_builder_keys_and_equal_tagging_the_span(tmp_path, shared_data):
    make_model_dir(tmp_path / "run")
    song = str(shared_data / "audio" / "librosa" / LONG)
    out = tmp_path / "teacher.csv"
    fv = flags.FlagValues()
    tag_cli.define_flags(fv)
    argv = fv(["musictag tag", song, f"--model={tmp_path / 'run'}", "--format=csv", f"--output={out}",
               "--clip_seconds=14", "--keep_remainder"])
    assert tag_cli.main(argv, fv) == 0
    rows = list(csv.reader(open(out)))
    assert rows[0] == ["path"] + TAGS
    expected = [f"{os.path.abspath(song)}#{s:.2f}" for s, _ in
                clip_spans(file_duration(song), ClipParams(14.0, keep_remainder=True))]
    assert [r[0] for r in rows[1:]] == expected == [f"{os.path.abspath(song)}#{s}" for s in
                                                    ("0.00", "14.00", "28.00", "42.00", "56.00")]  # 5.5 s remainder kept
    # the table is a valid --soft_labels table (keys: absolute path + start)
    table = soft_labels.read_soft_labels(str(out))
    assert (os.path.abspath(song), 14.0) in table.scores
    # a clip's scores are those of tagging its span as a file of its own
    tagger = backends.load_tagger(str(tmp_path / "run"))
    clips = tag_clips_of_file(tagger, song, ClipParams(14.0))
    from musictag_tf.audio.clips import read_span
    probabilities, _, _ = tagger.tag_waveform(read_span(song, 14.0, 14.0), None, None)
    np.testing.assert_allclose(clips[1].probabilities["tags"], probabilities["tags"], rtol=1e-5)
    np.testing.assert_allclose([float(v) for v in rows[2][1:]], probabilities["tags"], atol=1e-6)
    assert clips[1].window_start_seconds[0] == 14.0


def test_attention_json_and_plot(tmp_path, shared_data, capsys):
    import json

    make_model_dir(tmp_path / "run")
    song = str(shared_data / "audio" / "librosa" / "sorohanro_-_solo-trumpet-06.ogg")  # 5.3 s
    out = tmp_path / "tags.json"
    fv = flags.FlagValues()
    tag_cli.define_flags(fv)
    argv = fv(["musictag tag", song, f"--model={tmp_path / 'run'}", f"--output={out}", "--attention",
               f"--plot={tmp_path / 'png'}"])
    assert tag_cli.main(argv, fv) == 0
    entry = json.loads(out.read_text())[0]
    att = entry["attention"]
    assert att["window_start_seconds"] == entry["taggram"]["window_start_seconds"]
    for w0, starts, ends, rows in zip(att["window_start_seconds"], att["segment_start_seconds"],
                                      att["segment_end_seconds"], att["weights"]):
        assert len(rows) == 4 and all(len(r) == len(starts) for r in rows)  # r = 4 rows over the segments
        assert starts[0] == w0 and all(e > s for s, e in zip(starts, ends))
        assert ends[-1] == pytest.approx(w0 + 2.0, abs=0.1)  # TINY windows are 2 s
        np.testing.assert_allclose([sum(r) for r in rows], 1.0, atol=1e-3)
    assert (tmp_path / "png" / "sorohanro_-_solo-trumpet-06.taggram.png").stat().st_size > 0

    make_model_dir(tmp_path / "vgg", variant="audio_vgg")
    fv = flags.FlagValues()
    tag_cli.define_flags(fv)
    argv = fv(["musictag tag", song, f"--model={tmp_path / 'vgg'}", "--attention"])
    assert tag_cli.main(argv, fv) == 2
    assert "cnn_sam only" in capsys.readouterr().err
