"""``musictag tag`` with the shipped pretrained models (issue 12, items 4 and 5).

The MTAT clip's scores are compared with the original musicnn's reference taggram
(../shared/data/results/musicnn_reference.json), not with hard-coded numbers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from absl import flags

from conftest import SHARED_DATA, TAGS, make_model_dir
from musictag_tf import windows as windows_lib
from musictag_tf.audio.io import write_audio
from musictag_tf.model import musicnn_windows
from musictag_tf.model.pretrained import parity, registry
from musictag_tf.tag import cli as tag_cli
from musictag_tf.tag import models as models_cmd

REFERENCE = SHARED_DATA / "results" / "musicnn_reference.json"
SR = 16000


def _run_main(args):
    fv = flags.FlagValues()
    tag_cli.define_flags(fv)
    return tag_cli.main(fv(["musictag tag"] + [str(a) for a in args]), fv)


def _tag_json(tmp_path, args):
    out = tmp_path / "tags.json"
    assert _run_main(list(args) + [f"--output={out}"]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize("samples", [0, 1000, 47615, 47616, 47872 + 47615, 47872 + 47616, 29 * SR, 466_000])
def test_musicnn_windows_follow_the_one_rule_and_count_musicnn_patches(samples):
    params = musicnn_windows.window_params()
    assert params.read_samples == 48128 and params.remainder == "drop"
    assert windows_lib.num_windows(samples, params) == max(1, musicnn_windows.num_patches(samples))
    wave = np.arange(1, samples + 1, dtype=np.float32)
    windows = musicnn_windows.musicnn_windows(wave)
    for k, row in enumerate(windows):  # window k reads the file's [k * 47872 - 256, ... + 48128)
        index = np.arange(48128) + k * 47872 - 256
        expected = np.where((index >= 0) & (index < samples), index + 1, 0)
        np.testing.assert_array_equal(row, expected)


def test_default_model_is_mtt_musicnn_and_matches_the_original_on_the_mtat_clip(tmp_path, mtat_clip):
    if not REFERENCE.exists():
        pytest.skip(f"{REFERENCE} not available")
    entry = parity.reference_files(parity.load_reference(REFERENCE), "mtt_musicnn")[f"mtat/{mtat_clip.name}"]
    (clip,) = _tag_json(tmp_path, [mtat_clip, "--embeddings"])
    assert clip["model"]["name"] == "mtt_musicnn" and clip["model"]["kind"] == "pretrained"
    assert clip["model"]["windows"] == {"window_samples": 47616, "hop_samples": 47872,
                                        "remainder": "drop", "context_samples": 256}
    top3 = [t["tag"] for t in clip["top_tags"][:3]]
    assert {"techno", "electronic"} <= set(top3)
    labels = registry.pretrained_info("mtt_musicnn").tags
    scores = np.array([clip["scores"][t] for t in labels])
    assert np.abs(scores - np.array(entry["mean"])).max() < 0.02
    assert parity.top_k(scores) == parity.top_k(entry["mean"])
    taggram = np.array(clip["taggram"]["scores"])
    assert taggram.shape == (entry["n_patches"], 50)
    assert np.abs(taggram - np.array(entry["taggram"])).max() < 0.05
    emb = clip["embeddings"]
    assert np.array(emb["embedding_penultimate"]["per_window"]).shape == (entry["n_patches"], 200)
    assert np.array(emb["embedding_pooled"]["per_window"]).shape == (entry["n_patches"], 1506)
    np.testing.assert_allclose(emb["embedding_penultimate"]["clip"],
                               np.mean(emb["embedding_penultimate"]["per_window"], axis=0), atol=2e-6)


def test_shipped_vgg_tags_a_file_shorter_than_one_patch(tmp_path):
    path = tmp_path / "short.wav"
    t = np.arange(int(1.5 * SR)) / SR
    write_audio(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR)
    (clip,) = _tag_json(tmp_path, [path, "--model=msd_vgg", "--embeddings"])
    assert clip["model"]["name"] == "msd_vgg"
    scores = np.array(list(clip["scores"].values()))
    assert scores.shape == (50,) and np.isfinite(scores).all() and ((scores > 0) & (scores < 1)).all()
    assert len(clip["taggram"]["scores"]) == 1
    assert np.array(clip["embeddings"]["embedding_pooled"]["per_window"]).shape == (1, 256)


def test_hop_seconds_changes_the_musicnn_hop(tmp_path, mtat_clip):
    (clip,) = _tag_json(tmp_path, [mtat_clip, "--hop_seconds=1.496", "--notaggram"])
    assert clip["model"]["windows"]["hop_samples"] == 23936
    assert clip["model"]["windows"]["window_samples"] == 47616


def test_unknown_model_name_is_one_line_listing_the_shipped_models(tmp_path, capsys):
    path = tmp_path / "a.wav"
    write_audio(path, np.zeros(SR, np.float32) + 0.1, SR)
    assert _run_main([path, "--model=mtt_musicnm"]) != 0
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "mtt_musicnm" in err[0]
    assert all(name in err[0] for name in registry.SHIPPED_MODELS)


def test_models_command_lists_every_shipped_model(capsys):
    assert models_cmd.main(["musictag models"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in registry.SHIPPED_MODELS)


def test_embeddings_of_a_tiny_cnn_sam_run(tmp_path):
    from musictag_tf.model import variants
    spec, model = make_model_dir(tmp_path / "run", "cnn_sam")
    path = tmp_path / "song.wav"
    t = np.arange(int(5.3 * SR)) / SR
    write_audio(path, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), SR)
    (clip,) = _tag_json(tmp_path, [path, f"--model={tmp_path / 'run'}", "--embeddings"])
    windows = len(clip["taggram"]["scores"])
    sizes = {k: model.get_layer(n[0]).output.shape[-1] for k, n in variants.EMBEDDING_LAYERS["cnn_sam"].items()}
    for name, size in sizes.items():
        assert np.array(clip["embeddings"][name]["per_window"]).shape == (windows, size)
        assert len(clip["embeddings"][name]["clip"]) == size
    assert len(clip["scores"]) == len(TAGS) and clip["model"]["kind"] == "keras"


def test_csv_of_a_shipped_model_is_read_as_mtat_predictions(tmp_path, mtat_clip, mtat_dir):
    """Item 7: the tagger's CSV is what ``musictag-evaluate --predictions`` reads: its row names the
    MTAT clip (clip id 37386, in the Won test split) and carries the original's scores."""
    if not REFERENCE.exists():
        pytest.skip(f"{REFERENCE} not available")
    from musictag_tf.mtat import datasets as mtat
    from musictag_tf.mtat.predictions import match_clip_ids, read_predictions

    out = tmp_path / "preds.csv"
    assert _run_main([mtat_clip, "--format=csv", f"--output={out}"]) == 0
    keys, scores = read_predictions(out, mtat.TOP50_TAGS)
    assert scores.shape == (1, 50)
    (clip_id,) = match_clip_ids(keys, mtat_dir)
    gt = mtat.ground_truth("won2020", "test", mtat_dir)
    assert clip_id == 37386 and clip_id in gt.row_of()
    entry = parity.reference_files(parity.load_reference(REFERENCE), "mtt_musicnn")[f"mtat/{mtat_clip.name}"]
    assert np.abs(scores[0] - np.array(entry["mean"])).max() < 0.02
