"""`musictag demo` runs every stage end to end (tiny settings; the full run is timed in BUILD_NOTES.md)."""

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_command_runs_every_stage(tmp_path):
    out = tmp_path / "demo"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    run = subprocess.run([sys.executable, "-m", "musictag_tf.cli", "demo", f"--out_dir={out}",
                          "--num_clips=64", "--epochs=1"], env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for stage in ("1/5", "2/5", "3/5", "4/5", "5/5"):
        assert f"=== {stage}" in run.stdout
    assert "CNN + SAM − linear fusion" in run.stdout  # the five-group table with its difference row
    report = json.loads((out / "demo_report.json").read_text())
    assert len(report["claims"]) == 4 and all(isinstance(c["holds"], bool) for c in report["claims"])
    assert (out / "taggram.png").stat().st_size > 0
    assert (out / "export" / "saved_model" / "1" / "saved_model.pb").exists()
    assert sorted(p.name for p in (out / "export" / "tflite").glob("*.tflite")) == [
        "model_dynamic_int8.tflite", "model_float16.tflite", "model_float32.tflite"]
    for variant in ("audio_vgg", "lyrics_textcnn", "linear_fusion", "cnn_sam"):
        assert (out / "runs" / variant / "evaluation_test.json").exists()
    assert "quadrant:" in run.stdout  # the tagged clip's Thayer quadrant is reported
