"""TF Serving's own contract, checked with its protos (tensorflow-serving-api, dev extra).

* ``models.config`` as ``musictag-export`` writes it parses as a ``ModelServerConfig`` (text
  format, what ``--model_config_file`` reads) with the name, base path, platform and version
  policy we meant.
* For every signature of an exported SavedModel (read from ``saved_model.pb`` as
  ``saved_model_cli show`` does), a gRPC ``PredictRequest`` built from the signature's own input
  names and dtypes survives serialize/parse, its tensors feed the signature in TensorFlow, and
  every output is finite. The REST bodies of ``export.serving`` use the same names and dtypes.
* Properties (hypothesis) of the signatures: random lengths, levels, lyrics ids and text give
  finite, in-range, labelled outputs; random bytes that are not an Example (UTF-8 or not) are an
  InvalidArgumentError naming the index; lyrics text that is not UTF-8 is an
  InvalidArgumentError. Findings 7, 9 and 11 of issue 15 (export/serving_graph.py).
* Where the model listened (issue 13 item 6): the cnn_sam export's ``attention`` outputs, in
  every tagging signature's SignatureDef, equal the training run's Keras attention (within 1e-5)
  and ``musictag tag --attention`` gives the same JSON from the SavedModel as from the run.

A tiny untrained cnn_sam with every head is exported once for this module through the real CLI
(``python -m export --tflite= --nocheck``: ~25 s idle, 90 s under load), so those tests are
marked slow; the models_config tests that need no export are not.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow_serving.apis.predict_pb2")  # tensorflow-serving-api, dev extra
import tensorflow as tf  # noqa: E402
from google.protobuf import text_format  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402
from tensorflow_serving.apis import predict_pb2  # noqa: E402
from tensorflow_serving.config import model_server_config_pb2  # noqa: E402

from export import serving  # noqa: E402
from musictag_tf import params as P  # noqa: E402
from musictag_tf.data import schema  # noqa: E402

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
TAGS = ["guitar", "classical", "slow", "techno"]
WORDS = ["love", "night", "heart", "fire"]
SIGNATURES = {"serving_default", "tag_audio", "tag_lyrics_text", "tag_examples", "tag_windows"}


def _tiny_model_dir(model_dir: pathlib.Path) -> None:
    """A fake training run (spec.json, tags.txt, vocab.txt, best.keras) around an untrained tiny model."""
    import keras
    from musictag_tf import train as train_lib
    from musictag_tf.lyrics.vocab import Vocabulary
    from musictag_tf.model import variants
    model_dir.mkdir(parents=True)
    vocab = Vocabulary(WORDS)
    vocab.save(str(model_dir / "vocab.txt"))
    tiny = P.ModelParams(num_tags=len(TAGS), chunk_seconds=1.0, mel_filters=(4, 4, 8, 8), wave_filters=(4, 8, 8),
                         text_filters=4, lstm_units=4, attention_hidden=4, fusion_units=8, vgg_filters=(4, 4, 8))
    spec = variants.ModelSpec(model=dataclasses.replace(tiny, variant="cnn_sam",
                                                        heads=("tags", "energy", "stress", "quadrant")),
                              audio=P.AudioParams(),
                              segments=P.SegmentParams(kernel_seconds=0.25, min_segment_seconds=0.25,
                                                       max_segment_seconds=1.0),
                              lyrics=P.LyricsParams(max_tokens=8, embedding_dim=4), vocab_size=len(vocab))
    keras.utils.set_random_seed(0)
    model = variants.build_model(spec)
    train_lib.save_spec(str(model_dir), spec, TAGS, train_lib.TrainJob(records_dir="", model_dir=str(model_dir)))
    (model_dir / "tags.txt").write_text("".join(t + "\n" for t in TAGS), encoding="utf-8")
    model.save(str(model_dir / "best.keras"))


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("serving_contract")
    _tiny_model_dir(root / "run")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([str(PROJECT_ROOT)] + os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    done = subprocess.run([sys.executable, "-m", "export", f"--model_dir={root / 'run'}",
                           f"--export_dir={root / 'out'}", "--tflite=", "--nocheck"],
                          capture_output=True, text=True, env=env, timeout=600, cwd=str(PROJECT_ROOT))
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "out"


def _signature_defs(version_dir: pathlib.Path) -> dict:
    """name -> SignatureDef of the "serve" meta graph, read from saved_model.pb as saved_model_cli does."""
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((version_dir / "saved_model.pb").read_bytes())
    (meta,) = [m for m in saved.meta_graphs if "serve" in m.meta_info_def.tags]
    return dict(meta.signature_def)


# ----------------------------------------------------------------------------- models.config

@pytest.mark.slow
def test_models_config_written_by_export_parses_as_model_server_config(export_dir):
    config = text_format.Parse((export_dir / "models.config").read_text(encoding="utf-8"),
                               model_server_config_pb2.ModelServerConfig())
    assert config.WhichOneof("config") == "model_config_list"
    (model,) = config.model_config_list.config
    assert model.name == serving.DEFAULT_MODEL_NAME
    assert model.base_path == serving.container_base_path()
    assert model.model_platform == "tensorflow"
    assert model.model_version_policy.WhichOneof("policy_choice") == "latest"
    assert model.model_version_policy.latest.num_versions == 1
    # the docker command mounts the export folder where base_path points
    assert f":{serving.CONTAINER_ROOT}/{model.name}\"" in serving.docker_command(str(export_dir))


@pytest.mark.parametrize("num_versions", [1, 3])
def test_models_config_with_several_models_parses(num_versions):
    models = [("musictag", "/models/musictag/saved_model"), ("musictag-cnn", "/models/cnn/saved_model")]
    config = text_format.Parse(serving.models_config(models, num_versions=num_versions),
                               model_server_config_pb2.ModelServerConfig())
    assert [(c.name, c.base_path) for c in config.model_config_list.config] == models
    assert {c.model_version_policy.latest.num_versions for c in config.model_config_list.config} == {num_versions}


# ----------------------------------------------------------------------------- PredictRequest

def _value_for(key: str, info, rows: int, chunk_samples: int) -> np.ndarray:
    """An input tensor for signature input ``key`` with ``info``'s dtype and shape (unknown dims filled)."""
    dtype = tf.dtypes.as_dtype(info.dtype)
    dims = [d.size for d in info.tensor_shape.dim]
    rng = np.random.default_rng(len(key))
    if dtype == tf.string:
        if key == "examples":
            return np.array([schema.encode_example(schema.ClipRecord(
                clip_id=f"c{i}", audio_path=f"c{i}.mp3", split="test",
                waveform=(0.1 * rng.standard_normal(chunk_samples + 999)).astype(np.float32), sample_rate=16000,
                log_mel=np.zeros((1, 96), np.float32), lyrics_ids=[2, 3], lyrics_text="love", tags=[0] * len(TAGS)))
                for i in range(rows)], dtype=object)
        return np.array(["love at night"] * rows, dtype=object)
    shape = [rows if i == 0 and d < 0 else d for i, d in enumerate(dims)]
    shape = [chunk_samples + 1234 if d < 0 and key == "waveform" else (5 if d < 0 else d) for d in shape]
    if dtype.is_integer:
        return rng.integers(2, 2 + len(WORDS), size=shape).astype(dtype.as_numpy_dtype)
    return (0.1 * rng.standard_normal(shape)).astype(dtype.as_numpy_dtype)


@pytest.mark.slow
def test_predict_requests_for_every_signature_round_trip_and_feed_it(export_dir):
    version_dir = export_dir / "saved_model" / "1"
    defs = _signature_defs(version_dir)
    assert set(defs) >= SIGNATURES
    loaded = tf.saved_model.load(str(version_dir))
    chunk_samples = 16000  # TINY chunk_seconds=1.0 at 16 kHz
    for name in sorted(SIGNATURES):
        signature = defs[name]
        assert signature.method_name == "tensorflow/serving/predict", name
        request = predict_pb2.PredictRequest()
        request.model_spec.name = serving.DEFAULT_MODEL_NAME
        request.model_spec.signature_name = name
        for key, info in signature.inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(_value_for(key, info, 2, chunk_samples)))
        wire = request.SerializeToString(deterministic=True)
        parsed = predict_pb2.PredictRequest.FromString(wire)
        assert parsed == request and parsed.model_spec.signature_name == name
        assert set(parsed.inputs) == set(signature.inputs), name
        feeds = {}
        for key, proto in parsed.inputs.items():
            assert proto.dtype == signature.inputs[key].dtype, (name, key)
            feeds[key] = tf.constant(tf.make_ndarray(proto))
        outputs = loaded.signatures[name](**feeds)
        assert set(outputs) == set(signature.outputs), name
        for key, tensor in outputs.items():
            assert tensor.dtype.as_datatype_enum == signature.outputs[key].dtype, (name, key)
            if tensor.dtype.is_floating:
                assert np.all(np.isfinite(tensor.numpy())), (name, key)
            assert tensor.shape[0] == 2, (name, key)  # one row per request row: every row labelled


@pytest.mark.slow
def test_rest_bodies_use_the_signatures_input_names_and_dtypes(export_dir):
    defs = _signature_defs(export_dir / "saved_model" / "1")
    wave = (0.1 * np.random.default_rng(0).standard_normal(20000)).astype(np.float32)
    bodies = [serving.request_body([wave]), serving.request_body([wave], lyrics=["love"]),
              serving.request_body([wave], lyrics_ids=np.array([[2, 3, 4]])),
              serving.examples_request_body([b"x"])]
    for body in bodies:
        signature = defs[body["signature_name"]]
        tensors = serving.decode_inputs(body)
        assert set(tensors) == set(signature.inputs), body["signature_name"]
        for key, value in tensors.items():
            expected = tf.dtypes.as_dtype(signature.inputs[key].dtype)
            got = tf.string if value.dtype == object else tf.dtypes.as_dtype(value.dtype)
            assert got == expected, (body["signature_name"], key, got, expected)


# ----------------------------------------------------------------------------- properties of the signatures

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

SIGNATURE_EXAMPLES = settings(max_examples=25, deadline=None, database=None,
                              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CHUNK = 16000  # the tiny model's window, samples


@pytest.fixture(scope="module")
def served(export_dir):
    return tf.saved_model.load(str(export_dir / "saved_model" / "1"))


def _check_outputs(outputs: dict, rows: int) -> None:
    """Every output finite, one row per input row, probabilities in [0, 1], tag names from tags.txt."""
    for key, tensor in outputs.items():
        value = tensor.numpy()
        assert value.shape[0] == rows, key
        if tensor.dtype.is_floating:
            assert np.all(np.isfinite(value)), key
            if key.endswith("probabilities"):
                assert np.all((value >= 0) & (value <= 1)), key
        if key == "top_k_tags":
            assert {t.decode() for t in value.reshape(-1)} <= set(TAGS)


def _waves(data, rows: int) -> np.ndarray:
    length = data.draw(st.integers(CHUNK // 4, 3 * CHUNK + 77), label="samples")
    scale = data.draw(st.sampled_from([0.0, 1e-4, 0.3, 1.0, 30.0]), label="scale")
    seed = data.draw(st.integers(0, 2 ** 32 - 1), label="seed")
    return (scale * np.random.default_rng(seed).standard_normal((rows, length))).astype(np.float32)


@pytest.mark.slow
@SIGNATURE_EXAMPLES
@given(data=st.data(), rows=st.integers(1, 3))
def test_audio_signatures_on_random_shapes_and_values(served, data, rows):
    waves = _waves(data, rows)
    _check_outputs(served.signatures["tag_audio"](waveform=tf.constant(waves)), rows)
    ids = np.asarray(data.draw(st.lists(st.lists(st.integers(0, len(WORDS) + 1), min_size=1, max_size=12),
                                        min_size=rows, max_size=rows).filter(lambda r: len({len(x) for x in r}) == 1)),
                     np.int32)
    _check_outputs(served.signatures["serving_default"](waveform=tf.constant(waves), lyrics_ids=tf.constant(ids)), rows)
    text = data.draw(st.lists(st.text(min_size=0, max_size=80), min_size=rows, max_size=rows), label="lyrics")
    _check_outputs(served.signatures["tag_lyrics_text"](waveform=tf.constant(waves), lyrics=tf.constant(text)), rows)


@pytest.mark.slow
@SIGNATURE_EXAMPLES
@given(blobs=st.lists(st.one_of(st.text(max_size=100).map(str.encode), st.binary(max_size=100)),
                      min_size=1, max_size=3))
def test_tag_examples_on_random_bytes_raises_only_invalid_argument(served, blobs):
    """Bytes that are not an Example, UTF-8 or not, are an InvalidArgumentError (finding 11)."""
    try:
        outputs = served.signatures["tag_examples"](examples=tf.constant(blobs))
    except tf.errors.InvalidArgumentError:
        return
    _check_outputs(outputs, len(blobs))


@pytest.mark.slow
def test_non_finite_waveform_is_not_tagged(served):
    """Issue 15 finding 7 (fixed in export/serving_graph.py; tests/test_faults_serving.py)."""
    wave = np.zeros((1, 2 * CHUNK), np.float32)
    wave[0, 100] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or infinity"):
        served.signatures["tag_audio"](waveform=tf.constant(wave))


@pytest.mark.slow
def test_empty_lyrics_text_is_tagged_as_audio_only(served):
    """Issue 15 finding 9 (fixed in export/serving_graph.py)."""
    outputs = served.signatures["tag_lyrics_text"](waveform=tf.zeros((1, CHUNK)) + 0.1, lyrics=tf.constant([""]))
    _check_outputs(outputs, 1)


def _example_bytes(clip_id: str, samples: int, seed: int = 0) -> bytes:
    wave = (0.1 * np.random.default_rng(seed).standard_normal(samples)).astype(np.float32)
    return schema.encode_example(schema.ClipRecord(
        clip_id=clip_id, audio_path=f"{clip_id}.mp3", split="test", waveform=wave, sample_rate=16000,
        log_mel=np.zeros((1, 96), np.float32), lyrics_ids=[2], lyrics_text="love", tags=[0] * len(TAGS)))


@pytest.mark.slow
def test_tag_examples_on_non_utf8_bytes_raises_invalid_argument(served):
    """Issue 15 finding 11: was UnicodeDecodeError (TF's message quoted the bytes)."""
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not serialized tf.train.Examples.*\[0\]"):
        served.signatures["tag_examples"](examples=tf.constant([b"\x80"]))
    good = _example_bytes("ok", CHUNK + 500)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not serialized tf.train.Examples.*\[1 2\]"):
        served.signatures["tag_examples"](examples=tf.constant([good, b"\xff\xfe\x00", good[:-7]]))
    _check_outputs(served.signatures["tag_examples"](examples=tf.constant([good, good])), 2)  # still tags


@SIGNATURE_EXAMPLES
@given(data=st.data())
def test_examples_check_accepts_exactly_what_parse_example_accepts(data):
    """The tag_examples pre-check (serving_graph.check_examples_parse) changes no valid behaviour:
    random bytes and cut / corrupted real Examples pass it iff ``tf.io.parse_example`` parses them."""
    from export.serving_graph import check_examples_parse, example_feature_spec
    good = _example_bytes("c", 300, data.draw(st.integers(0, 9)))
    cut = st.integers(0, len(good)).map(lambda n: good[:n])
    flipped = st.tuples(st.integers(0, len(good) - 1), st.integers(0, 255)).map(
        lambda p: good[:p[0]] + bytes([p[1]]) + good[p[0] + 1:])
    blob = data.draw(st.one_of(st.binary(max_size=60), cut, flipped, st.just(good)))
    try:
        tf.io.parse_example(tf.constant([blob]), example_feature_spec())
        parses = True
    except (tf.errors.InvalidArgumentError, UnicodeDecodeError):
        parses = False
    try:
        check_examples_parse(tf.constant([blob]))
        passes = True
    except tf.errors.InvalidArgumentError as exc:
        assert "not serialized tf.train.Examples" in exc.message
        passes = False
    assert passes == parses


@pytest.mark.slow
def test_lyrics_text_that_is_not_utf8_raises_invalid_argument(served):
    """The --lyrics rule (musictag_tf.lyrics.encode.read_lyrics_file refuses such files) in the graph."""
    wave = tf.zeros((2, CHUNK)) + 0.1
    with pytest.raises(tf.errors.InvalidArgumentError, match="valid UTF-8"):
        served.signatures["tag_lyrics_text"](waveform=wave, lyrics=tf.constant([b"love", b"caf\xe9"]))
    # U+FFFD, NUL and U+0001 are valid text, not a decoding error
    _check_outputs(served.signatures["tag_lyrics_text"](
        waveform=wave, lyrics=tf.constant(["caf\u00e9 \ufffd", "\x00\x01 love"])), 2)


# ----------------------------------------------------------------------------- where the model listened

ATTENTION = ("attention", "attention_start_seconds", "attention_end_seconds")


def _keras_attention(run_dir: pathlib.Path, wave: np.ndarray):
    """The training run's attention (musictag tag --attention's model) on the tagger's windows of
    ``wave``: weights [W, r, K], start / end [W, K] in seconds of the clip (-1 unused), starts [W] s."""
    from musictag_tf import windows as windows_lib
    from musictag_tf.tag.attention import AttentionExplainer
    explainer = AttentionExplainer(str(run_dir))
    windows, starts = windows_lib.split_windows(wave, explainer.window_params)
    weights, start, end = explainer.window_attention(windows)
    offset = (starts / 16000.0)[:, None]
    return weights, np.where(start >= 0, start + offset, -1), np.where(end >= 0, end + offset, -1), starts / 16000.0


@pytest.mark.slow
def test_attention_outputs_are_in_every_tagging_signature_def(export_dir):
    from export.saved_model import ATTENTION_SIGNATURES, read_metadata
    version_dir = export_dir / "saved_model" / "1"
    defs = _signature_defs(version_dir)
    meta = read_metadata(str(version_dir))["attention"]
    r, k = meta["rows"], meta["segments"]
    assert r == 4 and k >= 2 and set(meta["outputs"]) == set(ATTENTION)
    for name in ATTENTION_SIGNATURES:
        outputs = defs[name].outputs
        assert set(ATTENTION) <= set(outputs), name
        dims = {key: [d.size for d in outputs[key].tensor_shape.dim] for key in ATTENTION}
        assert all(outputs[key].dtype == tf.float32.as_datatype_enum for key in ATTENTION)
        if name == "tag_windows":
            assert dims == {"attention": [-1, r, k], "attention_start_seconds": [-1, k],
                            "attention_end_seconds": [-1, k]}
        else:
            assert dims == {"attention": [-1, -1, r, k], "attention_start_seconds": [-1, -1, k],
                            "attention_end_seconds": [-1, -1, k]}, name


@pytest.mark.slow
def test_saved_model_attention_equals_the_keras_attention(export_dir, served):
    run_dir = export_dir.parent / "run"
    rng = np.random.default_rng(3)
    waves = (0.1 * rng.standard_normal((2, int(2.3 * CHUNK)))).astype(np.float32)
    out = served.signatures["tag_audio"](waveform=tf.constant(waves))
    for b in range(2):
        weights, start, end, window_starts = _keras_attention(run_dir, waves[b])
        n = int(out["num_windows"][b])
        assert n == len(window_starts)
        np.testing.assert_allclose(out["attention"].numpy()[b], weights, atol=1e-5)
        np.testing.assert_allclose(out["attention_start_seconds"].numpy()[b], start, atol=1e-5)
        np.testing.assert_allclose(out["attention_end_seconds"].numpy()[b], end, atol=1e-5)
        np.testing.assert_allclose(out["attention"].numpy()[b].sum(-1), 1.0, atol=1e-5)  # a distribution per row
    # tag_examples: each clip its own length; windows past a clip's num_windows are 0 / -1
    blobs = [_example_bytes("long", int(2.6 * CHUNK), 1), _example_bytes("short", CHUNK // 2, 2)]
    out = served.signatures["tag_examples"](examples=tf.constant(blobs))
    assert out["num_windows"].numpy().tolist() == [5, 1]  # 2.6 windows: hop 1/2, the last end-aligned
    for b, blob in enumerate(blobs):
        example = tf.train.Example.FromString(blob)
        pcm = np.frombuffer(example.features.feature["waveform"].bytes_list.value[0], "<i2")
        weights, start, end, _ = _keras_attention(run_dir, pcm.astype(np.float32) / schema.WAVEFORM_SCALE)
        n = len(weights)
        assert n == out["num_windows"].numpy()[b]
        np.testing.assert_allclose(out["attention"].numpy()[b, :n], weights, atol=1e-5)
        np.testing.assert_allclose(out["attention_start_seconds"].numpy()[b, :n], start, atol=1e-5)
        np.testing.assert_allclose(out["attention_end_seconds"].numpy()[b, :n], end, atol=1e-5)
        assert np.all(out["attention"].numpy()[b, n:] == 0)
        assert np.all(out["attention_start_seconds"].numpy()[b, n:] == -1)
    # tag_windows: per window, seconds within the window
    windows = waves[:, :CHUNK]
    direct = served.signatures["tag_windows"](waveform=tf.constant(windows),
                                              lyrics_ids=tf.zeros((2, 8), tf.int32))
    for b in range(2):
        weights, start, _, _ = _keras_attention(run_dir, windows[b])
        np.testing.assert_allclose(direct["attention"].numpy()[b], weights[0], atol=1e-5)
        np.testing.assert_allclose(direct["attention_start_seconds"].numpy()[b], start[0], atol=1e-5)


@pytest.mark.slow
def test_tag_attention_json_is_the_same_from_the_saved_model_and_the_run(export_dir, shared_data, tmp_path):
    import json

    from absl import flags
    from musictag_tf.tag import cli as tag_cli
    song = str(shared_data / "audio" / "librosa" / "sorohanro_-_solo-trumpet-06.ogg")  # 5.3 s
    entries = {}
    for label, model in (("run", export_dir.parent / "run"), ("saved_model", export_dir / "saved_model")):
        fv = flags.FlagValues()
        tag_cli.define_flags(fv)
        out = tmp_path / f"{label}.json"
        assert tag_cli.main(fv(["musictag tag", song, f"--model={model}", f"--output={out}", "--attention"]), fv) == 0
        entries[label] = json.loads(out.read_text())[0]["attention"]
    run, served_json = entries["run"], entries["saved_model"]
    assert served_json["window_start_seconds"] == run["window_start_seconds"] and len(run["weights"]) >= 2
    for key, atol in (("segment_start_seconds", 2e-3), ("segment_end_seconds", 2e-3), ("weights", 2e-5)):
        assert [np.shape(w) for w in served_json[key]] == [np.shape(w) for w in run[key]], key
        for got, want in zip(served_json[key], run[key]):
            np.testing.assert_allclose(got, want, atol=atol)
