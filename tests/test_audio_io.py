"""Decoding real files, the errors libsndfile really gives, quality checks and writing."""

from __future__ import annotations

import io
import math
import os

import numpy as np
import pytest
import soundfile as sf

from musictag_tf.audio import io as audio_io
from musictag_tf.audio.io import (AudioQuality, assess_audio, check_audio_usable, load_audio,
                                  load_audio_bytes, write_audio)
from musictag_tf.errors import AudioDecodeError
from musictag_tf.params import AudioParams

SR = AudioParams().sample_rate
MTAT_SECONDS = 29.12  # the clip's nominal length (MTAT clips are 29.1 s)
JAMENDO_SECONDS = 12.0  # decode only this much of the 2.5-3 minute JamendoLyrics songs


def _decoded_frames(path, max_seconds=None) -> tuple[int, int]:
    """Frames libsndfile really decodes from ``path`` (not the header's estimate), and its rate."""
    with sf.SoundFile(path) as f:
        wanted = -1 if max_seconds is None else int(math.ceil(max_seconds * f.samplerate))
        return f.read(frames=wanted, dtype="float32", always_2d=True).shape[0], f.samplerate


def _cheap_files(files):
    """Every real file, but only one of the long JamendoLyrics songs."""
    jamendo = [p for p in files if "jamendolyrics" in p.parts]
    return [p for p in files if p not in jamendo] + jamendo[:1]


def test_real_files_decode_to_16k_mono_float32(real_audio_files):
    formats = set()
    for path in _cheap_files(real_audio_files):
        max_seconds = JAMENDO_SECONDS if "jamendolyrics" in path.parts else None
        info = sf.info(str(path))
        formats.add((path.suffix, info.subtype, info.samplerate, info.channels))
        y = load_audio(path, SR, max_seconds=max_seconds)
        assert y.dtype == np.float32 and y.ndim == 1, path
        frames, rate = _decoded_frames(path, max_seconds)
        expected = frames * SR / rate
        assert abs(y.shape[0] - expected) <= 1, (path, y.shape, expected)
        assert np.all(np.isfinite(y)), path
        assert 0.01 < np.max(np.abs(y)) <= 1.05, path
    # the set really covers what the task promises: mp3 16 k mono and 44.1 k stereo, ogg,
    # wav float / 24-bit / 16-bit at 16-48 kHz
    subtypes = {s for _, s, _, _ in formats}
    assert {"MPEG_LAYER_III", "VORBIS", "FLOAT", "PCM_24", "PCM_16"} <= subtypes
    assert {16000, 22050, 44100, 48000} <= {r for _, _, r, _ in formats}
    assert {1, 2} <= {c for _, _, _, c in formats}


def test_mtat_clip_duration_is_preserved(mtat_clip):
    y = load_audio(mtat_clip)
    # libsndfile trims the mp3 encoder delay/padding: 465,984 samples = 29.124 s
    assert abs(y.shape[0] / SR - MTAT_SECONDS) < AudioParams().hop_samples / SR
    assert y.shape[0] == 465984


def test_resampling_and_downmix_match_librosa_load(real_audio_files):
    """librosa.load(sr=16000) uses soxr_hq and a channel mean too: same samples."""
    librosa = pytest.importorskip("librosa")
    picked = [p for p in real_audio_files if p.suffix in (".ogg", ".wav")][:3]
    picked += [p for p in real_audio_files if "jamendolyrics" in p.parts][:1]  # 44.1 k stereo
    for path in picked:
        ours = load_audio(path, SR, max_seconds=5.0)
        ref, _ = librosa.load(str(path), sr=SR, mono=True, duration=5.0, res_type="soxr_hq")
        n = min(len(ours), len(ref))
        assert abs(len(ours) - len(ref)) <= 1, path
        np.testing.assert_allclose(ours[:n], ref[:n], atol=1e-5, err_msg=str(path))


def test_max_seconds_limits_decoding(real_audio_files):
    path = [p for p in real_audio_files if "jamendolyrics" in p.parts][0]
    y = load_audio(path, SR, max_seconds=2.5)
    assert y.shape == (int(2.5 * SR),)
    with pytest.raises(ValueError):
        load_audio(path, SR, max_seconds=0)


def test_bytes_and_path_give_the_same_waveform(mtat_clip):
    from_path = load_audio(mtat_clip, 22050)
    from_bytes = load_audio_bytes(mtat_clip.read_bytes(), "clip.mp3", 22050)
    np.testing.assert_array_equal(from_path, from_bytes)
    assert abs(from_path.shape[0] / 22050 - 465984 / SR) < 1e-4


# ---- errors ---------------------------------------------------------------------------

def _decode_error(path) -> AudioDecodeError:
    with pytest.raises(AudioDecodeError) as info:
        load_audio(path)
    assert str(path) in str(info.value) and info.value.path == str(path)
    return info.value


def test_missing_file(tmp_path):
    error = _decode_error(tmp_path / "nope.mp3")
    assert error.reason == "file not found"


def test_directory_is_not_audio(tmp_path):
    assert "directory" in _decode_error(tmp_path).reason


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"")
    assert _decode_error(path).reason == "empty file (0 bytes)"


def test_random_bytes_named_mp3(tmp_path):
    path = tmp_path / "noise.mp3"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    reason = _decode_error(path).reason
    assert reason.startswith("not an audio file or unsupported format: ")
    assert "Format not recognised" in reason  # libsndfile's own words, without its BytesIO prefix
    assert "BytesIO" not in reason


def test_text_file_named_wav(tmp_path):
    path = tmp_path / "lyrics.wav"
    path.write_text("la la la, this is not a wav file\n" * 20)
    assert _decode_error(path).reason.startswith("not an audio file or unsupported format")


def test_header_only_wav_decodes_nothing(tmp_path):
    path = tmp_path / "header.wav"
    write_audio(path, np.full(1000, 0.1, np.float32), SR)
    path.write_bytes(path.read_bytes()[:44])  # RIFF/fmt/data headers, no samples
    assert "no audio samples decoded" in _decode_error(path).reason


def test_truncated_mp3_with_xing_header_is_reported(tmp_path):
    """libsndfile's mp3s (and LAME's) carry a Xing header with the true length."""
    t = np.arange(3 * SR) / SR
    full = tmp_path / "full.mp3"
    write_audio(full, 0.5 * np.sin(2 * np.pi * 440 * t), SR)
    assert load_audio(full).shape[0] == 3 * SR  # complete file: exact length back
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    reason = _decode_error(cut).reason
    assert reason.startswith("truncated or corrupt audio: decoded ")
    assert "of the 48000 samples the mp3 header declares" in reason


def test_truncated_mtat_mp3_is_reported(mtat_clip, tmp_path):
    """The MTAT clip (CBR, no Xing header) declares a length estimated from the file size, so
    its first half used to decode silently (231,552 samples); the cut-off last frame tells now."""
    data = mtat_clip.read_bytes()
    half = tmp_path / "half.mp3"
    half.write_bytes(data[: len(data) // 2])
    assert _decode_error(half).reason.startswith("truncated: the mp3 ends inside a frame")


def test_mtat_mp3_cut_on_a_frame_boundary_decodes_silently(mtat_clip, tmp_path):
    """Documented limitation: cut exactly between two frames, it is a valid shorter file."""
    from musictag_tf.audio import mp3_frames
    data = mtat_clip.read_bytes()
    layout = mp3_frames.read_layout(io.BytesIO(data), len(data))
    pos = layout.audio_start
    while pos < len(data) // 2:
        pos += mp3_frames.parse_header(data, pos).length
    cut = tmp_path / "frame-boundary.mp3"
    cut.write_bytes(data[:pos])
    y = load_audio(cut)
    assert 0.45 < y.shape[0] / 465984 < 0.55


def test_corrupted_mp3_body_is_reported(mtat_clip, tmp_path):
    data = bytearray(mtat_clip.read_bytes())
    data[20000:40000] = np.random.default_rng(0).bytes(20000)  # libmpg123 gives up resyncing
    path = tmp_path / "corrupt.mp3"
    path.write_bytes(bytes(data))
    assert _decode_error(path).reason.startswith("truncated or corrupt audio")


def test_nan_in_float_wav_is_reported(tmp_path):
    path = tmp_path / "nan.wav"
    samples = np.full(SR, 0.1, np.float32)
    samples[100] = np.nan
    sf.write(path, samples, SR, subtype="FLOAT")
    assert "NaN" in _decode_error(path).reason


# ---- quality --------------------------------------------------------------------------

def test_assess_audio_levels():
    t = np.arange(SR) / SR
    quality = assess_audio(0.5 * np.sin(2 * np.pi * 1000 * t), SR)
    assert isinstance(quality, AudioQuality)
    assert quality.num_samples == SR and quality.duration_seconds == 1.0
    assert quality.peak_dbfs == pytest.approx(20 * math.log10(0.5), abs=1e-3)  # -6.02
    assert quality.rms_dbfs == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=1e-3)  # -9.03
    assert quality.clipped_fraction == 0.0 and not quality.is_silent
    silent = assess_audio(np.zeros(SR, np.float32), SR)
    assert silent.peak_dbfs == -math.inf and silent.rms_dbfs == -math.inf and silent.is_silent
    assert audio_io.SILENCE_PEAK_DBFS == -60.0


def test_check_audio_usable_rejects_silence():
    with pytest.raises(AudioDecodeError) as info:
        check_audio_usable(np.zeros(SR, np.float32), "quiet.wav", SR)
    assert str(info.value) == "quiet.wav: silent: peak -inf dBFS (threshold -60 dBFS)"
    faint = 10 ** (-70 / 20) * np.sin(np.arange(SR) * 0.1)  # peak -70 dBFS
    with pytest.raises(AudioDecodeError, match="silent: peak -70.0 dBFS"):
        check_audio_usable(faint, "faint.wav", SR)
    audible = 10 ** (-50 / 20) * np.sin(np.arange(SR) * 0.1)  # -50 dBFS is quiet, not silent
    assert check_audio_usable(audible, "quiet-ok.wav", SR) == []


def test_check_audio_usable_rejects_too_short():
    short = 0.5 * np.sin(np.arange(int(0.05 * SR)) * 0.1)
    with pytest.raises(AudioDecodeError, match=r"short.wav: too short: 0.050 s .*minimum 0.1 s"):
        check_audio_usable(short, "short.wav", SR)
    long_enough = 0.5 * np.sin(np.arange(int(audio_io.MIN_DURATION_SECONDS * SR)) * 0.1)
    assert check_audio_usable(long_enough, "ok.wav", SR) == []


def test_check_audio_usable_warns_on_clipping(mtat_clip):
    y = load_audio(mtat_clip)
    assert check_audio_usable(y, mtat_clip, SR) == []  # real music, peak -0.3 dBFS, no clipping
    loud = np.clip(4.0 * y, -1.0, 1.0)
    warnings = check_audio_usable(loud, "loud.mp3", SR)
    assert len(warnings) == 1
    assert warnings[0].startswith("loud.mp3: clipped: ") and "% of samples at |x| >= 0.999" in warnings[0]
    assert assess_audio(loud, SR).clipped_fraction > audio_io.MAX_CLIPPED_FRACTION
    # just under the threshold: no warning
    edge = 0.5 * np.sin(np.arange(10000) * 0.1)
    edge[:99] = 1.0  # 0.99 % clipped
    assert check_audio_usable(edge, "edge.wav", SR) == []


def test_check_audio_usable_rejects_nan():
    y = np.full(SR, 0.1, np.float32)
    y[5] = np.inf
    with pytest.raises(AudioDecodeError, match="NaN or infinity"):
        check_audio_usable(y, "inf.wav", SR)


# ---- writing --------------------------------------------------------------------------

@pytest.mark.parametrize("extension, atol", [(".wav", 1e-4), (".flac", 1e-4), (".ogg", None),
                                             (".mp3", None)])
def test_write_audio_round_trip(tmp_path, extension, atol):
    t = np.arange(2 * SR) / SR
    y = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = tmp_path / "nested" / "dir" / f"tone{extension}"
    write_audio(path, y, SR)
    assert path.is_file()
    assert sorted(os.listdir(path.parent)) == [path.name]  # no temp file left behind
    back = load_audio(path, SR)
    if atol is not None:  # lossless: the same samples up to 16-bit quantisation
        np.testing.assert_allclose(back, y, atol=atol)
    else:  # lossy: same length (libsndfile trims codec delay) and the same tone
        assert abs(back.shape[0] - y.shape[0]) <= 1
        n = min(back.shape[0], y.shape[0])
        assert np.corrcoef(back[:n], y[:n])[0, 1] > 0.99


def test_write_audio_replaces_atomically_and_clips(tmp_path):
    path = tmp_path / "x.wav"
    write_audio(path, np.full(800, 0.25, np.float32), SR)
    write_audio(path, np.array([1.5, -1.5, 0.5] * 400, np.float32), SR)  # replaces the old file
    back, _ = sf.read(path, dtype="float32")
    assert back.shape == (1200,)
    assert back.max() > 0.99 and back.min() < -0.99  # clipped, not wrapped around
    assert sorted(os.listdir(tmp_path)) == ["x.wav"]
    float_path = tmp_path / "f.wav"
    write_audio(float_path, np.array([1.5, -1.5] * 100, np.float32), SR, subtype="FLOAT")
    assert sf.read(float_path)[0].max() == pytest.approx(1.5)


def test_write_audio_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="extension"):
        write_audio(tmp_path / "x.aiff", np.zeros(10), SR)
    with pytest.raises(ValueError, match="NaN"):
        write_audio(tmp_path / "x.wav", np.array([0.0, np.nan]), SR)
    with pytest.raises(ValueError, match="shape"):
        write_audio(tmp_path / "x.wav", np.zeros((0,)), SR)
    assert os.listdir(tmp_path) == []
