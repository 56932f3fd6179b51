"""``musictag tag``: windows, the three model backends, files/folders/errors, outputs, lyrics, taggram,
and the core-TF-ops lyrics tokenizer the exported raw-lyrics signature uses."""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import subprocess
import sys
import unicodedata

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from musictag_tf import params as P
from musictag_tf import errors
from musictag_tf import windows as windows_lib
from musictag_tf.tag import backends, cli as tag_cli, inputs, tagger as tag_tagger
from musictag_tf.audio.io import write_audio
from musictag_tf.data import schema
from musictag_tf.errors import LyricsError
from musictag_tf.lyrics import tokenize as tokenize_lib
from musictag_tf.lyrics.core_ops_tokenizer import CoreOpsTokenizer

from conftest import ALL_HEADS, PROJECT_ROOT, TAGS, make_model_dir  # shared (tests/conftest.py)

SR = 16000


# ----------------------------------------------------------------------------- core-ops tokenizer

TRICKY = ["Straße ＬＯＶＥ ﬁne soft\u00adhyphen Vie\u0323\u0302t A\u030angstrom Å",
          "l'amour qu'il 'cause goin' rock-n-roll 1999 4ever — ¡Corazón! ¿Qué?",
          "Don’t stop ‘til we’re done; ÉCOLE e\u0301cole",
          "我爱你 中国 love 诗经 i'm",
          "", "   ", "１２３ ⅻ"]


def _jamendo_texts():
    from conftest import shared_path

    files = sorted(p for p in shared_path("lyrics", "jamendolyrics").glob("*.txt")
                   if not p.name.endswith(".words.txt"))
    if not files:
        pytest.skip("no JamendoLyrics texts")
    return [p.read_text(encoding="utf-8-sig") for p in files]


@pytest.mark.parametrize("params", [P.LyricsParams(), P.LyricsParams(lowercase=False),
                                    P.LyricsParams(remove_stopwords=False)],
                         ids=["default", "keep-case", "keep-stopwords"])
def test_core_ops_tokenizer_equals_tf_text_on_jamendo_lyrics(params):
    texts = _jamendo_texts()
    assert len(texts) >= 20
    core = CoreOpsTokenizer(params)(tf.constant(texts)).to_list()
    reference = tokenize_lib.InGraphTokenizer(params)(tf.constant(texts)).to_list()
    assert core == reference
    python = tokenize_lib.tokenize_batch(texts, params)  # the training path (no Han text here)
    assert [[t.decode() for t in row] for row in core] == python
    assert sum(len(row) for row in core) > 5000
    decomposed = [unicodedata.normalize("NFD", t) for t in texts]  # e.g. "e" + U+0301 for "é"
    assert decomposed != texts
    assert CoreOpsTokenizer(params)(tf.constant(decomposed)).to_list() == reference


def test_core_ops_tokenizer_on_tricky_text():
    for params in (P.LyricsParams(), P.LyricsParams(lowercase=False, remove_stopwords=False)):
        core = CoreOpsTokenizer(params)(tf.constant(TRICKY)).to_list()
        assert core == tokenize_lib.InGraphTokenizer(params)(tf.constant(TRICKY)).to_list()
    tokens = [t.decode() for t in CoreOpsTokenizer(P.LyricsParams())(tf.constant(TRICKY[:1])).to_list()[0]]
    assert tokens == ["strasse", "love", "fine", "softhyphen", "việt", "ångstrom", "å"]
    chars = P.LyricsParams(chinese_units="chars")  # in-graph Han handling == the Python "chars" mode
    core = CoreOpsTokenizer(chars)(tf.constant(TRICKY[3:4])).to_list()[0]
    assert [t.decode() for t in core] == tokenize_lib.tokenize(TRICKY[3], chars)


def test_core_ops_tokenizer_graph_has_only_core_ops():
    tokenizer = CoreOpsTokenizer(P.LyricsParams(lowercase=False))
    graph = tokenizer.__call__.get_concrete_function().graph.as_graph_def()
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    assert {"UnicodeDecode", "StaticRegexReplace", "LookupTableFindV2"} <= ops
    assert sorted(op for op in ops if not hasattr(tf.raw_ops, op)) == []  # tf-text ops are not raw_ops
    reference = tokenize_lib.InGraphTokenizer(P.LyricsParams())
    ref_graph = reference.__call__.get_concrete_function().graph.as_graph_def()
    ref_ops = {n.op for n in ref_graph.node} | {n.op for f in ref_graph.library.function for n in f.node_def}
    assert "CaseFoldUTF8" in ref_ops and not hasattr(tf.raw_ops, "CaseFoldUTF8")  # the check can fail


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny untrained model as model_dir, SavedModel (TF Serving base dir) and float32 TFLite."""
    from export import saved_model as sm
    from export import tflite

    root = tmp_path_factory.mktemp("tagging")
    spec, _ = make_model_dir(root / "run")
    source = sm.load_model_source(str(root / "run"))
    sm.export_saved_model(source, str(root / "saved_model"))
    tflite.export_tflite(source, str(root / "tflite"), variants=("float32",))
    return {"spec": spec, "model_dir": str(root / "run"), "saved_model": str(root / "saved_model"),
            "tflite": str(root / "tflite" / "model_float32.tflite")}


def _tone(seconds, freq, seed=0):
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
            + 0.02 * rng.standard_normal(t.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
    """song.wav (5.3 s), nested/clip.mp3 (1.2 s, shorter than a window), and three bad files."""
    root = tmp_path_factory.mktemp("audio")
    write_audio(root / "song.wav", _tone(5.3, 330), SR)
    write_audio(root / "nested" / "clip.mp3", _tone(1.2, 550, 1), SR)
    (root / "nested" / "notes.txt").write_text("not audio and not listed: wrong extension")
    (root / "broken.mp3").write_text("this is text, not mp3")
    (root / "empty.wav").write_bytes(b"")
    write_audio(root / "silence.flac", np.zeros(SR, np.float32), SR)
    return root


def _run_main(args):
    fv = flags.FlagValues()
    tag_cli.define_flags(fv)
    argv = fv(["musictag tag"] + list(args))
    return tag_cli.main(argv, fv)


# ----------------------------------------------------------------------------- backends

def test_backends_agree_and_report_windows(models, audio_dir):
    results = {}
    for kind in ("model_dir", "saved_model", "tflite"):
        tagger = backends.load_tagger(models[kind])
        assert tagger.info.tags == TAGS and tagger.info.heads == ALL_HEADS
        results[kind] = tag_tagger.tag_file(tagger, str(audio_dir / "song.wav"))
    ref = results["model_dir"]
    assert ref.duration_seconds == pytest.approx(5.3, abs=1e-3)
    assert ref.window_start_seconds.tolist() == pytest.approx([0.0, 1.0, 2.0, 3.0, 3.3], abs=1e-6)
    assert ref.taggram.shape == (5, len(TAGS))
    np.testing.assert_allclose(ref.probabilities["tags"], ref.taggram.mean(axis=0), atol=1e-6)
    for kind in ("saved_model", "tflite"):
        clip = results[kind]
        np.testing.assert_allclose(clip.window_start_seconds, ref.window_start_seconds, atol=1e-5)
        np.testing.assert_allclose(clip.taggram, ref.taggram, atol=1e-4)
        for head in ALL_HEADS:
            np.testing.assert_allclose(clip.probabilities[head], ref.probabilities[head], atol=1e-4)
    name, p, q = ref.quadrant()
    assert name == schema.QUADRANT_NAMES[int(np.argmax(q))] and p == pytest.approx(q.max())


@pytest.mark.skipif(not os.path.isdir("/proc/self/task") or (os.cpu_count() or 1) < 2,
                    reason="counts threads through Linux /proc; needs 2+ cores")
def test_tflite_runs_on_every_core_by_default_with_the_same_scores(models, audio_dir):
    def threads():
        return len(os.listdir("/proc/self/task"))

    before = threads()
    default = backends.load_tagger(models["tflite"])
    many = tag_tagger.tag_file(default, str(audio_dir / "song.wav"))
    started = threads() - before  # XNNPACK's worker threads (ai-edge-litert's own default starts none)
    one = tag_tagger.tag_file(backends.load_tagger(models["tflite"], num_threads=1), str(audio_dir / "song.wav"))
    assert started >= 1
    np.testing.assert_allclose(many.taggram, one.taggram, atol=1e-6)


def test_saved_model_base_dir_uses_the_highest_version(tmp_path, models):
    for version in ("1", "12", "3"):
        (tmp_path / version).mkdir()
        (tmp_path / version / "saved_model.pb").write_bytes(b"")
    (tmp_path / "99").mkdir()  # no saved_model.pb: not a version
    assert backends.resolve_saved_model_dir(str(tmp_path)) == str(tmp_path / "12")
    assert backends.resolve_saved_model_dir(str(tmp_path / "3")) == str(tmp_path / "3")
    with pytest.raises(errors.ModelLoadError, match="no saved_model.pb"):
        backends.resolve_saved_model_dir(str(tmp_path / "99"))
    with pytest.raises(errors.ModelLoadError, match="does not exist"):
        backends.load_tagger(str(tmp_path / "missing"))


def test_real_clip_of_29_seconds(models, mtat_clip):
    tagger = backends.load_tagger(models["tflite"])
    clip = tag_tagger.tag_file(tagger, str(mtat_clip))
    assert clip.duration_seconds == pytest.approx(29.12, abs=0.02)
    expected = windows_lib.window_starts(int(round(clip.duration_seconds * SR)), windows_lib.WindowParams(2 * SR, SR))
    assert len(clip.window_start_seconds) == len(expected) == 29
    assert clip.window_start_seconds[-1] + 2.0 == pytest.approx(clip.duration_seconds, abs=1e-3)


# ----------------------------------------------------------------------------- command line

def test_folders_are_recursed_and_bad_files_reported(models, audio_dir, tmp_path, capsys):
    out = tmp_path / "tags.json"
    status = _run_main([str(audio_dir), f"--model={models['saved_model']}", f"--output={out}", "--top_k=2"])
    assert status == 1
    err = capsys.readouterr().err
    assert f"{audio_dir / 'broken.mp3'}: not an audio file or unsupported format" in err
    assert f"{audio_dir / 'empty.wav'}: empty file (0 bytes)" in err
    assert f"{audio_dir / 'silence.flac'}: silent" in err
    assert "3 of 5 files failed" in err
    entries = json.loads(out.read_text(encoding="utf-8"))
    tagged = {pathlib.Path(e["path"]).name: e for e in entries if "scores" in e}
    failed = {pathlib.Path(e["path"]).name: e["error"] for e in entries if "error" in e}
    assert set(tagged) == {"song.wav", "clip.mp3"} and set(failed) == {"broken.mp3", "empty.wav", "silence.flac"}
    song = tagged["song.wav"]
    assert list(song["scores"]) == TAGS and len(song["top_tags"]) == 2
    best = max(song["scores"].items(), key=lambda kv: kv[1])
    assert song["top_tags"][0] == {"tag": best[0], "score": best[1]}
    assert song["top_tags"][0]["score"] >= song["top_tags"][1]["score"]
    quadrant = song["quadrant"]
    assert quadrant["name"] == max(quadrant["probabilities"], key=quadrant["probabilities"].get)
    assert sum(quadrant["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert set(song["energy"]) == {"low", "high"} and set(song["stress"]) == {"low", "high"}
    taggram = song["taggram"]
    assert len(taggram["window_start_seconds"]) == len(taggram["scores"]) == 5 and taggram["window_seconds"] == 2.0
    clip = tagged["clip.mp3"]
    assert clip["duration_seconds"] == pytest.approx(1.2, abs=0.01) and len(clip["taggram"]["scores"]) == 1


def test_csv_output_is_what_the_mtat_scorer_reads(models, audio_dir, tmp_path):
    from musictag_tf.mtat import predictions as mtat_predictions

    out = tmp_path / "tags.csv"
    status = _run_main([str(audio_dir / "song.wav"), str(audio_dir / "nested"), f"--model={models['tflite']}",
                        "--format=csv", f"--output={out}"])
    assert status == 0
    rows = list(csv.reader(out.read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["path"] + TAGS and len(rows) == 3
    keys, scores = mtat_predictions.read_predictions(out, tags=TAGS)
    assert [pathlib.Path(k).name for k in keys] == ["song.wav", "clip.mp3"]
    json_out = tmp_path / "tags.json"
    _run_main([str(audio_dir / "song.wav"), f"--model={models['tflite']}", f"--output={json_out}", "--notaggram"])
    entry = json.loads(json_out.read_text(encoding="utf-8"))[0]
    assert "taggram" not in entry
    np.testing.assert_allclose(scores[0], [entry["scores"][t] for t in TAGS], atol=2e-6)


def test_decode_ahead_flag_gives_the_same_output(models, audio_dir, tmp_path):
    outputs, status = {}, {}
    for blocks in (0, 3):  # the folder holds bad files between good ones: they still fail alone
        out = tmp_path / f"ahead{blocks}.json"
        status[blocks] = _run_main([str(audio_dir), f"--model={models['tflite']}", f"--output={out}",
                                    f"--decode_ahead_blocks={blocks}"])
        outputs[blocks] = json.loads(out.read_text(encoding="utf-8"))
    assert status == {0: 1, 3: 1}
    assert len(outputs[0]) >= 2 and outputs[3] == outputs[0]
    assert _run_main([str(audio_dir), f"--model={models['tflite']}", "--decode_ahead_blocks=-1"]) == 2


def test_plot_writes_one_taggram_png_per_file(models, audio_dir, tmp_path):
    other = tmp_path / "other"
    write_audio(other / "song.wav", _tone(3.0, 220), SR)  # same stem as audio_dir/song.wav
    plots = tmp_path / "plots"
    status = _run_main([str(audio_dir / "song.wav"), str(other / "song.wav"), f"--model={models['tflite']}",
                        f"--output={tmp_path / 'x.json'}", f"--plot={plots}"])
    assert status == 0
    pngs = sorted(p.name for p in plots.iterdir())
    assert pngs == ["song-2.taggram.png", "song.taggram.png"]
    for name in pngs:
        data = (plots / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_hop_seconds_changes_the_windows(models, audio_dir):
    tagger = backends.load_tagger(models["model_dir"])
    clip = tag_tagger.tag_file(tagger, str(audio_dir / "song.wav"), hop_samples=SR // 2)
    assert len(clip.window_start_seconds) == 8  # 0, 0.5, ..., 3.0, then 3.3


def test_lyrics_file_directory_and_unreadable_lyrics(models, audio_dir, tmp_path, capsys):
    tagger = backends.load_tagger(models["saved_model"])
    song = str(audio_dir / "song.wav")
    (tmp_path / "one.txt").write_text("Love, fire and the night! Dance, dance.", encoding="utf-8")
    with_lyrics = tag_tagger.tag_file(tagger, song, inputs.LyricsSource(
        str(tmp_path / "one.txt"), tagger.info.vocab_path, tagger.info.lyrics_params))
    without = tag_tagger.tag_file(tagger, song)
    assert np.abs(with_lyrics.probabilities["tags"] - without.probabilities["tags"]).max() > 1e-5
    # directory: <stem>.txt per audio file; a missing file means no lyrics
    lyrics_dir = tmp_path / "dir"
    lyrics_dir.mkdir()
    (lyrics_dir / "song.txt").write_text("Love, fire and the night! Dance, dance.", encoding="utf-8")
    source = inputs.LyricsSource(str(lyrics_dir), tagger.info.vocab_path, tagger.info.lyrics_params)
    np.testing.assert_allclose(tag_tagger.tag_file(tagger, song, source).probabilities["tags"],
                               with_lyrics.probabilities["tags"], atol=1e-6)
    clip_mp3 = str(audio_dir / "nested" / "clip.mp3")
    assert source.ids_for(clip_mp3) is None
    # an unreadable lyrics file fails that audio file only
    (lyrics_dir / "clip.txt").write_bytes(b"caf\xe9 latin-1")
    status = _run_main([song, clip_mp3, f"--model={models['saved_model']}", f"--lyrics={lyrics_dir}",
                        f"--output={tmp_path / 'o.json'}"])
    assert status == 1
    assert f"{clip_mp3}: lyrics {lyrics_dir / 'clip.txt'}: not valid UTF-8" in capsys.readouterr().err
    with pytest.raises(LyricsError, match="no lyrics vocabulary"):
        inputs.LyricsSource(str(tmp_path / "one.txt"), None, {})


def test_usage_errors_exit_2(models, tmp_path, capsys):
    assert _run_main([f"--model={models['tflite']}"]) == 2
    assert "give audio files" in capsys.readouterr().err
    assert _run_main([str(tmp_path), f"--model={tmp_path / 'nope'}"]) == 2
    assert "model path does not exist" in capsys.readouterr().err
    assert _run_main([str(tmp_path / "empty_dir_that_is_missing"), f"--model={models['tflite']}"]) == 1


def test_musictag_cli_dispatches_tag(models, audio_dir):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "musictag_tf.cli", "tag", str(audio_dir / "song.wav"),
                           f"--model={models['tflite']}", "--format=csv"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == ["path"] + TAGS and rows[1][0].endswith("song.wav")
    usage = subprocess.run([sys.executable, "-m", "musictag_tf.cli"], capture_output=True, text=True, env=env)
    assert usage.returncode == 2 and "tag" in usage.stdout
