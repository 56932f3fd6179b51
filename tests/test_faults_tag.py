"""Issue 15, findings 1, 3, 4, 5 and 11 for ``musictag tag``: atomic --output, outputs checked
before tagging, non-UTF-8 names, per-file isolation (plots, long names), streaming, model load
errors as one line. Uses the cheapest backend (a training run directory) throughout."""

from __future__ import annotations

import errno
import json
import os
import pathlib

import numpy as np
import pytest
from absl import flags

from musictag_tf.audio import io as audio_io
from musictag_tf.audio.io import write_audio
from musictag_tf.tag import backends, cli as tag_cli, outputs, tagger as tag_tagger
from musictag_tf import params as P

from conftest import TAGS, make_model_dir

SR = 16000


def _tone(seconds, freq=330.0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults_tag")
    make_model_dir(root / "run")
    return str(root / "run")


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    root = tmp_path_factory.mktemp("songs")
    write_audio(root / "a.wav", _tone(3.0), SR)
    write_audio(root / "b.wav", _tone(2.5, 550.0), SR)
    return root


def _run(args):
    fv = flags.FlagValues()
    tag_cli.define_flags(fv)
    return tag_cli.main(fv(["musictag tag"] + [str(a) for a in args]), fv)


def test_full_disk_keeps_the_previous_output(run_dir, songs, tmp_path, monkeypatch, capsys):
    """Finding 1: a write that fails half-way (ENOSPC) leaves the previous tags.json as it was."""
    out = tmp_path / "tags.json"
    assert _run([songs / "a.wav", f"--model={run_dir}", f"--output={out}"]) == 0
    before = out.read_bytes()
    json.loads(before)

    def half_then_full(run, tags, top_k, stream, **options):
        stream.write("[{\"path\": \"half written")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tag_cli, "write_json", half_then_full)
    status = _run([songs / "a.wav", songs / "b.wav", f"--model={run_dir}", f"--output={out}"])
    assert status == 2
    assert "No space left on device" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["tags.json"]  # no temporary left behind


@pytest.mark.parametrize("where", ["missing_parent_is_a_file", "a_directory", "read_only_place"])
def test_bad_output_is_found_before_any_file_is_tagged(run_dir, songs, tmp_path, monkeypatch, capsys, where):
    """Finding 4: --output is checked first; nothing is decoded or tagged when it cannot be written."""
    (tmp_path / "file").write_text("x")
    target = {"missing_parent_is_a_file": tmp_path / "file" / "tags.json",
              "a_directory": tmp_path,
              "read_only_place": pathlib.Path("/proc/musictag-tags.json")}[where]

    def no_tagging(*args, **kwargs):
        raise AssertionError("tagged before the output was checked")

    monkeypatch.setattr(tag_cli, "tag_paths", no_tagging)
    monkeypatch.setattr(tag_cli, "load_tagger", no_tagging)
    assert _run([songs / "a.wav", f"--model={run_dir}", f"--output={target}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("musictag tag: error: ") and "Traceback" not in err[0]


def test_plot_dir_that_is_a_file_is_found_first(run_dir, songs, tmp_path, capsys):
    (tmp_path / "plots").write_text("x")
    assert _run([songs / "a.wav", f"--model={run_dir}", f"--plot={tmp_path / 'plots'}"]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err


def test_non_utf8_file_name_is_tagged_with_the_others(run_dir, songs, tmp_path, capsys):
    """Finding 3: a name that is not UTF-8 does not abort the run; its bytes survive in the JSON."""
    folder = tmp_path / "music"
    folder.mkdir()
    raw = os.path.join(os.fsencode(str(folder)), b"caf\xe9 \xff.wav")
    with open(raw, "wb") as f:
        f.write((songs / "a.wav").read_bytes())
    (folder / "b.wav").write_bytes((songs / "b.wav").read_bytes())
    out = tmp_path / "tags.json"
    assert _run([folder, f"--model={run_dir}", f"--output={out}", "--notaggram", f"--plot={tmp_path / 'png'}"]) == 0
    entries = json.loads(out.read_bytes().decode("utf-8"))  # valid UTF-8 JSON
    assert len(entries) == 2 and all("scores" in e for e in entries)
    assert sorted(os.fsencode(e["path"]) for e in entries) == sorted([raw, os.fsencode(str(folder / "b.wav"))])
    assert len(list((tmp_path / "png").iterdir())) == 2
    # stdout (CSV) too
    assert _run([folder, f"--model={run_dir}", "--format=csv"]) == 0
    assert "caf\\udce9 \\udcff.wav" in capsys.readouterr().out


def test_plot_of_a_250_character_name_is_written_and_later_ones_too(run_dir, songs, tmp_path, capsys):
    """Finding 11: a 250-character stem is cut to fit the file system; the next PNG is written."""
    long_name = tmp_path / ("é" * 125 + ".wav")  # 250 characters, 250 bytes of UTF-8 + 4
    long_name.write_bytes((songs / "a.wav").read_bytes())
    plots = tmp_path / "plots"
    assert _run([long_name, songs / "b.wav", f"--model={run_dir}", f"--output={tmp_path / 'o.json'}",
                 f"--plot={plots}"]) == 0
    names = sorted(p.name for p in plots.iterdir())
    assert len(names) == 2 and "b.taggram.png" in names
    assert all(len(os.fsencode(n)) <= 255 for n in names)


def test_a_plot_that_fails_is_one_line_and_the_others_are_written(run_dir, songs, tmp_path, capsys, monkeypatch):
    from musictag_tf.tag import plot as plot_lib
    real = plot_lib.plot_taggram

    def fail_for_a(clip, tags, path, **kw):
        if pathlib.Path(clip.path).name == "a.wav":
            raise OSError(errno.EIO, "Input/output error")
        return real(clip, tags, path, **kw)

    monkeypatch.setattr(plot_lib, "plot_taggram", fail_for_a)
    plots = tmp_path / "plots"
    assert _run([songs / "a.wav", songs / "b.wav", f"--model={run_dir}", f"--output={tmp_path / 'o.json'}",
                 f"--plot={plots}"]) == 1
    err = capsys.readouterr().err
    assert f"{songs / 'a.wav'}: taggram not written: Input/output error" in err
    assert [p.name for p in plots.iterdir()] == ["b.taggram.png"]
    assert len(json.loads((tmp_path / "o.json").read_text())) == 2


@pytest.mark.parametrize("damage", ["empty_best_keras", "garbage_best_keras"])
def test_a_damaged_model_is_one_line(songs, tmp_path, capsys, damage):
    """Finding 11: a 0-byte or garbage best.keras gives one line and exit 2, not a traceback."""
    make_model_dir(tmp_path / "run")
    model = tmp_path / "run"
    (model / "best.keras").write_bytes(b"" if damage == "empty_best_keras" else os.urandom(5000))
    assert _run([songs / "a.wav", f"--model={model}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"musictag tag: error: {model}")


def test_tagging_streams_the_file_and_max_seconds_tags_the_start(run_dir, tmp_path, monkeypatch):
    """Finding 5: the tagger never decodes a whole file (load_audio is not called) and gives the
    windows and scores of the whole-file path; --max_seconds tags only the start."""
    path = tmp_path / "long.wav"
    write_audio(path, np.concatenate([_tone(7.3), _tone(4.0, 660.0)]), SR)
    tagger = backends.load_tagger(run_dir)
    whole = audio_io.load_audio(str(path), SR)
    expected = tagger.tag_waveform(whole)

    def no_whole_decode(*args, **kwargs):
        raise AssertionError("the whole file was decoded")

    monkeypatch.setattr(audio_io, "load_audio", no_whole_decode)
    clip = tag_tagger.tag_file(tagger, str(path), stream=P.StreamParams(block_seconds=0.7), window_batch=3)
    np.testing.assert_allclose(clip.window_start_seconds, expected[2], atol=1e-9)
    np.testing.assert_allclose(clip.taggram, expected[1], atol=1e-5)
    for head, p in expected[0].items():
        np.testing.assert_allclose(clip.probabilities[head], p, atol=1e-5)
    start = tag_tagger.tag_file(tagger, str(path), stream=P.StreamParams(max_seconds=5.0))
    assert start.duration_seconds == pytest.approx(5.0)
    entry = outputs.clip_json(start, TAGS, 2)
    assert entry["taggram"]["window_start_seconds"][-1] == pytest.approx(3.0)


def test_streamed_silence_and_dc_are_still_rejected(run_dir, tmp_path):
    tagger = backends.load_tagger(run_dir)
    write_audio(tmp_path / "dc.wav", np.full(2 * SR, 0.5, np.float32), SR)
    write_audio(tmp_path / "quiet.wav", np.zeros(2 * SR, np.float32), SR)
    write_audio(tmp_path / "short.wav", _tone(0.05), SR)
    run = tag_tagger.tag_paths([str(tmp_path)], tagger, progress=False)
    reasons = dict((pathlib.Path(p).name, r) for p, r in run.failures)
    assert not run.results
    assert reasons["dc.wav"].startswith("silent: a constant DC offset of +0.5")
    assert reasons["quiet.wav"].startswith("silent: peak")
    assert reasons["short.wav"].startswith("too short")


@pytest.mark.parametrize("flag", ["--max_seconds=inf", "--max_seconds=nan", "--max_seconds=0", "--hop_seconds=inf",
                                  "--hop_seconds=-1", "--num_threads=-2", "--top_k=0"])
def test_bad_tag_flags_are_one_line_before_loading(songs, flag, capsys, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("model loaded before the flags were checked")

    monkeypatch.setattr(tag_cli, "load_tagger", no_loading)
    assert _run([songs / "a.wav", "--model=/nonexistent", flag]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"musictag tag: error: {flag.split('=')[0]}: must be")
