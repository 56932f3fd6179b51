"""Issue 15 finding 12: a constant-bitrate mp3 without a Xing header, cut short, decoded
silently as a shorter clip. Its frame headers say how long it should be (mp3_frames)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from musictag_tf.audio import mp3_frames
from musictag_tf.audio.io import load_audio, load_audio_bytes
from musictag_tf.audio.stream import stream_audio
from musictag_tf.errors import AudioDecodeError


def _layout(data: bytes):
    return mp3_frames.read_layout(io.BytesIO(data), len(data))


def _cbr_mp3_without_xing(seconds: float = 12.0, rate: int = 44100, channels: int = 2) -> bytes:
    """A CBR mp3 written by libsndfile/LAME with its first (Xing "Info") frame removed."""
    rng = np.random.default_rng(3)
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 330 * t)[:, None] + 0.05 * rng.standard_normal((t.shape[0], channels))
    buffer = io.BytesIO()
    # libsndfile 1.2.2 applies bitrate_mode only together with compression_level (0.5 -> 160 kbit/s)
    with sf.SoundFile(buffer, "w", rate, channels, format="MP3", bitrate_mode="CONSTANT",
                      compression_level=0.5) as f:
        f.write(x.astype(np.float32))
    data = buffer.getvalue()
    layout = _layout(data)
    assert layout.has_length_header and layout.constant_bitrate  # what LAME writes
    return data[:layout.audio_start] + data[layout.audio_start + layout.first.length:]


@pytest.fixture(scope="module")
def cbr_mp3() -> bytes:
    data = _cbr_mp3_without_xing()
    layout = _layout(data)
    assert not layout.has_length_header and layout.constant_bitrate and not layout.last_frame_cut
    return data


def test_complete_cbr_mp3_without_xing_decodes(cbr_mp3, tmp_path):
    wave = load_audio_bytes(cbr_mp3, "whole.mp3")
    assert abs(wave.shape[0] / 16000 - 12.0) < 0.2
    path = tmp_path / "whole.mp3"
    path.write_bytes(cbr_mp3)
    np.testing.assert_allclose(np.concatenate(list(stream_audio(path))), wave, atol=1e-4)


@pytest.mark.parametrize("fraction", [0.5, 0.31, 0.9])
def test_cut_cbr_mp3_without_xing_is_truncated(cbr_mp3, tmp_path, fraction):
    cut = cbr_mp3[:int(len(cbr_mp3) * fraction)]
    with pytest.raises(AudioDecodeError, match="truncated") as info:
        load_audio_bytes(cut, "cut.mp3")
    assert "cut.mp3" in str(info.value)
    path = tmp_path / "cut.mp3"
    path.write_bytes(cut)
    with pytest.raises(AudioDecodeError, match="truncated"):
        list(stream_audio(path))


def test_real_mtat_clip_is_cbr_without_xing_and_passes(mtat_clip):
    data = mtat_clip.read_bytes()
    layout = _layout(data)
    assert layout.constant_bitrate and not layout.has_length_header and not layout.last_frame_cut
    assert layout.first.bitrate_kbps == 32 and layout.first.sample_rate == 16000
    assert abs(layout.expected_seconds() - 29.12) < 0.05
    assert load_audio(mtat_clip).shape == (465984,)


@pytest.mark.parametrize("fraction", [0.5, 0.77])
def test_real_mtat_clip_cut_is_truncated(mtat_clip, fraction):
    """The case BUILD_NOTES recorded as decoding silently (231,552 of 465,984 samples)."""
    data = mtat_clip.read_bytes()
    with pytest.raises(AudioDecodeError, match="truncated"):
        load_audio_bytes(data[:int(len(data) * fraction)], "mtat-cut.mp3")


def _frame_starts(data: bytes, start: int) -> list[int]:
    starts, pos = [], start
    while (header := mp3_frames.parse_header(data, pos)) is not None:
        starts.append(pos)
        pos += header.length
    return starts


def test_lost_frames_mid_file_are_caught_by_the_size_estimated_length(cbr_mp3):
    """Damage the decoder skips over (it resyncs) leaves size and last frame intact, the decode short.

    Regression test, passed before this change too: without a Xing header libsndfile declares
    size x 8 / bitrate, which io compares with what was decoded."""
    starts = _frame_starts(cbr_mp3, _layout(cbr_mp3).audio_start)
    data = bytearray(cbr_mp3)
    middle = starts[len(starts) // 4: 3 * len(starts) // 4]
    for pos in middle[::2]:  # every other frame header in the middle half wiped: ~25 % lost
        data[pos:pos + 4] = b"\0\0\0\0"
    damaged = bytes(data)
    layout = _layout(damaged)
    assert not layout.last_frame_cut and layout.audio_end == len(cbr_mp3)
    with pytest.raises(AudioDecodeError, match="corrupt") as info:
        load_audio_bytes(damaged, "damaged.mp3")
    assert "damaged.mp3" in str(info.value)


def test_max_seconds_reads_the_start_of_a_cut_mp3_but_not_past_its_end(cbr_mp3, tmp_path):
    """max_seconds asks only for the start: a cut tail does not matter unless the read reaches it."""
    from musictag_tf.params import StreamParams
    cut = cbr_mp3[:len(cbr_mp3) // 2]  # ~6 s of 12
    path = tmp_path / "cut.mp3"
    path.write_bytes(cut)
    start = load_audio_bytes(cut, "cut.mp3", max_seconds=2.0)
    assert start.shape == (32000,)
    np.testing.assert_allclose(np.concatenate(list(stream_audio(path, params=StreamParams(max_seconds=2.0)))),
                               start, atol=1e-4)
    for reader in (lambda: load_audio_bytes(cut, "cut.mp3", max_seconds=30.0),
                   lambda: list(stream_audio(path, params=StreamParams(max_seconds=30.0)))):
        with pytest.raises(AudioDecodeError, match="ends inside a frame"):
            reader()
