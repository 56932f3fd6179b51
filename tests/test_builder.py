"""The offline TFRecords builder on real clips, synthetic data and generic tables.

The mini MTAT tree is made in tmp_path from ../shared/data (never copied into the project):
the real MTAT clip (clip 37386, e/joram-...-59-88.mp3, ground truth [techno] from the Pons
test ground truth) plus other real recordings placed in folders 0-3 (train), c (valid) and d
(test) with test-assigned tags, and three bad files in train folders: a truncated copy of
the MTAT clip, an empty file and a text file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from musictag_tf.mtat import datasets as mtat
from musictag_tf.audio.features import compute_log_mel
from musictag_tf.audio.io import load_audio
from musictag_tf.audio.segmentation import find_segments
from musictag_tf.data import manifest as manifest_lib
from musictag_tf.data import schema
from musictag_tf.errors import DatasetError
from musictag_tf.lyrics.encode import encode_text
from musictag_tf.lyrics.vocab import Vocabulary
from musictag_tf.params import AudioParams, BuilderParams, LyricsParams, SegmentParams, SyntheticParams
from tfrecords_builder import build, process, sources, tag_vocab, writer

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
LYRICS = LyricsParams(min_count=1)  # tiny corpus: keep every train word
JORAM_TRACK = "joram-moments_of_clarity-08-solipsism"
# clip id, folder, source file under ../shared/data/audio, tags (None: from MTAT ground truth)
REAL_CLIPS = (
    ("37386", "e", "mtat/joram-moments_of_clarity-08-solipsism-59-88.mp3", None),
    ("101", "0", "librosa/sorohanro_-_solo-trumpet-06.ogg", ("classical", "solo")),
    ("102", "1", "mirdata/slakh__mix.wav", ("rock", "drums")),
    ("103", "2", "mirdata/medley_solos_db__Medley-solos-DB_validation-3_d07b1fc0-567d-52c2-fef4-239f31c9d40e.wav",
     ("classical", "piano")),
    ("104", "3", "mirdata/egfxset__6-22.wav", ("guitar",)),
    ("201", "c", "mirdata/openmic2018__000046_3840.ogg", ("rock", "guitar")),
    ("202", "c", "mirdata/dagstuhl_choirset__DCS_LI_QuartetB_Take04_Stereo_STM.wav", ("choir", "vocal")),
    ("301", "d", "librosa/5703-47212-0000.ogg", ("male", "vocal")),
)
BAD_CLIPS = (  # clip id, relative path, tags, expected reason
    ("901", "5/truncated_joram-0-29.mp3", ("techno",), "truncated"),
    ("902", "6/empty-0-29.mp3", ("rock",), "empty file"),
    ("903", "7/not_audio-0-29.mp3", ("rock",), "not an audio file"),
)
EXTRA_COLUMNS = ("trumpet", "speech")  # tag columns outside the top 50, as MTAT's other 138
LYRICS_TEXT = {
    "101": "Golden trumpet calling over the silver river\nGolden morning, trumpet calling",
    "joram": "Machine heartbeat underground, machine dreams",
    "201": "Valley whisper only heard in validation",
}
EMOTION = {"101": ("low", "low", ""), "37386": ("high", "high", ""), "201": ("", "", "exuberance")}
EXPECTED_EMOTION = {"101": (0, 0, 0), "37386": (1, 1, 3), "201": (1, 0, 2)}
TRAIN_SHARDS = 4  # 7 train rows (4 good, 3 bad) at 2 clips per shard


@dataclasses.dataclass
class MiniTree:
    root: pathlib.Path
    files: dict  # clip id -> audio path
    tags: dict  # clip id -> tags
    split: dict  # clip id -> split
    lyrics_table: pathlib.Path
    labels_table: pathlib.Path
    top50: pathlib.Path


def _write_annotations(path: pathlib.Path, rows) -> None:
    columns = list(mtat.TOP50_TAGS) + list(EXTRA_COLUMNS)
    lines = ["\t".join(f'"{c}"' for c in ["clip_id", *columns, "mp3_path"])]
    for clip_id, relative, tags in rows:
        values = [clip_id, *("1" if c in tags else "0" for c in columns), relative]
        lines.append("\t".join(f'"{v}"' for v in values))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_mini_mtat(root: pathlib.Path, shared: pathlib.Path) -> MiniTree:
    """The mini MTAT tree described in the module docstring, with lyrics and labels tables."""
    index = mtat.read_index(shared / "mtat")
    truth = mtat.ground_truth("pons", "test", shared / "mtat")
    row = truth.row_of()[37386]
    joram_tags = tuple(t for t, v in zip(truth.tags, truth.labels[row]) if v)
    files, tags, split, rows = {}, {}, {}, []
    for clip_id, folder, source, clip_tags in REAL_CLIPS:
        src = shared / "audio" / source
        if not src.exists():
            pytest.skip(f"real data not available: {src}")
        relative = index[37386] if clip_id == "37386" else f"{folder}/{src.name}"
        dest = root / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        files[clip_id], tags[clip_id] = dest, clip_tags or joram_tags
        split[clip_id] = mtat.folder_split(relative)
        rows.append((clip_id, relative, tags[clip_id]))
    joram_bytes = (shared / "audio" / REAL_CLIPS[0][2]).read_bytes()
    # 901 is cut on a frame boundary near half: a valid shorter mp3 the decoder cannot flag (a cut
    # inside a frame is caught by mp3_frames, tests/test_mp3_truncation.py), so the length the
    # MTAT file name promises is what catches it here.
    contents = {"901": joram_bytes[: _frame_boundary_near_half(joram_bytes)], "902": b"",
                "903": b"clip_id\tthis is a text file\n"}
    for clip_id, relative, clip_tags, _ in BAD_CLIPS:
        dest = root / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(contents[clip_id])
        files[clip_id], tags[clip_id], split[clip_id] = dest, clip_tags, "train"
        rows.append((clip_id, relative, clip_tags))
    _write_annotations(root / "annotations_final.csv", rows)
    (root / "lyrics").mkdir()
    for key, text in LYRICS_TEXT.items():
        (root / "lyrics" / f"{key}.txt").write_text(text, encoding="utf-8")
    (root / "lyrics" / "102.txt").write_bytes(b"caf\xe9 \x80\x81 not utf-8")
    lyrics_table = root / "lyrics.tsv"
    lyrics_table.write_text("clip_id\ttrack_id\tlyrics_file\n101\t\tlyrics/101.txt\n"
                            f"\t{JORAM_TRACK}\tlyrics/joram.txt\n102\t\tlyrics/102.txt\n201\t\tlyrics/201.txt\n",
                            encoding="utf-8")
    labels_table = root / "emotion.tsv"
    labels_table.write_text("clip_id\tenergy\tstress\tquadrant\n" + "".join(
        f"{k}\t{e}\t{s}\t{q}\n" for k, (e, s, q) in EMOTION.items()), encoding="utf-8")
    top50 = shared / "mtat" / "top50_tags.txt"
    return MiniTree(root, files, tags, split, lyrics_table, labels_table, top50)


def read_records(out_dir, num_tags: int) -> dict:
    """clip id -> decoded record (NumPy) over every shard the manifest lists."""
    manifest = manifest_lib.read_manifest(str(out_dir))
    out = {}
    for split in schema.SPLITS:
        for path in manifest_lib.split_files(str(out_dir), split, manifest):
            for raw in tf.data.TFRecordDataset(path):
                record = schema.decode_example_numpy(raw.numpy(), num_tags)
                record["shard"] = os.path.basename(path)
                out[record["clip_id"]] = record
    return out


def raw_records(out_dir) -> dict:
    """clip id -> tf.train.Example over every shard file (compared field by field: the byte
    order of the feature map may differ between processes)."""
    out = {}
    for path in sorted(pathlib.Path(out_dir).glob("*.tfrecord")):
        for raw in tf.data.TFRecordDataset(str(path)):
            example = tf.train.Example.FromString(raw.numpy())
            out[example.features.feature["clip_id"].bytes_list.value[0].decode()] = example
    return out


def _frame_boundary_near_half(mp3: bytes) -> int:
    """The first mp3 frame boundary at or after half the file."""
    import io
    from musictag_tf.audio import mp3_frames
    pos = mp3_frames.read_layout(io.BytesIO(mp3), len(mp3)).audio_start
    while pos < len(mp3) // 2:
        pos += mp3_frames.parse_header(mp3, pos).length
    return pos


@pytest.fixture(scope="module")
def mini(tmp_path_factory, shared_data) -> MiniTree:
    return make_mini_mtat(tmp_path_factory.mktemp("mini_mtat"), shared_data)


def mini_collection(mini: MiniTree, **kwargs) -> sources.Collection:
    return sources.read_mtat_tree(str(mini.root), lyrics_table=str(mini.lyrics_table),
                                  labels_table=str(mini.labels_table), **kwargs)


def build_mini(mini: MiniTree, out_dir, **kwargs) -> build.BuildResult:
    return build.build_records(mini_collection(mini), str(out_dir), lyrics_params=LYRICS,
                               builder_params=BuilderParams(clips_per_shard=2), tags_file=str(mini.top50),
                               progress=False, **kwargs)


@pytest.fixture(scope="module")
def mini_build(mini, tmp_path_factory):
    out = tmp_path_factory.mktemp("records")
    return build_mini(mini, out), out


# ---------------------------------------------------------------------------- the real clips

def test_mini_mtat_counts_splits_and_failures(mini, mini_build):
    result, out = mini_build
    manifest = result.manifest
    assert result.workers == 0  # 8 short clips: the pool would not pay for its start-up
    assert manifest.counts == {"train": 4, "valid": 2, "test": 2}
    assert manifest.num_tags == 50 and manifest_lib.read_tags(str(out)) == list(mtat.TOP50_TAGS)
    assert [len(manifest.shards[s]) for s in schema.SPLITS] == [TRAIN_SHARDS, 1, 1]
    assert manifest.shards["train"][0] == "train-00000-of-00004.tfrecord"
    assert manifest == manifest_lib.read_manifest(str(out))
    # the 3 bad files, and only they, failed, each with its reason
    failed = {f.clip_id: f for f in manifest.failures}
    assert set(failed) == {"901", "902", "903"}
    for clip_id, relative, _, reason in BAD_CLIPS:
        assert failed[clip_id].path == str(mini.root / relative)
        assert reason in failed[clip_id].reason, failed[clip_id]
    assert "29 s" in failed["901"].reason  # promised by the MTAT file name
    # the unreadable lyrics file is a warning; its clip is kept without lyrics
    lyric_warnings = [w for w in manifest.warnings if w.clip_id == "102"]
    assert len(lyric_warnings) == 1 and "lyrics" in lyric_warnings[0].reason
    assert lyric_warnings[0].path.endswith("102.txt") and "UTF-8" in lyric_warnings[0].reason
    assert manifest.lyrics_counts == {"train": 1, "valid": 1, "test": 1}
    assert manifest.has_emotion
    assert manifest.config["source"]["kind"] == "mtat" and manifest.config["builder"]["clips_per_shard"] == 2
    assert manifest.lyrics_params() == LYRICS and manifest.audio_params() == AudioParams()
    # tag frequencies per split, from the written clips only
    assert manifest.tag_counts["train"]["classical"] == 2 and manifest.tag_counts["train"]["techno"] == 0
    assert manifest.tag_counts["test"]["techno"] == 1 and manifest.tag_counts["valid"]["rock"] == 1
    report = result.report()
    assert "3 failed" in report and "empty-0-29.mp3" in report and "valid" in report


def test_records_round_trip_exactly(mini, mini_build):
    result, out = mini_build
    records = read_records(out, 50)
    assert set(records) == {c[0] for c in REAL_CLIPS}
    vocab = Vocabulary.load(str(out / "vocab.txt"))
    texts = {"101": LYRICS_TEXT["101"], "37386": LYRICS_TEXT["joram"], "201": LYRICS_TEXT["201"]}
    audio = AudioParams()
    for clip_id, record in records.items():
        path = mini.files[clip_id]
        assert record["split"] == mini.split[clip_id]
        assert record["shard"].startswith(mini.split[clip_id] + "-")
        assert record["audio_path"] == str(path.relative_to(mini.root))
        wave = load_audio(str(path), audio.sample_rate)
        pcm = np.frombuffer(schema.waveform_to_pcm16(wave), "<i2").astype(np.float32) / schema.WAVEFORM_SCALE
        np.testing.assert_array_equal(record["waveform"], pcm)
        assert record["num_samples"] == len(wave) and record["sample_rate"] == audio.sample_rate
        log_mel = compute_log_mel(wave, audio)
        np.testing.assert_array_equal(record["log_mel"], log_mel.astype(np.float16).astype(np.float32))
        np.testing.assert_array_equal(record["segment_starts"], find_segments(log_mel, audio, SegmentParams()))
        expected_tags = [1.0 if t in mini.tags[clip_id] else 0.0 for t in mtat.TOP50_TAGS]
        np.testing.assert_array_equal(record["tags"], expected_tags)
        text = texts.get(clip_id, "")
        assert record["lyrics_text"] == text and record["has_lyrics"] == int(bool(text))
        ids = encode_text(text, vocab, LYRICS) if text else np.zeros(0, np.int32)
        np.testing.assert_array_equal(record["lyrics_ids"], ids[ids != 0])
        emotion = EXPECTED_EMOTION.get(clip_id, (-1, -1, -1))
        assert (record["energy"], record["stress"], record["quadrant"]) == emotion
    assert records["37386"]["tags"].sum() == 1 and records["37386"]["tags"][mtat.TOP50_TAGS.index("techno")] == 1
    assert records["37386"]["num_samples"] > 29 * audio.sample_rate


def test_lyrics_vocabulary_comes_from_train_only(mini_build):
    _, out = mini_build
    words = set(Vocabulary.load(str(out / "vocab.txt")).words)
    assert {"golden", "trumpet", "river"} <= words  # train lyrics (clip 101)
    assert not words & {"machine", "heartbeat", "valley", "whisper"}  # test / valid lyrics
    records = read_records(out, 50)
    assert set(records["37386"]["lyrics_ids"]) == {1}  # every test word is out of vocabulary


def test_records_feed_the_training_pipeline(mini_build):
    from musictag_tf.data import pipeline
    from musictag_tf.params import ModelParams

    _, out = mini_build
    manifest = manifest_lib.read_manifest(str(out))
    config = pipeline.PipelineConfig.from_records(manifest, ModelParams())
    files = manifest_lib.split_files(str(out), "train", manifest)
    features, labels = next(iter(pipeline.training_dataset(files, config, batch_size=4)))
    assert features["waveform"].shape == (4, config.chunk_samples)
    assert features["lyrics_ids"].shape == (4, LYRICS.max_tokens)
    assert labels["tags"].shape == (4, 50)


def test_won2020_split_skips_and_counts_unlisted_clips(mini, shared_data):
    sources_dir = shared_data / "mtat"
    if not (sources_dir / "won2020" / "test.npy").exists():
        pytest.skip("Won et al. split files not available")
    collection = sources.read_mtat_tree(str(mini.root), split="won2020", split_dir=str(sources_dir))
    assert [(c.clip_id, c.split) for c in collection.clips] == [("37386", "test")]  # Won test, row 17050
    assert collection.skipped == {"not in any Won et al. 2020 split list": 10}
    assert any("10 clips skipped" in w.reason for w in collection.warnings)


def test_top_n_tags_by_frequency_with_column_order_ties(mini):
    collection = mini_collection(mini)
    choice = tag_vocab.choose_tags(collection, top_n=3)
    # rock: 4 rows; guitar, classical, techno, vocal: 2 each -> MTAT column order breaks the tie
    assert choice.tags == ("rock", "guitar", "classical")
    assert choice.multi_hot(("guitar", "speech")) == (0, 1, 0)
    many = tag_vocab.choose_tags(collection, top_n=200)
    assert len(many.tags) == 10  # tags with any positive; zero-count columns are never chosen
    assert any("fewer than top_n=200" in w.reason for w in many.warnings)


def test_tag_list_with_unknown_tags_is_reported(mini, tmp_path):
    tags_file = tmp_path / "tags.txt"
    tags_file.write_text("techno\nno_vocals\nnot_a_tag\n", encoding="utf-8")
    choice = tag_vocab.choose_tags(mini_collection(mini), tags_file=str(tags_file))
    assert choice.tags == ("techno", "no_vocals", "not_a_tag")
    assert choice.source_names == ("techno", "no vocals", None)  # spelling-insensitive match
    reasons = [w.reason for w in choice.warnings]
    assert any("unknown tag 'not_a_tag'" in r and "0 of 11 clips" in r for r in reasons)
    assert any("'no_vocals' has no positive" in r for r in reasons)


def test_interrupted_build_resumes_without_rewriting_finished_shards(mini, mini_build, tmp_path, monkeypatch):
    out = tmp_path / "records"
    prepared = build.prepare(mini_collection(mini), lyrics_params=LYRICS,
                             builder_params=BuilderParams(clips_per_shard=2), tags_file=str(mini.top50))
    plans = writer.plan_shards(prepared.tasks, 2, prepared.fingerprint)
    assert [p.name for p in plans[:2]] == ["train-00000-of-00004.tfrecord", "train-00001-of-00004.tfrecord"]
    second = {t.clip_id for t in plans[1].tasks}
    real = process.process_clip

    def failing(task, processor):
        if task.clip_id in second:
            raise RuntimeError("simulated crash in the 2nd shard")
        return real(task, processor)

    monkeypatch.setattr(process, "process_clip", failing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_mini(mini, out)
    monkeypatch.setattr(process, "process_clip", real)

    first = out / plans[0].name
    assert first.exists() and writer.finished_summary(str(out), plans[0]) is not None
    assert not (out / plans[1].name).exists()
    assert not (out / manifest_lib.MANIFEST_NAME).exists()
    assert not list(out.glob("*.tmp-*")) and not (out / writer.LOCK_NAME).exists()
    for path in out.glob("*.tfrecord"):  # whatever looks like a shard is finished
        plan = next(p for p in plans if p.name == path.name)
        assert writer.finished_summary(str(out), plan) is not None
    # what a hard kill could leave: a temporary file, and a stale shard without summary
    (out / (plans[1].name + ".tmp-999999")).write_bytes(b"half a shard")
    (out / plans[2].name).write_bytes(b"stale shard from another run")
    before = first.stat()

    result = build_mini(mini, out)
    after = first.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not rewritten
    assert result.shards_resumed == 1 and result.shards_written == len(plans) - 1
    assert not list(out.glob("*.tmp-*"))
    full_result, full_out = mini_build
    assert result.manifest == full_result.manifest  # complete counts and failures after resuming
    assert raw_records(out) == raw_records(full_out)  # identical records

    again = build_mini(mini, out)  # nothing left to do
    assert again.shards_written == 0 and again.clips_processed == 0 and again.manifest == full_result.manifest


def test_changed_settings_rebuild_every_shard(mini, mini_build, tmp_path):
    _, full_out = mini_build
    out = tmp_path / "copy"
    shutil.copytree(full_out, out)
    result = build.build_records(mini_collection(mini), str(out), lyrics_params=LYRICS,
                                 builder_params=BuilderParams(clips_per_shard=2, store_segments=False),
                                 tags_file=str(mini.top50), progress=False)
    assert result.shards_resumed == 0
    records = read_records(out, 50)
    assert all(list(r["segment_starts"]) == [0.0] for r in records.values())


# ---------------------------------------------------------------------------- synthetic data

@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from tfrecords_builder.synthetic import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("synthetic"), SyntheticParams(num_clips=32, clip_seconds=4.0),
                            workers=1, progress=False)


def _synthetic_collection(data):
    return sources.read_mtat_tree(str(data.out_dir), lyrics_table=str(data.lyrics_table_path),
                                  labels_table=str(data.emotion_path))


def test_synthetic_dataset_in_a_spawn_pool(synthetic, tmp_path, monkeypatch):
    out = tmp_path / "pool"
    monkeypatch.setattr(build, "POOL_MIN_SECONDS", 0.0)  # probe 8 clips here, then pool the rest
    monkeypatch.setattr(build, "MIN_AUTO_POOL_WORKERS", 2)
    result = build.build_records(_synthetic_collection(synthetic), str(out), lyrics_params=LYRICS,
                                 builder_params=BuilderParams(clips_per_shard=8, num_workers=2),
                                 tags_file=str(synthetic.tags_path), progress=False)
    assert result.workers == 2
    manifest = result.manifest
    assert manifest.counts == {"train": synthetic.num_train, "valid": synthetic.num_valid, "test": synthetic.num_test}
    assert not manifest.failures and manifest.has_emotion and manifest.num_tags == len(synthetic.tags)
    truth = {str(row["clip_id"]): row
             for row in map(json.loads, synthetic.truth_path.read_text(encoding="utf-8").splitlines())}
    records = read_records(out, manifest.num_tags)
    assert set(records) == set(truth)
    for clip_id, record in records.items():
        row = truth[clip_id]
        assert record["split"] == row["split"]
        assert (record["energy"], record["stress"], record["quadrant"]) == (row["energy"], row["stress"],
                                                                             row["quadrant"])
        np.testing.assert_array_equal(record["tags"], [float(t in row["tags"]) for t in synthetic.tags])
        assert record["has_lyrics"] == int(row["lyrics_file"] is not None)
        assert record["num_samples"] == 4 * 16000
    with_lyrics = {s: sum(1 for r in truth.values() if r["split"] == s and r["lyrics_file"]) for s in schema.SPLITS}
    assert manifest.lyrics_counts == with_lyrics
    assert any("\u4e00" <= ch <= "\u9fff" for r in records.values() for ch in r["lyrics_text"])  # Chinese kept

    # the pool (1 TF thread per worker) and the in-process path write the same records
    inline = build.build_records(_synthetic_collection(synthetic), str(tmp_path / "inline"), lyrics_params=LYRICS,
                                 builder_params=BuilderParams(clips_per_shard=8, num_workers=1),
                                 tags_file=str(synthetic.tags_path), progress=False)
    assert inline.workers == 0
    assert dataclasses.replace(inline.manifest, config=manifest.config) == manifest  # all but num_workers
    assert raw_records(tmp_path / "inline") == raw_records(out)  # identical Examples, every value


# ---------------------------------------------------------------------------- generic tables

def _write_table(path: pathlib.Path, header, rows) -> None:
    path.write_text("\n".join(["\t".join(header)] + ["\t".join(r) for r in rows]) + "\n", encoding="utf-8")


def test_generic_table_with_inline_lyrics_lyrics_file_and_named_emotions(shared_data, tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    for name in ("slakh__mix.wav", "egfxset__6-22.wav", "openmic2018__000046_3840.ogg"):
        shutil.copyfile(shared_path_or_skip(shared_data / "audio" / "mirdata" / name), audio / name)
    import soundfile as sf

    sf.write(str(audio / "silence.wav"), np.zeros(16000, np.float32), 16000)
    square = np.sign(np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)
    sf.write(str(audio / "clipped.wav"), square, 16000, subtype="FLOAT")
    (tmp_path / "song.txt").write_text("Dancing shadows dancing\n", encoding="utf-8")
    header = ["clip_id", "audio_path", "tags", "split", "lyrics", "lyrics_file", "energy", "stress", "quadrant"]
    _write_table(tmp_path / "songs.tsv", header, [
        ["a", "audio/slakh__mix.wav", "rock; drums", "train", "Dancing lights, dancing all night", "",
         "high", "low", ""],
        ["b", "audio/egfxset__6-22.wav", "guitar|rock", "val", "", "song.txt", "", "", "anxious"],
        ["c", "audio/openmic2018__000046_3840.ogg", "", "test", "", "", "", "", ""],
        ["d", "audio/missing.wav", "rock", "test", "", "", "", "", ""],
        ["e", "audio/silence.wav", "rock", "test", "", "", "", "", ""],
        ["f", "audio/clipped.wav", "rock", "train", "", "", "", "", ""],
    ])
    collection = sources.read_table(str(tmp_path / "songs.tsv"))
    out = tmp_path / "records"
    result = build.build_records(collection, str(out), lyrics_params=LYRICS,
                                 builder_params=BuilderParams(top_n_tags=50), progress=False)
    manifest = result.manifest
    assert manifest_lib.read_tags(str(out)) == ["rock", "drums", "guitar"]
    assert manifest.counts == {"train": 2, "valid": 1, "test": 1}
    assert [(f.clip_id, f.reason[:14]) for f in manifest.failures] == [("d", "file not found"), ("e", "silent: peak -")]
    assert [(w.clip_id, w.reason[:8]) for w in manifest.warnings if w.clip_id] == [("f", "clipped:")]  # kept
    assert any("only 3 tags have positive clips, fewer than top_n=50" in w.reason for w in manifest.warnings)
    records = read_records(out, 3)
    assert records["a"]["lyrics_text"] == "Dancing lights, dancing all night" and records["a"]["has_lyrics"] == 1
    assert records["b"]["lyrics_text"] == "Dancing shadows dancing\n"
    vocab = Vocabulary.load(str(out / "vocab.txt"))
    assert "dancing" in vocab and "shadows" not in vocab  # valid lyrics stay out of the vocabulary
    assert records["b"]["lyrics_ids"].tolist() == [vocab.id_of("dancing"), 1, vocab.id_of("dancing")]
    assert (records["a"]["energy"], records["a"]["stress"], records["a"]["quadrant"]) == (1, 0, 2)
    assert (records["b"]["energy"], records["b"]["stress"], records["b"]["quadrant"]) == (1, 1, 3)
    assert records["c"]["quadrant"] == -1 and records["c"]["has_lyrics"] == 0
    np.testing.assert_array_equal(records["b"]["tags"], [1, 0, 1])
    assert manifest.config["source"]["split"] == "column"


def shared_path_or_skip(path: pathlib.Path) -> pathlib.Path:
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


def test_table_errors_name_the_file_and_problem(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("clip_id,path\n1,a.wav\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"t\.csv: missing column 'tags'.*header has: clip_id, path"):
        sources.read_table(str(table))
    table.write_text("path,tags,energy\na.wav,rock,maybe\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"t\.csv:2: energy must be 0\.\.1 or one of low, high, got 'maybe'"):
        sources.read_table(str(table))
    table.write_text("path,tags,energy,stress,quadrant\na.wav,rock,1,1,0\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="contradicts"):
        sources.read_table(str(table))
    table.write_text("path,tags,split\na.wav,rock,training\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="split must be one of train, valid, test, got 'training'"):
        sources.read_table(str(table))
    table.write_text("path,tags\na.wav,rock\na.wav,pop\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="duplicate clip_id 'a'"):
        sources.read_table(str(table))
    table.write_text("path,tags\na.wav,rock\nb.wav,pop\n", encoding="utf-8")
    collection = sources.read_table(str(table))
    assert collection.split_counts()["train"] + collection.split_counts()["valid"] + \
        collection.split_counts()["test"] == 2
    with pytest.raises(DatasetError, match="none of the 2 audio files listed exist"):
        build.prepare(collection)
    annotations = tmp_path / "annotations_final.csv"
    annotations.write_text('"clip_id"\t"rock"\t"mp3_path"\n"1"\t"2"\t"0/a-0-29.mp3"\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"annotations_final\.csv:2: tag column 'rock' must be 0 or 1, got '2'"):
        sources.read_mtat_tree(str(tmp_path))


def test_hash_split_is_stable_and_near_80_10_10():
    splits = [sources.hash_split(f"track-{i}") for i in range(4000)]
    assert splits == [sources.hash_split(f"track-{i}") for i in range(4000)]
    shares = {s: splits.count(s) / len(splits) for s in schema.SPLITS}
    assert abs(shares["train"] - 0.8) < 0.03 and abs(shares["valid"] - 0.1) < 0.02


def test_emotion_parsing_derives_missing_values():
    assert sources.parse_emotion("high", "low", "", "x") == (1, 0, 2)
    assert sources.parse_emotion("", "", "depression", "x") == (0, 1, 1)
    assert sources.parse_emotion("1", "", "", "x") == (1, -1, -1)
    assert sources.parse_emotion("", "", "", "x") == (-1, -1, -1)


def test_shard_plan_is_balanced_deterministic_and_order_independent():
    tasks = [process.ClipTask(clip_id=str(i), audio_path=f"/a/{i}.mp3", relative_path=f"{i}.mp3",
                              split="train" if i % 5 else "test", tags=(0,)) for i in range(23)]
    plans = writer.plan_shards(tasks, 4, "fp")
    again = writer.plan_shards(list(reversed(tasks)), 4, "fp")
    assert [(p.name, p.fingerprint) for p in plans] == [(p.name, p.fingerprint) for p in again]
    train = [p for p in plans if p.split == "train"]
    assert [p.name for p in train][-1] == "train-00004-of-00005.tfrecord"
    assert [len(p.tasks) for p in train] == [3, 4, 3, 4, 4]  # 18 clips cut at 18 * k // 5
    assert sum(len(p.tasks) for p in plans) == 23
    assert writer.plan_shards(tasks, 4, "other")[0].fingerprint != plans[0].fingerprint


# ---------------------------------------------------------------------------- command line

def _cli(*args, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(PROJECT_ROOT))
    return subprocess.run([sys.executable, "-m", "tfrecords_builder", *args], capture_output=True, text=True,
                          env=env, cwd=str(PROJECT_ROOT), timeout=timeout)


def test_cli_rejects_bad_flags(tmp_path):
    both = _cli("--mtat_dir=a", "--table=b", f"--out_dir={tmp_path}")
    assert both.returncode != 0 and "exactly one of --mtat_dir" in both.stderr
    zero = _cli("--table=b", "--top_n=0", f"--out_dir={tmp_path}")
    assert zero.returncode != 0 and "--top_n must be > 0" in zero.stderr
    won = _cli("--table=b", "--split=won2020", f"--out_dir={tmp_path}")
    assert won.returncode != 0 and "won2020 applies to an MTAT tree" in won.stderr


@pytest.mark.slow
def test_cli_builds_a_table_and_reports(shared_data, tmp_path):
    audio = shared_path_or_skip(shared_data / "audio" / "mirdata" / "slakh__mix.wav")
    _write_table(tmp_path / "t.tsv", ["audio_path", "tags", "split"],
                 [[str(audio), "rock", "train"], ["nothing.wav", "pop", "test"]])
    done = _cli(f"--table={tmp_path / 't.tsv'}", f"--out_dir={tmp_path / 'rec'}", "--noprogress",
                "--allow_outside_root", "--max_failures=1")  # an absolute audio path; one clip missing
    assert done.returncode == 0, done.stderr
    assert "wrote 1 clips" in done.stdout and "file not found" in done.stdout
    assert manifest_lib.read_manifest(str(tmp_path / "rec")).counts["train"] == 1
    missing = _cli(f"--table={tmp_path / 'nope.tsv'}", f"--out_dir={tmp_path / 'rec2'}")
    assert missing.returncode == 1 and "nope.tsv: table not found" in missing.stderr


# ----------------------------------------------------------------------------- Apache Beam

@pytest.mark.beam
def test_beam_matches_the_local_build(shared_data, tmp_path):
    """The Beam pipeline writes the same shards (names), records and manifest as the local build."""
    pytest.importorskip("apache_beam")
    from tfrecords_builder import beam_pipeline
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


@pytest.mark.beam
def test_task_file_round_trips_inline_lyrics_with_newlines(tmp_path):
    pytest.importorskip("apache_beam")
    from tfrecords_builder import beam_pipeline
    tasks = [process.ClipTask(clip_id="a", audio_path="gs://b/a.mp3", relative_path="a.mp3", split="train",
                              tags=(1, 0), lyrics_text="line one\nline two\r\n\u2028 \u6211", energy=1, stress=0,
                              quadrant=2, expected_seconds=29.0),
             process.ClipTask(clip_id="b", audio_path="/x/b.wav", relative_path="b.wav", split="test", tags=(0, 0),
                              lyrics_path="/x/b.txt")]
    path = tmp_path / beam_pipeline.TASKS_NAME
    beam_pipeline.write_tasks(str(path), tasks)
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and [beam_pipeline.task_from_json(line) for line in lines[:-1]] == tasks
