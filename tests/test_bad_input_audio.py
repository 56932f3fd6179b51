"""Issue 15 (bad input and faults), audio part: each test reproduces one finding."""

from __future__ import annotations

import numpy as np
import pytest

from musictag_tf.audio.io import assess_audio, check_audio_usable
from musictag_tf.errors import AudioDecodeError

SR = 16000


@pytest.mark.parametrize("level", [0.5, -0.25, 0.01])
def test_pure_dc_offset_is_not_music(level):
    """Finding 12: a file that is only a constant level was tagged as music."""
    dc = np.full(3 * SR, level, np.float32)
    with pytest.raises(AudioDecodeError, match="DC offset") as info:
        check_audio_usable(dc, "dc.wav", SR)
    assert "dc.wav" in str(info.value)
    assert assess_audio(dc, SR).is_dc_only


def test_nearly_constant_level_is_not_music():
    """A DC level with noise far below the silence threshold (-80 dBFS) is DC too."""
    rng = np.random.default_rng(0)
    x = (0.3 + 1e-4 * rng.standard_normal(3 * SR)).astype(np.float32)
    with pytest.raises(AudioDecodeError, match="DC offset"):
        check_audio_usable(x, "hum.wav", SR)


def test_signal_riding_on_a_dc_offset_is_kept():
    """A real signal with an offset is music with a bad offset, not silence."""
    t = np.arange(3 * SR) / SR
    x = (0.4 + 0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    assert check_audio_usable(x, "offset-tone.wav", SR) == []
    assert not assess_audio(x, SR).is_dc_only


def test_real_clip_is_not_dc(mtat_clip):
    from musictag_tf.audio.io import load_audio
    assert check_audio_usable(load_audio(mtat_clip), mtat_clip, SR) == []
