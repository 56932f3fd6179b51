"""Shared fixtures: where the real data in ../shared/data lives, skipping cleanly without it."""

from __future__ import annotations

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from musictag_tf import params as P

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
def mtat_dir() -> pathlib.Path:
    """../shared/data/mtat: the published MTAT split, index and label files."""
    return shared_path("mtat")


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


# ----------------------------------------------------------------------------- tiny models
# One tiny architecture for every test that builds or trains a model (seconds, not minutes).
# (musictag_tf.params imports no TensorFlow, so collection stays fast.)
TINY = P.ModelParams(num_tags=6, chunk_seconds=2.0, mel_filters=(8, 8, 16, 16), wave_filters=(8, 16, 16),
                     text_filters=8, lstm_units=8, attention_hidden=8, fusion_units=16,
                     vgg_filters=(8, 8, 16), dropout=0.1)
TINY_LYRICS_MAX_TOKENS = 16
TAGS = ["guitar", "classical", "slow", "techno", "strings", "drums"]  # MTAT tag names
WORDS = ["love", "night", "amour", "liebe", "corazón", "dance", "strasse", "heart", "fire", "爱"]
ALL_HEADS = ("tags", "energy", "stress", "quadrant")


@pytest.fixture(scope="session")
def tiny_model():
    """The tiny ModelParams (``TINY``) every model-building test uses."""
    return TINY


def tiny_spec(variant: str = "cnn_sam", heads=ALL_HEADS, model_params=None, vocab_size: int = 40):
    """A ModelSpec around ``TINY`` (16 lyrics tokens, short segments)."""
    import dataclasses
    from musictag_tf.model import variants
    return variants.ModelSpec(
        model=dataclasses.replace(model_params or TINY, variant=variant, heads=tuple(heads)),
        audio=P.AudioParams(), lyrics=P.LyricsParams(max_tokens=TINY_LYRICS_MAX_TOKENS, embedding_dim=8),
        segments=P.SegmentParams(kernel_seconds=0.25, min_segment_seconds=0.25, max_segment_seconds=1.0),
        vocab_size=vocab_size)


def make_model_dir(model_dir, variant: str = "cnn_sam", heads=ALL_HEADS, seed: int = 0, model_params=None):
    """A fake training run (spec.json, tags.txt, vocab.txt, best.keras) around an untrained tiny model."""
    import keras
    from musictag_tf import runs
    from musictag_tf.lyrics.vocab import Vocabulary
    from musictag_tf.model import variants
    model_dir = pathlib.Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    vocab = Vocabulary(WORDS)
    vocab.save(str(model_dir / "vocab.txt"))
    spec = tiny_spec(variant, heads, model_params, vocab_size=len(vocab))
    keras.utils.set_random_seed(seed)
    model = variants.build_model(spec)
    runs.save_spec(str(model_dir), spec, TAGS, P.to_dict(P.TrainParams()), "", "none")
    (model_dir / "tags.txt").write_text("".join(t + "\n" for t in TAGS), encoding="utf-8")
    model.save(str(model_dir / "best.keras"))
    return spec, model
@pytest.fixture(scope="session")
def tiny_records(tiny_synthetic, tmp_path_factory) -> str:
    """TFRecords built from ``tiny_synthetic`` with the real builder (in-process)."""
    return build_tiny_records(str(tiny_synthetic.out_dir), str(tmp_path_factory.mktemp("tiny_records")))


# ----------------------------------------------------------------------------- local Debian packages

def dpkg_build(root: pathlib.Path, name: str, out_dir: pathlib.Path, description: str) -> str:
    """Write ``root/DEBIAN/control`` for package ``name`` and ``dpkg-deb --build`` root into
    ``out_dir/<name>_1.0-1_all.deb`` (the corpus command's input, made locally: nothing downloaded)."""
    import subprocess
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        f"Description: {description}\n")
    deb = out_dir / f"{name}_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True,
                   capture_output=True)
    return str(deb)


class FakeApt:
    """Serves ``apt-get download`` from local .deb files; every other command runs for real."""

    def __init__(self, debs, locate_after_update=False):
        self.debs = debs
        self.calls = []
        self.updated = not locate_after_update

    def __call__(self, command, cwd=None, **kwargs):
        import shutil
        import subprocess
        self.calls.append(command)
        if command[:2] == ["apt-get", "update"]:
            self.updated = True
            return subprocess.CompletedProcess(command, 0, "", "")
        if command[:2] == ["apt-get", "download"]:
            name = command[2]
            if not self.updated or name not in self.debs:
                return subprocess.CompletedProcess(command, 100, "", f"E: Unable to locate package {name}")
            shutil.copy(self.debs[name], cwd)
            return subprocess.CompletedProcess(command, 0, "", "")
        return subprocess.run(command, cwd=cwd, **kwargs)


def check_window_model_bad_input(run, spec, clean: np.ndarray) -> None:
    """Issue 15 findings 7-8 on a TFLite window model (``export.tflite.WindowRunner`` ``run``):
    a NaN sample, an all-inf and an all-NaN window give finite tags and ``valid`` = the finite
    fraction (NaN scored as 0), and lyrics ids -1 and vocab_size are read as OOV.
    ``clean``: float32 [1, chunk_samples] of finite audio."""
    from export import tflite
    from musictag_tf.lyrics.vocab import OOV_ID

    chunk, tokens = spec.chunk_samples, spec.lyrics.max_tokens
    one_nan = clean.copy()
    one_nan[0, 10] = np.nan
    ids = np.zeros((1, tokens), np.int32)
    ids[0, :3] = [2, -1, spec.vocab_size]
    oov_ids = ids.copy()
    oov_ids[0, 1:3] = OOV_ID
    out = run(np.concatenate([clean, one_nan, np.full((1, chunk), np.inf, np.float32),
                              np.full((1, chunk), np.nan, np.float32)]), np.repeat(oov_ids, 4, 0))
    assert np.all(np.isfinite(out["tags"]))
    np.testing.assert_allclose(out[tflite.VALID_OUTPUT][:, 0], [1.0, 1 - 1 / chunk, 0.0, 0.0], rtol=1e-6)
    zeroed = clean.copy()
    zeroed[0, 10] = 0.0
    np.testing.assert_allclose(out["tags"][1], run(zeroed, oov_ids)["tags"][0], atol=1e-6)
    np.testing.assert_array_equal(run(clean, ids)["tags"], run(clean, oov_ids)["tags"])
