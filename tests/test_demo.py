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
    # each verdict is what the evaluations written by the run say (the claims are checked, not assumed)
    metrics = {v: json.loads((out / "runs" / v / "evaluation_test.json").read_text())["metrics"]
               for v in ("audio_vgg", "lyrics_textcnn", "linear_fusion", "cnn_sam")}
    roc = {v: m["tags"]["roc_auc_macro"] for v, m in metrics.items()}
    acc = {v: {h: m[h]["accuracy"] for h in ("energy", "stress", "quadrant")} for v, m in metrics.items()}
    expected = [roc["cnn_sam"] > max(roc["audio_vgg"], roc["lyrics_textcnn"], roc["linear_fusion"]),
                acc["audio_vgg"]["energy"] > acc["lyrics_textcnn"]["energy"],
                acc["lyrics_textcnn"]["stress"] > acc["audio_vgg"]["stress"],
                acc["cnn_sam"]["quadrant"] > acc["linear_fusion"]["quadrant"]]
    assert [c["holds"] for c in report["claims"]] == expected
    assert all(("holds" if c["holds"] else "DOES NOT HOLD") in run.stdout for c in report["claims"])
    assert (out / "taggram.png").stat().st_size > 0
    assert (out / "export" / "saved_model" / "1" / "saved_model.pb").exists()
    # only the TFLite variant the demo tags with (DemoParams.tflite_variants)
    assert sorted(p.name for p in (out / "export" / "tflite").glob("*.tflite")) == ["model_float32.tflite"]
    for variant in ("audio_vgg", "lyrics_textcnn", "linear_fusion", "cnn_sam"):
        assert (out / "runs" / variant / "evaluation_test.json").exists()
    assert "quadrant:" in run.stdout  # the tagged clip's Thayer quadrant is reported
    # the time profile: one row per variant, read back from the runs' histories (1 epoch each)
    assert [r["variant"] for r in report["profile"]] == ["audio_vgg", "lyrics_textcnn", "linear_fusion", "cnn_sam"]
    for row in report["profile"]:
        history = json.loads((out / "runs" / row["variant"] / "history.json").read_text())
        assert row["epochs"] == len(history) == 1
        assert 0 < history[0]["train_seconds"] < history[0]["seconds"]  # steps, then validation
        assert row["steps"] > 0 and row["validation"] > 0 and row["test"] > 0
        assert abs(row["total"] - (row["steps"] + row["validation"] + row["setup"] + row["test"])) < 1e-6
    assert "Where stage 3's time went" in run.stdout
    stages = {"generate", "build", "train_evaluate", "claims", "export_tag", "total"}
    assert set(report["seconds"]) == set(report["cpu_seconds"]) == stages
    assert report["cpu_seconds"]["generate"] > 0  # the generator's worker processes are counted
    assert "CPU  generate" in run.stdout


def test_demo_presets_are_checked():
    from musictag_tf import params
    demo = params.DemoParams()
    assert "float32" in demo.tflite_variants and demo.train.task == "multi"
    with pytest.raises(params.ConfigError, match="float32"):
        params.DemoParams(tflite_variants=("float16",))
    with pytest.raises(params.ConfigError, match="clips_per_shard"):
        params.DemoParams(clips_per_shard=0)
