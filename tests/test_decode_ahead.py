"""Decoding the next files in a background thread (musictag_tf/audio/decode_ahead.py) changes
nothing a folder's tagging returns: same rows, same order, same scores, failures still isolated."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from musictag_tf import params as P
from musictag_tf.audio.decode_ahead import DecodeAhead
from musictag_tf.audio.io import write_audio
from musictag_tf.errors import AudioDecodeError
from musictag_tf.tag import backends, tagger as tag_tagger

SR = 16000
CHUNK = 4000


class _StatsTagger(backends.Tagger):
    """The tagger's own streaming path with a model whose outputs depend on every sample:
    per window (mean, std, first sample, last sample)."""

    def __init__(self):
        self.info = backends.ModelInfo(kind="keras", path="-", tags=["mean", "std", "first", "last"],
                                       heads=("tags",), sample_rate=SR, chunk_samples=CHUNK,
                                       hop_samples=P.TagParams().hop_samples(CHUNK), max_tokens=4,
                                       vocab_path=None, lyrics_params={})

    def run_windows(self, windows, lyrics_ids):
        return {"tags": np.stack([windows.mean(1), windows.std(1), windows[:, 0], windows[:, -1]], 1)}


def _folder(tmp_path):
    rng = np.random.default_rng(0)
    names = []
    for i, seconds in enumerate([1.3, 0.2, 2.7, 0.9]):
        path = tmp_path / f"{i:02d}_clip.wav"
        # 22.05 kHz stereo: streamed files are downmixed and resampled in the background thread
        write_audio(str(path), (0.3 * rng.standard_normal([int(seconds * 22050), 2])).astype(np.float32), 22050)
        names.append(path)
    (tmp_path / "02b_broken.wav").write_bytes(b"RIFF not really audio")  # fails between good files
    return tmp_path


@pytest.mark.parametrize("max_blocks", [1, 8])
def test_decode_ahead_gives_the_same_rows_in_the_same_order(tmp_path, monkeypatch, max_blocks):
    folder = _folder(tmp_path)
    made = []

    class Spy(DecodeAhead):
        def __init__(self, *args):
            super().__init__(*args)
            made.append(self)

    monkeypatch.setattr(tag_tagger, "DecodeAhead", Spy)
    stream = dataclasses.replace(P.StreamParams(), block_seconds=0.25, decode_ahead_blocks=max_blocks)
    ahead = tag_tagger.tag_paths([str(folder)], _StatsTagger(), progress=False, stream=stream)
    inline = tag_tagger.tag_paths([str(folder)], _StatsTagger(), progress=False,
                                  stream=dataclasses.replace(stream, decode_ahead_blocks=0))
    assert len(made) == 1 and made[0].paths[3].endswith("02b_broken.wav")  # inline run: none made
    assert [c.path for c in ahead.results] == [c.path for c in inline.results]
    assert len(ahead.results) == 4
    for a, b in zip(ahead.results, inline.results):
        np.testing.assert_array_equal(a.taggram, b.taggram)
        np.testing.assert_array_equal(a.window_start_seconds, b.window_start_seconds)
        assert a.duration_seconds == b.duration_seconds and a.warnings == b.warnings
    assert ahead.failures == inline.failures
    assert [p.rsplit("/", 1)[-1] for p, _ in ahead.failures] == ["02b_broken.wav"]
    assert "not an audio file" in ahead.failures[0][1]


def test_decode_ahead_forwards_errors_and_skips_what_a_consumer_leaves():
    def blocks(path):
        if path == "bad-at-start":
            raise AudioDecodeError(path, "cannot read")
        for i in range(5):
            if path == "bad-midway" and i == 2:
                raise AudioDecodeError(path, "corrupt at block 2")
            yield np.full([3], i, np.float32) + (100 if path == "left" else 0)

    seen = {}
    with DecodeAhead(["ok", "bad-at-start", "left", "bad-midway", "last"], blocks, max_blocks=2) as ahead:
        for path, items in ahead:
            got = []
            try:
                for block in items:
                    got.append(int(block[0]))
                    if path == "left" and len(got) == 1:
                        break  # the model failed after one block: the rest must be skipped
            except AudioDecodeError as exc:
                got.append(exc.reason)
            seen[path] = got
    assert seen == {"ok": [0, 1, 2, 3, 4], "bad-at-start": ["cannot read"], "left": [100],
                    "bad-midway": [0, 1, "corrupt at block 2"], "last": [0, 1, 2, 3, 4]}


def test_decode_ahead_holds_at_most_max_blocks():
    produced = []

    def blocks(path):
        for i in range(50):
            produced.append(i)
            yield np.zeros([1], np.float32)

    ahead = DecodeAhead(["a"], blocks, max_blocks=3)
    items = iter(ahead)
    _, first = next(items)
    next(first)
    for _ in range(100):  # let the producer run as far as the queue allows
        if len(produced) >= 5:
            break
        threading.Event().wait(0.01)
    assert len(produced) <= 1 + 3 + 1  # consumed + queued + one blocked in put()
    ahead.close()


# ----------------------------------------------------------------------------- cheaper per-file checks

def _last_frame_cut_every_offset(tail: bytes, first) -> bool:
    """The scan mp3_frames._last_frame_cut did before it skipped non-0xFF bytes and chain suffixes."""
    from musictag_tf.audio.mp3_frames import parse_header

    best_chain, best_last = 0, None
    for pos in range(len(tail) - 3):
        header = parse_header(tail, pos)
        if header is None or not header.same_stream(first):
            continue
        chain, at, last = 1, pos, header
        while True:
            nxt = parse_header(tail, at + last.length)
            if nxt is None or not nxt.same_stream(first):
                break
            chain, at, last = chain + 1, at + last.length, nxt
        if chain > best_chain:
            best_chain, best_last = chain, (at, last)
    return best_last is not None and best_last[0] + best_last[1].length > len(tail)


def test_last_frame_scan_judges_every_cut_as_the_full_scan(mtat_clip):
    import io

    from musictag_tf.audio import mp3_frames

    data = mtat_clip.read_bytes()
    layout = mp3_frames.read_layout(io.BytesIO(data), len(data))
    assert layout is not None and layout.constant_bitrate and not layout.has_length_header
    rng = np.random.default_rng(1)
    ends = [layout.audio_end] + sorted(int(e) for e in rng.integers(layout.audio_start + 9000, layout.audio_end, 60))
    verdicts = set()
    for end in ends:
        start = max(layout.audio_start, end - 3 * mp3_frames._MAX_FRAME_BYTES)
        fast = mp3_frames._last_frame_cut(io.BytesIO(data), layout.audio_start, end, layout.first)
        assert fast == _last_frame_cut_every_offset(data[start:end], layout.first), end
        verdicts.add(fast)
    assert verdicts == {True, False}  # both outcomes were exercised


def test_level_meter_equals_assess_audio():
    from musictag_tf.audio.io import assess_audio
    from musictag_tf.audio.levels import LevelMeter

    x = (0.4 * np.random.default_rng(2).standard_normal(50_000) + 0.01).astype(np.float32)
    x[::997] = 1.0  # some clipped samples
    meter = LevelMeter()
    for block in np.array_split(x, 7):
        meter.add(block)
    got, want = meter.quality(SR), assess_audio(x, SR)
    for field in dataclasses.fields(want):
        np.testing.assert_allclose(getattr(got, field.name), getattr(want, field.name), rtol=1e-9, err_msg=field.name)
