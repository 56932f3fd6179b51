"""The record schema round-trips exactly; crops and eval chunks cover clips as documented."""

import numpy as np
import pytest
import tensorflow as tf

from musictag_tf import params as params_lib
from musictag_tf.data import manifest as manifest_lib
from musictag_tf import windows as windows_lib
from musictag_tf.data import pipeline, schema


def _record(clip_id="7", seconds=2.0, n_mels=96, lyrics=True, rng=None):
    rng = rng or np.random.default_rng(0)
    n = int(seconds * 16000)
    wave = np.clip(rng.normal(0, 0.3, n), -1, 1).astype(np.float32)
    log_mel = rng.uniform(0, 5, (1 + n // 256, n_mels)).astype(np.float32)
    return schema.ClipRecord(
        clip_id=clip_id, audio_path=f"a/{clip_id}.mp3", split="train", waveform=wave,
        sample_rate=16000, log_mel=log_mel, lyrics_ids=[5, 9, 3] if lyrics else [],
        lyrics_text="la la love" if lyrics else "", tags=[1, 0, 1, 0], energy=1, stress=0,
        quadrant=2, segment_starts=[0.0, 0.75])


def test_record_round_trip_is_exact_within_storage_precision():
    rec = _record()
    out = schema.decode_example_numpy(schema.encode_example(rec), num_tags=4)
    pcm = np.round(rec.waveform * schema.WAVEFORM_SCALE) / schema.WAVEFORM_SCALE
    np.testing.assert_array_equal(out["waveform"], pcm.astype(np.float32))
    np.testing.assert_array_equal(out["log_mel"], rec.log_mel.astype(np.float16).astype(np.float32))
    assert out["clip_id"] == "7" and out["audio_path"] == "a/7.mp3" and out["split"] == "train"
    assert out["lyrics_text"] == "la la love" and out["has_lyrics"] == 1
    np.testing.assert_array_equal(out["lyrics_ids"], [5, 9, 3])
    np.testing.assert_array_equal(out["tags"], [1, 0, 1, 0])
    assert (out["energy"], out["stress"], out["quadrant"]) == (1, 0, 2)
    np.testing.assert_allclose(out["segment_starts"], [0.0, 0.75])
    assert out["num_samples"] == len(rec.waveform)


def test_missing_lyrics_and_unknown_emotion_are_stored_as_such():
    rec = _record(lyrics=False)
    rec.energy = rec.stress = rec.quadrant = schema.UNKNOWN_LABEL
    out = schema.decode_example_numpy(schema.encode_example(rec), num_tags=4)
    assert out["has_lyrics"] == 0 and out["lyrics_text"] == "" and out["lyrics_ids"].size == 0
    assert out["energy"] == out["quadrant"] == -1


def test_bad_split_is_rejected():
    rec = _record()
    rec.split = "training"
    with pytest.raises(ValueError, match="split"):
        schema.encode_example(rec)


def test_random_crop_length_and_content():
    wave = tf.range(1000, dtype=tf.float32)
    crop = pipeline.random_crop(wave, 300, seed=1).numpy()
    assert crop.shape == (300,)
    np.testing.assert_array_equal(np.diff(crop), 1.0)  # a contiguous window
    short = pipeline.random_crop(tf.ones([100]), 300).numpy()
    assert short.shape == (300,) and short[:100].sum() == 100 and short[100:].sum() == 0


def _write_split(tmp_path, split, records):
    name = manifest_lib.shard_name(split, 0, 1)
    with tf.io.TFRecordWriter(str(tmp_path / name)) as w:
        for r in records:
            r.split = split
            w.write(schema.encode_example(r))
    return str(tmp_path / name)


def test_training_and_evaluation_datasets(tmp_path):
    rng = np.random.default_rng(3)
    recs = [_record(str(i), seconds=1.0 + 0.5 * i, lyrics=i % 2 == 0, rng=rng) for i in range(5)]
    path = _write_split(tmp_path, "train", recs)
    cfg = pipeline.PipelineConfig(num_tags=4, chunk_samples=8000, max_tokens=6, sample_rate=16000)
    tp = params_lib.TrainParams(batch_size=2, shuffle_buffer=8, crops_per_clip=2)
    feats, labels = next(iter(pipeline.training_dataset([path], cfg, 4, tp)))
    assert feats["waveform"].shape == (4, 8000) and feats["lyrics_ids"].shape == (4, 6)
    assert labels["tags"].shape == (4, 4) and labels["quadrant"].shape == (4,)

    batches = list(pipeline.evaluation_dataset([path], cfg, batch_size=3, max_chunks=16))
    clip_index = np.concatenate([b[2].numpy() for b in batches])
    # the tagger's windows of 0.5 s (hop 0.25 s, last window at the clip's end) on clips of 1 .. 3 s
    expected = [len(windows_lib.window_starts(r.waveform.size, cfg.window_params)) for r in recs]
    assert expected == [3, 5, 7, 9, 11]
    np.testing.assert_array_equal(np.bincount(clip_index), expected)
    spread = list(pipeline.evaluation_dataset([path], cfg, batch_size=3, max_chunks=2, windows="spread"))
    assert np.bincount(np.concatenate([b[2].numpy() for b in spread])).tolist() == [2, 2, 2, 2, 2]
    ids = np.concatenate([b[0]["lyrics_ids"].numpy() for b in batches])
    np.testing.assert_array_equal(ids[clip_index == 0][0], [5, 9, 3, 0, 0, 0])
    assert not ids[clip_index == 1].any()  # clip 1 has no lyrics: all padding
    again = np.concatenate([b[0]["waveform"].numpy() for b in
                            pipeline.evaluation_dataset([path], cfg, batch_size=3)])
    first = np.concatenate([b[0]["waveform"].numpy() for b in batches])
    np.testing.assert_array_equal(first, again)  # deterministic
