"""Property-based tests (hypothesis): random bytes, text, shapes and values never crash the
decoder, the lyrics tokenizers or the TF Serving request builders, and never give non-finite
or unlabelled output. Kept fast: a few dozen examples each, no deadline (TF calls vary)."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")  # in the dev extra (setup.cfg)
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from musictag_tf.audio import mp3_frames  # noqa: E402
from musictag_tf.audio.io import load_audio_bytes  # noqa: E402
from musictag_tf.errors import AudioDecodeError, LyricsError  # noqa: E402

FAST = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# ----------------------------------------------------------------------------- decoder

# Random bodies behind the magic numbers libsndfile dispatches on, so the fuzzing reaches the
# format parsers and not only "Format not recognised".
MAGICS = [b"", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"ID3\x03\x00\x00\x00\x00\x00\x00", b"\xff\xfb\x90\x00",
          b"\xff\xf3\x48\xc4", b"fLaC", b"OggS\x00\x02", b"FORM\x00\x00\x00\x00AIFF", b".snd"]


def _sine_wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    import soundfile as sf
    buffer = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buffer, (0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


SINE_WAV = _sine_wav()


def _check_decode(data: bytes) -> None:
    try:
        wave = load_audio_bytes(data, "fuzz.bin")
    except AudioDecodeError as exc:
        assert "fuzz.bin" in str(exc)
        return
    assert wave.dtype == np.float32 and wave.ndim == 1 and wave.shape[0] > 0
    assert np.all(np.isfinite(wave))


@FAST
@given(magic=st.sampled_from(MAGICS), body=st.binary(max_size=4096))
def test_decoder_on_random_bytes_raises_only_audio_decode_error(magic, body):
    _check_decode(magic + body)


@FAST
@given(cut=st.integers(min_value=0, max_value=len(SINE_WAV)),
       flips=st.lists(st.tuples(st.integers(0, len(SINE_WAV) - 1), st.integers(0, 255)), max_size=8))
def test_decoder_on_cut_and_damaged_wav(cut, flips):
    data = bytearray(SINE_WAV[:cut])
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    _check_decode(bytes(data))


@FAST
@given(data=st.binary(max_size=8192))
def test_mp3_layout_on_random_bytes_never_raises(data):
    layout = mp3_frames.read_layout(io.BytesIO(data), len(data))
    if layout is not None:
        assert 0 <= layout.audio_start < len(data) and 0 <= layout.audio_end <= len(data)
        assert layout.first.length > 0 and np.isfinite(layout.expected_seconds())


@settings(max_examples=30, deadline=None, database=None)
@given(magic=st.sampled_from(MAGICS), body=st.binary(max_size=4096))
def test_streaming_decoder_on_random_files_raises_only_audio_decode_error(magic, body):
    import os
    import tempfile
    from musictag_tf.audio.stream import stream_audio
    fd, path = tempfile.mkstemp(suffix=".bin")
    try:
        os.write(fd, magic + body)
        os.close(fd)
        try:
            blocks = list(stream_audio(path))
        except AudioDecodeError as exc:
            assert path in str(exc)
            return
        assert all(b.dtype == np.float32 and np.all(np.isfinite(b)) for b in blocks)
    finally:
        os.remove(path)


# ----------------------------------------------------------------------------- lyrics

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)


@pytest.fixture(scope="module")
def vocab():
    from musictag_tf.lyrics.vocab import Vocabulary
    return Vocabulary(["love", "night", "heart", "amor", "爱", "夜"])


@settings(max_examples=40, deadline=None, database=None)
@given(texts=st.lists(TEXT, min_size=1, max_size=4))
def test_tokenizer_on_random_text_gives_clean_string_tokens(texts):
    from musictag_tf.lyrics.tokenize import tokenize_batch
    result = tokenize_batch(texts)
    assert len(result) == len(texts)
    for tokens in result:
        assert all(isinstance(t, str) and t and not any(c.isspace() for c in t) for t in tokens)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT)
def test_encoded_ids_are_in_vocabulary_range(vocab, text):
    from musictag_tf.lyrics.encode import encode_text
    from musictag_tf.params import LyricsParams
    ids = encode_text(text, vocab, LyricsParams(max_tokens=16))
    assert ids.dtype == np.int32 and ids.shape == (16,)
    assert np.all((ids >= 0) & (ids < len(vocab)))


@settings(max_examples=40, deadline=None, database=None)
@given(data=st.binary(max_size=200))
def test_tokenizer_on_random_bytes_is_tokens_or_lyrics_error(data):
    from musictag_tf.lyrics.tokenize import tokenize
    try:
        tokens = tokenize(data)
    except LyricsError as exc:
        assert "UTF-8" in str(exc)
        return
    assert all(isinstance(t, str) and t for t in tokens)


# ----------------------------------------------------------------------------- TF Serving bodies

FINITE = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False, width=32)


@FAST
@given(clips=st.integers(1, 3), samples=st.integers(1, 64), data=st.data(),
       kind=st.sampled_from(["audio", "text", "ids"]))
def test_rest_body_round_trips_through_json(clips, samples, data, kind):
    from export import serving
    waves = [np.asarray(data.draw(st.lists(FINITE, min_size=samples, max_size=samples)), np.float32)
             for _ in range(clips)]
    lyrics = ids = None
    if kind == "text":
        lyrics = data.draw(st.lists(TEXT, min_size=clips, max_size=clips))
    elif kind == "ids":
        ids = np.asarray(data.draw(st.lists(st.lists(st.integers(0, 20000), min_size=5, max_size=5),
                                            min_size=clips, max_size=clips)))
    body = serving.request_body(waves, lyrics=lyrics, lyrics_ids=ids)
    assert body["signature_name"] == {"audio": "tag_audio", "text": "tag_lyrics_text", "ids": "serving_default"}[kind]
    text = json.dumps(body, allow_nan=False)  # valid JSON: a NaN would raise here
    tensors = serving.decode_inputs(json.loads(text))
    assert tensors["waveform"].dtype == np.float32 and tensors["waveform"].shape == (clips, samples)
    assert np.all(np.isfinite(tensors["waveform"]))
    np.testing.assert_allclose(tensors["waveform"], np.stack(waves), atol=1e-6 + 1e-7)
    if kind == "text":
        assert list(tensors["lyrics"]) == lyrics
    if kind == "ids":
        np.testing.assert_array_equal(tensors["lyrics_ids"], ids)


@FAST
@given(examples=st.lists(st.binary(max_size=300), min_size=1, max_size=4))
def test_examples_body_round_trips_random_bytes(examples):
    from export import serving
    body = serving.examples_request_body(examples)
    decoded = serving.decode_inputs(json.loads(json.dumps(body)))
    assert list(decoded["examples"]) == examples
    assert all(base64.b64decode(v["b64"]) == e for v, e in zip(body["inputs"]["examples"], examples))


def test_rest_body_rejects_non_finite_waveforms():
    """Issue 15 finding 7, REST part: a NaN/inf waveform is refused, not written as NaN/Infinity."""
    from export import serving
    with pytest.raises(ValueError, match="NaN or infinity"):
        serving.request_body([np.array([0.0, np.nan, np.inf], np.float32)])


# ----------------------------------------------------------------------------- streamed windows

@settings(max_examples=200, deadline=None, database=None)
@given(length=st.integers(0, 3000), window=st.integers(1, 400), hop_fraction=st.floats(0.05, 1.0),
       sizes=st.lists(st.integers(1, 700), min_size=1, max_size=5), remainder=st.sampled_from(["end_aligned", "drop"]))
def test_streamed_windows_equal_windows_of_the_whole_clip(length, window, hop_fraction, sizes, remainder):
    from musictag_tf.audio.stream_windows import WindowStream, window_starts
    hop = max(1, int(window * hop_fraction))
    x = np.arange(1, length + 1, dtype=np.float32)  # distinct values: any misplaced sample shows
    blocks, i, k = [], 0, 0
    while i < length:
        blocks.append(x[i:i + sizes[k % len(sizes)]])
        i, k = i + sizes[k % len(sizes)], k + 1
    stream = WindowStream(iter(blocks), window, hop, remainder)
    got = list(stream)
    starts = window_starts(length, window, hop, remainder)
    padded = np.pad(x, (0, max(0, window - length)))
    assert [s for s, _ in got] == starts.tolist()
    for start, values in got:
        np.testing.assert_array_equal(values, padded[start:start + window])
    assert stream.num_samples == length
    assert stream.max_buffered <= window + hop + max(sizes)
    if remainder == "end_aligned":
        from musictag_tf import windows as windows_lib
        np.testing.assert_array_equal(np.stack([w for _, w in got]), windows_lib.split_windows(x, windows_lib.WindowParams(window, hop))[0])
