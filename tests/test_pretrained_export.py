"""``musictag-export --model=mtt_musicnn`` (issue 12, item 7): the shipped model exported like a run.

One slow test: export (SavedModel + float32 TFLite), load the SavedModel in a fresh process
that never imports musictag, and hold its clip scores, taggram and top tags to the original
musicnn's reference on the MTAT clip; then tag through the export's SavedModel and .tflite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import PROJECT_ROOT, SHARED_DATA

REFERENCE = SHARED_DATA / "results" / "musicnn_reference.json"

FRESH_PROCESS = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    assert not any(m.startswith("musictag") for m in sys.modules)
    model = tf.saved_model.load(sys.argv[1])
    wave = tf.constant(np.load(sys.argv[2])[None])
    out = model.signatures["serving_default"](waveform=wave)
    emb = model.signatures["embed"](waveform=wave)
    assert not any(m.startswith("musictag") for m in sys.modules)
    print(json.dumps({"clip": out["tag_probabilities"].numpy()[0].tolist(),
                      "taggram": out["taggram"].numpy()[0].tolist(),
                      "top_tags": out["top_tags"].numpy()[0].astype(str).tolist(),
                      "embed": {k: list(v.shape) for k, v in emb.items()}}))
""")


@pytest.mark.slow
def test_export_mtt_musicnn_matches_the_original_in_a_fresh_process(tmp_path, mtat_clip):
    if not REFERENCE.exists():
        pytest.skip(f"{REFERENCE} not available")
    from musictag_tf.audio.io import load_audio
    from musictag_tf.model.pretrained import parity
    from musictag_tf.tag import backends

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(PROJECT_ROOT)}
    export_dir = tmp_path / "export"
    done = subprocess.run([sys.executable, "-m", "export", "--model=mtt_musicnn", f"--export_dir={export_dir}",
                           "--tflite=float32"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    version_dir = export_dir / "saved_model" / "1"
    assert (version_dir / "assets" / "tags.txt").exists()
    assert (export_dir / "tflite" / "model_float32.tflite").exists()

    entry = parity.reference_files(parity.load_reference(REFERENCE), "mtt_musicnn")[f"mtat/{mtat_clip.name}"]
    labels = (version_dir / "assets" / "tags.txt").read_text().split("\n")[:50]
    np.save(tmp_path / "wave.npy", load_audio(mtat_clip))
    fresh = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(version_dir), str(tmp_path / "wave.npy")],
                           capture_output=True, text=True, env=env, timeout=300)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    out = json.loads(fresh.stdout.strip().splitlines()[-1])
    dev = parity.deviation(out["taggram"], entry["taggram"], entry["mean"])
    assert dev.clip_max_abs < 0.02 and dev.row_max_abs < 0.05 and dev.top_k_overlap == 5, dev
    assert np.abs(np.array(out["clip"]) - np.array(entry["mean"])).max() < 0.02
    assert out["top_tags"] == [labels[i] for i in parity.top_k(entry["mean"])]
    n = entry["n_patches"]
    assert out["embed"]["embedding_penultimate"] == [1, 200]
    assert out["embed"]["embedding_pooled_per_window"] == [1, n, 1506]

    for model_path in (export_dir / "saved_model", export_dir / "tflite" / "model_float32.tflite"):
        tagger = backends.load_tagger(str(model_path))
        probabilities, taggram, starts = tagger.tag_waveform(load_audio(mtat_clip))
        assert tagger.describe()["name"] == "mtt_musicnn" and len(starts) == n
        dev = parity.deviation(taggram, entry["taggram"], entry["mean"])
        assert dev.clip_max_abs < 0.02 and dev.row_max_abs < 0.05 and dev.top_k_overlap == 5, (model_path, dev)
