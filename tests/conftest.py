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


# ----------------------------------------------------------------------------- tiny synthetic data
TINY_SYNTHETIC_CLIPS = 96  # 72 train / 6 valid / 18 test with the MTAT folder split
TINY_CLIP_SECONDS = 3.0


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory):
    """A small deterministic synthetic dataset (MTAT layout + lyrics + emotion tables)."""
    from musictag_tf.params import SyntheticParams
    from tfrecords_builder.synthetic import generate_dataset
    out = tmp_path_factory.mktemp("tiny_synthetic")
    return generate_dataset(out, SyntheticParams(num_clips=TINY_SYNTHETIC_CLIPS,
                                                 clip_seconds=TINY_CLIP_SECONDS, seed=7),
                            workers=1, progress=False)


def build_tiny_records(synthetic_root: str, out: str) -> str:
    """Build TFRecords from a tiny synthetic tree with the real builder (in-process, fixed params)."""
    from musictag_tf.params import BuilderParams, LyricsParams, SegmentParams
    from tfrecords_builder import sources
    from tfrecords_builder.build import build_records
    root = str(synthetic_root)
    collection = sources.read_mtat_tree(root, lyrics_table=f"{root}/lyrics.tsv",
                                        labels_table=f"{root}/emotion.tsv")
    build_records(collection, out, lyrics_params=LyricsParams(max_tokens=32, embedding_dim=8),
                  segment_params=SegmentParams(kernel_seconds=0.25, min_segment_seconds=0.25,
                                               max_segment_seconds=1.0),
                  builder_params=BuilderParams(clips_per_shard=16, num_workers=1),
                  tags_file=f"{root}/tags.txt", progress=False, pool=False)
    return out


@pytest.fixture(scope="session")
def tiny_records(tiny_synthetic, tmp_path_factory) -> str:
    """TFRecords built from ``tiny_synthetic`` with the real builder (in-process)."""
    return build_tiny_records(str(tiny_synthetic.out_dir), str(tmp_path_factory.mktemp("tiny_records")))
