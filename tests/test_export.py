"""Export: SavedModel signatures (fresh process, saved_model_cli, assets), TFLite variants, serving files.

A tiny untrained cnn_sam with every head is exported once per session through the real CLI
(``python -m export``); the tests compare each artefact with the Keras model it came from.
The slow test trains a small model on synthetic records and checks that quantized TFLite models
keep macro ROC-AUC within 0.005 of the Keras model.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from musictag_tf import params as P
from musictag_tf import artifacts
from musictag_tf import windows as windows_lib
from musictag_tf.data import schema
from musictag_tf.lyrics import tokenize as tokenize_lib
from musictag_tf.lyrics.vocab import Vocabulary
from musictag_tf.model import variants

from conftest import ALL_HEADS, PROJECT_ROOT, TAGS, TINY, WORDS, make_model_dir  # shared (tests/conftest.py)

LYRICS = P.LyricsParams(max_tokens=16, embedding_dim=8)
SEGMENTS = P.SegmentParams(kernel_seconds=0.25, min_segment_seconds=0.25, max_segment_seconds=1.0)


def run_python(code: str, *args, timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run([sys.executable, *(["-c", code] if code else []), *args], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=str(PROJECT_ROOT))


def keras_clip_probabilities(prob_model, spec, waveform, ids, hop=None):
    """Reference: the Keras probability model on the tagger's windows, averaged (head -> [classes])."""
    from export import tflite
    hop = hop or P.TagParams().hop_samples(spec.chunk_samples)
    windows, starts = windows_lib.split_windows(waveform, windows_lib.WindowParams(spec.chunk_samples, hop))
    out = tflite.run_keras(prob_model, windows, np.repeat(np.asarray(ids, np.int32)[None], len(windows), 0))
    return windows_lib.mean_over_windows(out), out, starts


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """The tiny model exported through ``python -m export`` (SavedModel + 3 TFLite variants)."""
    root = tmp_path_factory.mktemp("export")
    spec, _ = make_model_dir(root / "run")
    proc = run_python("", "-m", "export", f"--model_dir={root / 'run'}", f"--export_dir={root / 'out'}", "--top_k=3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    from export import saved_model as sm
    source = sm.load_model_source(str(root / "run"))
    return {"root": root, "spec": spec, "source": source, "stdout": proc.stdout,
            "version_dir": root / "out" / "saved_model" / "1", "tflite_dir": root / "out" / "tflite",
            "out": root / "out"}


@pytest.fixture(scope="session")
def loaded(exported):
    return tf.saved_model.load(str(exported["version_dir"]))


def _clip(spec, factor, seed):
    rng = np.random.default_rng(seed)
    n = int(spec.chunk_samples * factor)
    t = np.arange(n) / 16000.0
    return (0.2 * np.sin(2 * np.pi * (200 + 100 * seed) * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)


# ----------------------------------------------------------------------------- CLI and layout

def test_cli_writes_the_serving_layout_and_reports_checks(exported):
    out, version_dir = exported["out"], exported["version_dir"]
    assert sorted(p.name for p in (version_dir / "assets").iterdir()) == ["tags.txt", "vocab.txt"]
    assert (version_dir / "assets" / "tags.txt").read_text(encoding="utf-8").splitlines() == TAGS
    assert (version_dir / "variables" / "variables.index").exists()
    assert not [p for p in (out / "saved_model").iterdir() if p.name.startswith(".")]  # no partial dirs
    meta = json.loads((version_dir / "assets.extra" / "musictag.json").read_text(encoding="utf-8"))
    assert meta["tags"] == TAGS and meta["chunk_samples"] == exported["spec"].chunk_samples
    assert meta["hop_samples"] == exported["spec"].chunk_samples // 2 and meta["top_k"] == 3
    assert meta["quadrant_source"] == "quadrant head"
    assert set(meta["signatures"]) == {"serving_default", "tag_audio", "tag_lyrics_text", "tag_examples",
                                       "tag_windows", "embed"}
    config = (out / "models.config").read_text(encoding="utf-8")
    assert 'base_path: "/models/musictag/saved_model"' in config and 'name: "musictag"' in config
    stdout = exported["stdout"]
    parity = float(stdout.split("reloaded serving_default vs Keras: max |diff| ")[1].split()[0])
    assert parity < 1e-5, stdout
    for variant in ("float32", "dynamic_int8", "float16"):
        assert f"{variant}" in stdout and (exported["tflite_dir"] / f"model_{variant}.tflite").exists()
    # the tiny run has no records to calibrate int8 on: skipped with a note (tests/test_tflite_int8.py)
    assert "int8 skipped" in stdout and not (exported["tflite_dir"] / "model_int8.tflite").exists()


def test_cli_int8_without_calibration_records_is_one_error(tmp_path):
    make_model_dir(tmp_path / "run")
    proc = run_python("", "-m", "export", f"--model_dir={tmp_path / 'run'}", f"--export_dir={tmp_path / 'o'}",
                      "--tflite=float32,int8")
    assert proc.returncode == 2 and "--calibration_records" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()  # refused before writing anything


def test_cli_rejects_a_missing_model_dir(tmp_path):
    proc = run_python("", "-m", "export", f"--model_dir={tmp_path / 'nothing'}", f"--export_dir={tmp_path / 'o'}")
    assert proc.returncode == 2
    assert "no spec.json" in proc.stderr and "Traceback" not in proc.stderr


def test_versions_count_up_and_existing_ones_are_protected(tmp_path):
    from export import saved_model as sm
    assert sm.choose_version(str(tmp_path / "none")) == 1
    for name in ("1", "3", "tmp", ".partial-4-1"):
        (tmp_path / name).mkdir()
    assert sm.existing_versions(str(tmp_path)) == [1, 3]
    assert sm.choose_version(str(tmp_path)) == 4
    assert sm.choose_version(str(tmp_path), 7) == 7
    with pytest.raises(sm.ExportError, match="already exists"):
        sm.choose_version(str(tmp_path), 3)
    assert sm.choose_version(str(tmp_path), 3, overwrite=True) == 3


# ----------------------------------------------------------------------------- SavedModel outputs

FRESH_PROCESS = textwrap.dedent("""
    import base64, json, sys
    import numpy as np
    import tensorflow as tf
    inputs = json.load(open(sys.argv[2]))
    model = tf.saved_model.load(sys.argv[1])
    def plain(out):
        result = {}
        for key, value in out.items():
            value = value.numpy()
            result[key] = value.astype(str).tolist() if value.dtype == object else value.tolist()
        return result
    wave = tf.constant(np.asarray(inputs["waveform"], np.float32))
    out = {
        "serving_default": plain(model.signatures["serving_default"](
            waveform=wave, lyrics_ids=tf.constant(np.asarray(inputs["lyrics_ids"], np.int32)))),
        "tag_audio": plain(model.signatures["tag_audio"](waveform=wave)),
        "tag_lyrics_text": plain(model.signatures["tag_lyrics_text"](
            waveform=wave, lyrics=tf.constant(inputs["lyrics"]))),
        "tag_examples": plain(model.signatures["tag_examples"](
            examples=tf.constant([base64.b64decode(e) for e in inputs["examples"]]))),
        "tag_windows": plain(model.signatures["tag_windows"](
            waveform=tf.constant(np.asarray(inputs["windows"], np.float32)),
            lyrics_ids=tf.constant(np.asarray(inputs["window_ids"], np.int32)))),
    }
    out["modules"] = sorted(m for m in sys.modules if m.split(".")[0] in ("musictag_tf", "export", "tensorflow_text"))
    print("RESULT" + json.dumps(out))
""")


def _example(clip_id, waveform, ids, sample_rate=16000):
    record = schema.ClipRecord(clip_id=clip_id, audio_path=f"{clip_id}.mp3", split="test", waveform=waveform,
                               sample_rate=sample_rate, log_mel=np.zeros((1, 96), np.float32), lyrics_ids=list(ids),
                               lyrics_text="x" if len(ids) else "", tags=[0] * 3)
    return schema.encode_example(record)


def test_saved_model_runs_in_a_fresh_process_without_this_project(exported, tmp_path):
    spec, model = exported["spec"], exported["source"].model
    vocab = Vocabulary(WORDS)
    waves = np.stack([_clip(spec, 2.3, 0), _clip(spec, 2.3, 1)])
    ids = np.array([[2, 3, 4, 5, 0], [0, 0, 0, 0, 0]], np.int32)  # shorter than max_tokens: padded in-graph
    texts = ["Love & fire in the NIGHT — l'amour, Straße der Liebe; dance!", ""]
    ex_waves = [_clip(spec, 1.5, 2), _clip(spec, 0.6, 3)]
    ex_ids = [[5, 6, 7], []]
    examples = [_example("a", ex_waves[0], ex_ids[0]), _example("b", ex_waves[1], ex_ids[1])]
    windows = np.stack([_clip(spec, 1.0, 4), _clip(spec, 1.0, 5)])
    window_ids = np.zeros((2, spec.lyrics.max_tokens), np.int32)
    window_ids[0, :3] = [2, 8, 9]
    inputs = {"waveform": waves.tolist(), "lyrics_ids": ids.tolist(), "lyrics": texts,
              "examples": [base64.b64encode(e).decode() for e in examples],
              "windows": windows.tolist(), "window_ids": window_ids.tolist()}
    (tmp_path / "inputs.json").write_text(json.dumps(inputs))
    proc = run_python(FRESH_PROCESS, str(exported["version_dir"]), str(tmp_path / "inputs.json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert result["modules"] == []  # neither this project nor tensorflow_text in that process

    def check(out, waveform, clip_ids, top_k=3):
        expected, per_window, starts = keras_clip_probabilities(model, spec, waveform, clip_ids)
        for head in ALL_HEADS:
            np.testing.assert_allclose(out[artifacts.PROBABILITY_OUTPUTS[head]], expected[head], atol=1e-5)
        order = np.argsort(-expected["tags"])[:top_k]
        assert out["top_k_tags"] == [TAGS[i] for i in order]
        np.testing.assert_allclose(out["top_k_scores"], expected["tags"][order], atol=1e-5)
        assert out["quadrant"] == schema.QUADRANT_NAMES[int(np.argmax(expected["quadrant"]))]
        assert out["num_windows"] == len(starts)
        np.testing.assert_allclose(out["window_start_seconds"][: len(starts)], starts / 16000.0, atol=1e-6)
        np.testing.assert_allclose(np.asarray(out["taggram"])[: len(starts)], per_window["tags"], atol=1e-5)

    def row(out, i):
        return {k: v[i] for k, v in out.items()}

    padded = np.zeros((2, spec.lyrics.max_tokens), np.int32)
    padded[:, :5] = ids
    for i in range(2):
        check(row(result["serving_default"], i), waves[i], padded[i])
        check(row(result["tag_audio"], i), waves[i], np.zeros(spec.lyrics.max_tokens, np.int32))
        text_ids = vocab.encode(tokenize_lib.tokenize(texts[i], spec.lyrics), spec.lyrics.max_tokens)
        check(row(result["tag_lyrics_text"], i), waves[i], text_ids)
    # love fire night l' amour strasse (English stop words guessed, so "l'" stays, as OOV)
    assert vocab.encode(tokenize_lib.tokenize(texts[0], spec.lyrics), 16)[:6].tolist() == [2, 10, 3, 1, 4, 8]
    for i in range(2):  # each example keeps its own length (here 1.5 and 0.6 windows)
        pcm = np.frombuffer(schema.waveform_to_pcm16(ex_waves[i]), "<i2").astype(np.float32) / schema.WAVEFORM_SCALE
        example_ids = np.zeros(spec.lyrics.max_tokens, np.int32)
        example_ids[: len(ex_ids[i])] = ex_ids[i]
        check(row(result["tag_examples"], i), pcm, example_ids)
    assert result["tag_examples"]["clip_id"] == ["a", "b"]
    assert result["tag_examples"]["num_windows"] == [2, 1]
    from export import tflite
    direct = tflite.run_keras(model, windows, window_ids)
    for head in ALL_HEADS:
        np.testing.assert_allclose(result["tag_windows"][head], direct[head], atol=1e-5)
    # cnn_sam's attention outputs (issue 13 item 6), read in that process, are the run's --attention
    from musictag_tf.tag.attention import AttentionExplainer
    explainer = AttentionExplainer(str(exported["root"] / "run"))
    for i in range(2):
        clip_windows, starts = windows_lib.split_windows(waves[i], explainer.window_params)
        weights, start, _ = explainer.window_attention(clip_windows)
        np.testing.assert_allclose(result["tag_audio"]["attention"][i], weights, atol=1e-5)
        np.testing.assert_allclose(result["tag_audio"]["attention_start_seconds"][i],
                                   np.where(start >= 0, start + starts[:, None] / 16000.0, -1), atol=1e-5)
    np.testing.assert_allclose(result["tag_windows"]["attention"], explainer.window_attention(windows)[0], atol=1e-5)


def _saved_model_cli():
    path = pathlib.Path(sys.executable).parent / "saved_model_cli"
    if not path.exists():
        pytest.skip(f"saved_model_cli not found beside {sys.executable}")
    return str(path)


def test_saved_model_cli_show_lists_the_signatures(exported):
    proc = subprocess.run([_saved_model_cli(), "show", "--all", "--dir", str(exported["version_dir"])],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    for name in ("serving_default", "tag_audio", "tag_lyrics_text", "tag_examples", "tag_windows"):
        assert f"signature_def['{name}']" in text
    default = text.split("signature_def['serving_default']")[1].split("signature_def[")[0]
    for needle in ("inputs['waveform']", "inputs['lyrics_ids']", "outputs['tag_probabilities']",
                   "outputs['top_k_tags']", "outputs['quadrant']", "outputs['taggram']",
                   "outputs['energy_probabilities']", "Method name is: tensorflow/serving/predict"):
        assert needle in default
    assert "N/A (could not be listed" not in text  # no custom ops


def test_saved_model_cli_run_matches_keras(exported, tmp_path):
    spec, model = exported["spec"], exported["source"].model
    wave = _clip(spec, 1.7, 6)
    np.save(tmp_path / "w.npy", wave[None])
    np.save(tmp_path / "i.npy", np.array([[2, 3, 0]], np.int32))
    proc = subprocess.run(
        [_saved_model_cli(), "run", "--dir", str(exported["version_dir"]), "--tag_set", "serve",
         "--signature_def", "serving_default",
         "--inputs", f"waveform={tmp_path / 'w.npy'};lyrics_ids={tmp_path / 'i.npy'}",
         "--outdir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = np.load(tmp_path / "out" / "tag_probabilities.npy")
    ids = np.zeros(spec.lyrics.max_tokens, np.int32)
    ids[:2] = [2, 3]
    expected, _, _ = keras_clip_probabilities(model, spec, wave, ids)
    np.testing.assert_allclose(got[0], expected["tags"], atol=1e-5)


def test_tag_names_are_read_from_the_asset_file(exported, tmp_path):
    copy = tmp_path / "1"
    shutil.copytree(exported["version_dir"], copy)
    (copy / "assets" / "tags.txt").write_text("".join(t.upper() + "\n" for t in TAGS), encoding="utf-8")
    model = tf.saved_model.load(str(copy))
    out = model.signatures["tag_audio"](waveform=tf.constant(_clip(exported["spec"], 1.0, 0)[None]))
    names = [n.decode() for n in out["top_k_tags"].numpy()[0]]
    assert names and all(n in [t.upper() for t in TAGS] for n in names)


def test_long_audio_runs_in_window_batches_and_matches_keras(exported, loaded):
    spec, model = exported["spec"], exported["source"].model
    wave = _clip(spec, 18.6, 7)  # 37 windows > window_batch (16): three passes of the while loop
    out = loaded.signatures["tag_audio"](waveform=tf.constant(wave[None]))
    expected, per_window, starts = keras_clip_probabilities(model, spec, wave, np.zeros(16, np.int32))
    assert int(out["num_windows"][0]) == len(starts) == 37
    np.testing.assert_allclose(out["tag_probabilities"].numpy()[0], expected["tags"], atol=1e-5)
    np.testing.assert_allclose(out["taggram"].numpy()[0], per_window["tags"], atol=1e-5)


def test_lyrics_ids_of_any_length_batches_and_short_audio(exported, loaded):
    spec = exported["spec"]
    serve = loaded.signatures["serving_default"]
    wave = np.stack([_clip(spec, 0.4, 8), _clip(spec, 0.4, 9)])  # shorter than one window
    audio_only = loaded.signatures["tag_audio"](waveform=tf.constant(wave))
    empty = serve(waveform=tf.constant(wave), lyrics_ids=tf.zeros([2, 0], tf.int32))
    np.testing.assert_allclose(empty["tag_probabilities"], audio_only["tag_probabilities"], atol=1e-6)
    assert audio_only["num_windows"].numpy().tolist() == [1, 1]
    long_ids = np.arange(2, 2 + 40).reshape(1, 40) % 10 + 2
    long_ids = np.repeat(long_ids, 2, 0).astype(np.int32)
    truncated = serve(waveform=tf.constant(wave), lyrics_ids=tf.constant(long_ids[:, :16]))
    full = serve(waveform=tf.constant(wave), lyrics_ids=tf.constant(long_ids))
    np.testing.assert_allclose(full["tag_probabilities"], truncated["tag_probabilities"], atol=1e-6)
    single = serve(waveform=tf.constant(wave[1:]), lyrics_ids=tf.constant(long_ids[1:]))
    np.testing.assert_allclose(full["tag_probabilities"][1], single["tag_probabilities"][0], atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="same batch size"):
        serve(waveform=tf.constant(wave), lyrics_ids=tf.constant(long_ids[:1]))


def test_tag_examples_rejects_other_sample_rates_and_missing_waveforms(exported, loaded):
    spec = exported["spec"]
    fn = loaded.signatures["tag_examples"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="sample_rate must be 16000"):
        fn(examples=tf.constant([_example("x", _clip(spec, 1.0, 0), [], sample_rate=22050)]))
    empty = schema.encode_example(schema.ClipRecord(
        clip_id="y", audio_path="y", split="test", waveform=None, sample_rate=16000,
        log_mel=np.zeros((1, 96), np.float32), lyrics_ids=[], lyrics_text="", tags=[0]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="keep_waveform=False"):
        fn(examples=tf.constant([empty]))


def test_saved_model_graph_uses_only_core_tensorflow_ops(exported):
    from tensorflow.core.protobuf import saved_model_pb2
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((exported["version_dir"] / "saved_model.pb").read_bytes())
    graph = proto.meta_graphs[0].graph_def
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    assert {"StaticRegexReplace", "UnicodeDecode", "StringSplitV2", "While"} <= ops  # the text + windowing graph
    not_core = sorted(op for op in ops if not hasattr(tf.raw_ops, op))
    assert not_core == [], not_core


def test_emotion_only_and_tags_only_heads(tmp_path):
    """A model without a quadrant head derives it from energy x stress; a tags-only model has no emotion outputs."""
    from export import saved_model as sm
    spec, _ = make_model_dir(tmp_path / "e2", heads=("energy", "stress"))
    source = sm.load_model_source(str(tmp_path / "e2"))
    archive = sm.build_archive(source, str(tmp_path))
    fn = archive.tag_audio
    out = fn(tf.constant(_clip(spec, 1.2, 0)[None]))
    assert "tag_probabilities" not in out and "top_k_tags" not in out
    e, s = out["energy_probabilities"].numpy()[0], out["stress_probabilities"].numpy()[0]
    np.testing.assert_allclose(out["quadrant_probabilities"].numpy()[0], np.outer(e, s).reshape(4), atol=1e-6)
    assert out["quadrant"].numpy()[0].decode() == schema.QUADRANT_NAMES[int(np.argmax(np.outer(e, s)))]
    assert sm.metadata(source, sm.ServingConfig(), [])["quadrant_source"] == "energy x stress"
    make_model_dir(tmp_path / "t", heads=("tags",))
    out = sm.build_archive(sm.load_model_source(str(tmp_path / "t")), str(tmp_path)).tag_audio(
        tf.constant(_clip(spec, 1.2, 0)[None]))
    assert set(out) == {"tag_probabilities", "top_k_tags", "top_k_scores", "taggram", "window_start_seconds",
                        "num_windows"} | set(artifacts.ATTENTION_OUTPUTS.values())  # cnn_sam: where it listened


def test_inference_model_exports_mixed_precision_runs_as_float32(tmp_path):
    from export import saved_model as sm
    spec = variants.ModelSpec(model=dataclasses.replace(TINY, heads=("tags",)), audio=P.AudioParams(),
                              segments=SEGMENTS, lyrics=LYRICS, vocab_size=12)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(1)
        mixed = variants.build_model(spec)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model = sm.inference_model(mixed, spec)
    assert all(w.dtype == "float32" for w in model.weights)
    assert all(layer.dtype_policy.name == "float32" for layer in model.layers)
    x = {"waveform": _clip(spec, 1.0, 3)[None], "lyrics_ids": np.zeros((1, 16), np.int32)}
    np.testing.assert_allclose(model(x)["tags"], tf.sigmoid(tf.cast(mixed(x)["tags"], tf.float32)), atol=5e-3)
    other = variants.ModelSpec(model=dataclasses.replace(TINY, heads=("tags",), lstm_units=4), audio=P.AudioParams(),
                               segments=SEGMENTS, lyrics=LYRICS, vocab_size=12)
    with pytest.raises(Exception, match="spec|shape"):
        sm.inference_model(mixed, other)


# ----------------------------------------------------------------------------- TF Serving files

def test_rest_request_bodies_feed_the_signatures(exported, loaded):
    from export import serving
    spec = exported["spec"]
    wave = _clip(spec, 1.3, 5)
    body = serving.request_body([wave], lyrics=["love and fire"], digits=7)
    assert body["signature_name"] == "tag_lyrics_text"
    json.dumps(body)  # JSON-serialisable as TF Serving's REST API expects
    tensors = serving.decode_inputs(body)
    via_body = loaded.signatures[body["signature_name"]](
        waveform=tf.constant(tensors["waveform"]), lyrics=tf.constant(tensors["lyrics"].astype(str)))
    direct = loaded.signatures["tag_lyrics_text"](waveform=tf.constant(wave[None]),
                                                  lyrics=tf.constant(["love and fire"]))
    np.testing.assert_allclose(via_body["tag_probabilities"], direct["tag_probabilities"], atol=1e-5)
    assert serving.request_body([wave])["signature_name"] == "tag_audio"
    ids_body = serving.request_body([wave], lyrics_ids=np.array([[2, 3]]))
    assert ids_body["signature_name"] == "serving_default" and ids_body["inputs"]["lyrics_ids"] == [[2, 3]]
    ex = serving.examples_request_body([_example("c", wave, [2])])
    out = loaded.signatures["tag_examples"](examples=tf.constant(serving.decode_inputs(ex)["examples"].tolist()))
    assert out["clip_id"].numpy().tolist() == [b"c"]
    with pytest.raises(ValueError, match="equal length"):
        serving.request_body([wave, wave[:100]])
    text = serving.models_config([("a", "/models/a/saved_model"), ("b", "/models/b/saved_model")], num_versions=2)
    assert text.count("config {") == 2 and "latest { num_versions: 2 }" in text
    assert "/models/musictag" in serving.docker_command("exports/x")


# ----------------------------------------------------------------------------- TFLite

def test_tflite_variants_are_builtin_only_and_track_keras(exported, mtat_clip):
    from ai_edge_litert.interpreter import Interpreter
    from export import tflite
    from musictag_tf.audio.io import load_audio

    spec, model = exported["spec"], exported["source"].model
    real = load_audio(mtat_clip, 16000)
    rng = np.random.default_rng(0)
    windows = np.stack([real[:spec.chunk_samples], real[-spec.chunk_samples:],
                        (0.1 * rng.standard_normal(spec.chunk_samples)).astype(np.float32),
                        np.zeros(spec.chunk_samples, np.float32)])
    ids = np.zeros((4, 16), np.int32)
    ids[0, :5] = [2, 3, 4, 5, 6]
    ids[2, :2] = [7, 1]
    reference = tflite.run_keras(model, windows, ids)
    sizes = {}
    meta = json.loads((exported["tflite_dir"] / "musictag.json").read_text(encoding="utf-8"))
    for variant, tolerance in (("float32", 1e-4), ("float16", 2e-3), ("dynamic_int8", 5e-2)):
        path = str(exported["tflite_dir"] / f"model_{variant}.tflite")
        interpreter = Interpreter(model_path=path)  # the plain ai-edge-litert interpreter, default resolver
        interpreter.allocate_tensors()
        details = interpreter.get_signature_runner().get_input_details()
        assert details["waveform"]["shape"].tolist() == [1, spec.chunk_samples]
        assert details["lyrics_ids"]["shape"].tolist() == [1, 16] and details["lyrics_ids"]["dtype"] == np.int32
        ops = tflite.op_counts(path)
        assert tflite.non_builtin_ops(ops) == [] and "RFFT2D" in ops
        assert ops == meta["tflite"][variant]["ops"]
        got = tflite.run_tflite(path, windows, ids)
        # valid: fraction of finite samples; attention*: cnn_sam's (test_tflite_window_model_returns_the_attention)
        assert set(got) == set(ALL_HEADS) | {tflite.VALID_OUTPUT} | set(artifacts.ATTENTION_OUTPUTS.values())
        np.testing.assert_array_equal(got[tflite.VALID_OUTPUT], 1.0)
        for head, diff in tflite.max_abs_difference(reference, got).items():
            assert diff < tolerance, (variant, head, diff)
        sizes[variant] = os.path.getsize(path)
        assert meta["tflite"][variant]["size_bytes"] == sizes[variant]
    # (this tiny model's float32 mel filterbank, kept float in dynamic_int8, outweighs its int8 weights)
    assert sizes["dynamic_int8"] < sizes["float32"] and sizes["float16"] < sizes["float32"]
    assert (exported["tflite_dir"] / "tags.txt").read_text(encoding="utf-8").splitlines() == TAGS
    assert meta["inputs"]["waveform"] == ["float32", [1, spec.chunk_samples]]


def test_tflite_matmul_stft_rebuild_keeps_weights(exported, tmp_path):
    from export import tflite
    source = exported["source"]
    models = tflite.export_tflite(source, str(tmp_path), variants=("float32",), stft_impl="matmul")
    ops = models[0].ops
    assert "RFFT2D" not in ops and tflite.non_builtin_ops(ops) == []
    spec = source.spec
    windows = np.stack([_clip(spec, 1.0, 1), _clip(spec, 1.0, 2)])
    ids = np.zeros((2, 16), np.int32)
    diff = tflite.max_abs_difference(tflite.run_keras(source.model, windows, ids),
                                     tflite.run_tflite(models[0].path, windows, ids))
    assert max(diff.values()) < 1e-4


def test_tflite_window_model_returns_the_attention(exported):
    """Issue 13 item 6: the cnn_sam window model's attention outputs are the run's Keras attention,
    in every variant, and ``musictag tag --attention`` on the .tflite gives the run's JSON."""
    from export import tflite
    from musictag_tf.tag import backends
    from musictag_tf.tag.attention import AttentionExplainer, load_explainer

    explainer = AttentionExplainer(str(exported["root"] / "run"))
    wave = _clip(exported["spec"], 2.3, 11)
    windows, _ = windows_lib.split_windows(wave, explainer.window_params)
    weights, start, end = explainer.window_attention(windows)
    meta = json.loads((exported["tflite_dir"] / "musictag.json").read_text(encoding="utf-8"))
    assert (meta["attention"]["rows"], meta["attention"]["segments"]) == weights.shape[1:]
    ids = np.zeros((len(windows), 16), np.int32)
    for variant, tolerance in (("float32", 1e-5), ("float16", 2e-3), ("dynamic_int8", 5e-2)):
        got = tflite.run_tflite(str(exported["tflite_dir"] / f"model_{variant}.tflite"), windows, ids)
        assert np.max(np.abs(got["attention"] - weights)) < tolerance, variant
        # the segments come from the log-mel, the same in every variant; float16 stores the seconds
        # per model step (0.032 s) as 0.03201 s, so its bounds are 0.04 % late
        rtol = 1e-3 if variant == "float16" else 0
        np.testing.assert_allclose(got["attention_start_seconds"], start, atol=1e-5, rtol=rtol)
        np.testing.assert_allclose(got["attention_end_seconds"], end, atol=1e-5, rtol=rtol)
    path = str(exported["tflite_dir"] / "model_float32.tflite")
    served, run = load_explainer(path, backends.load_tagger(path)).explain(wave), explainer.explain(wave)
    assert served["window_start_seconds"] == run["window_start_seconds"]
    assert served["segment_start_seconds"] == run["segment_start_seconds"]
    for got, want in zip(served["weights"], run["weights"]):
        np.testing.assert_allclose(got, want, atol=2e-5)


# ----------------------------------------------------------------------------- trained model (slow)

@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """Synthetic clips -> records -> a small cnn_sam trained for 12 epochs -> TFLite (all variants;
    int8 calibrated on the training split)."""
    from export import saved_model as sm
    from export import tflite
    from musictag_tf.demo import train_small_model

    model_dir, records_dir = train_small_model(str(tmp_path_factory.mktemp("trained")))
    root = tmp_path_factory.mktemp("trained_tflite")
    source = sm.load_model_source(model_dir)
    calibration = tflite.calibration_windows(records_dir, source.spec, "train")  # full int8
    models = tflite.export_tflite(source, str(root / "tflite"), calibration=calibration)
    return source, models, records_dir


@pytest.mark.slow
def test_quantized_tflite_keeps_roc_auc_on_the_synthetic_test_split(trained):
    from export import tflite
    source, models, records_dir = trained
    scores = {s.name: s for s in tflite.evaluate_on_records(source, models, records_dir, "test", max_chunks=4)}
    keras_auc = scores["keras"].roc_auc_macro
    assert keras_auc > 0.6, f"the model did not learn (ROC-AUC {keras_auc:.3f}); the comparison would be moot"
    print({name: (s.roc_auc_macro, s.emotion_accuracy, s.max_abs_difference) for name, s in scores.items()})
    assert abs(scores["float32"].roc_auc_macro - keras_auc) < 1e-4
    assert max(scores["float32"].max_abs_difference.values()) < 1e-4
    for variant in ("dynamic_int8", "float16", "int8"):
        assert abs(scores[variant].roc_auc_macro - keras_auc) <= 0.005, (variant, scores[variant], keras_auc)


def test_embed_signature_matches_the_keras_tagger_embeddings(exported, loaded):
    from musictag_tf.tag import backends
    spec = exported["spec"]
    wave = _clip(spec, 2.3, 3)
    ids = np.zeros([1, spec.lyrics.max_tokens], np.int32)
    out = loaded.signatures["embed"](waveform=tf.constant(wave[None]), lyrics_ids=tf.constant(ids))
    tagger = backends.load_tagger(str(exported["root"] / "run"))
    tagger.embeddings = True
    probabilities, _, starts = tagger.tag_waveform(wave, ids[0])
    assert int(out["num_windows"][0]) == len(starts)
    for name in ("embedding_pooled", "embedding_penultimate"):
        np.testing.assert_allclose(out[f"{name}_per_window"].numpy()[0], probabilities[name], atol=1e-4)
        np.testing.assert_allclose(out[name].numpy()[0], probabilities[name].mean(axis=0), atol=1e-4)
