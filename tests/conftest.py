"""Shared fixtures: where the real data in ../shared/data lives, skipping cleanly without it."""

from __future__ import annotations

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("MUSICTAG_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
MTAT_CLIP = SHARED_DATA / "audio" / "mtat" / "joram-moments_of_clarity-08-solipsism-59-88.mp3"


def shared_path(*parts: str) -> pathlib.Path:
    """Path inside ../shared/data, or skip the test when that file is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mtat_clip() -> pathlib.Path:
    """The one real MTAT clip (clip_id 37386, 29.12 s, 16 kHz mono mp3, ground truth: techno)."""
    return shared_path("audio", "mtat", MTAT_CLIP.name)


@pytest.fixture(scope="session")
def real_audio_files(shared_data) -> list[pathlib.Path]:
    """Every real recording in ../shared/data/audio: mp3, ogg and wav at 16-48 kHz."""
    files = sorted(p for p in (shared_data / "audio").rglob("*")
                   if p.suffix.lower() in (".mp3", ".ogg", ".wav", ".flac"))
    if not files:
        pytest.skip("no real audio in ../shared/data/audio")
    return files
