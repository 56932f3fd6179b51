"""Issue 15, findings 6 and 12 for the builder: tables name only files under their root (path
traversal refused per row, the same for lyrics files), a header-only table, and the exit status
when clips failed (--max_failures)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from musictag_tf.audio.io import write_audio
from musictag_tf.errors import DatasetError
from musictag_tf.lyrics.vocab import Vocabulary
from musictag_tf.params import BuilderParams, LyricsParams
from tfrecords_builder import build, sources

from conftest import PROJECT_ROOT

SR = 16000


def _tone(seconds=1.5, freq=440.0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write(path: pathlib.Path, header, rows):
    path.write_text("\n".join(["\t".join(header)] + ["\t".join(r) for r in rows]) + "\n", encoding="utf-8")


@pytest.fixture()
def attack(tmp_path):
    """root/table.tsv naming one good clip and six rows that leave root/ (a secret beside it)."""
    root = tmp_path / "root"
    (root / "audio").mkdir(parents=True)
    write_audio(root / "audio" / "good.wav", _tone(), SR)
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:hunter2password:/root:/bin/bash\n")
    os.symlink(secret, root / "audio" / "link.wav")
    (root / "good.txt").write_text("dance dance night\n")
    depth = "../" * (len(root.parts) + 2)
    _write(root / "table.tsv", ["clip_id", "audio_path", "tags", "split", "lyrics_file"], [
        ["good", "audio/good.wav", "rock", "train", "good.txt"],
        ["passwd", f"{depth}etc/passwd", "rock", "train", ""],
        ["shadow", "/etc/shadow", "rock", "train", ""],
        ["url", "http://example.com/a.wav", "rock", "train", ""],
        ["escape", "audio/../../secret.txt", "rock", "train", ""],
        ["link", "audio/link.wav", "rock", "train", ""],
        ["lyrics", "audio/good.wav", "pop", "train", f"{depth}etc/passwd"],
    ])
    return root, secret


def test_table_rows_leaving_the_root_are_refused_per_row(attack):
    """Finding 6: ../../etc/passwd, /etc/shadow, a URL, a '..' escape, a symlink out and a
    lyrics_file=../../etc/passwd are refused, each naming its line; the good row is kept."""
    root, _ = attack
    collection = sources.read_table(str(root / "table.tsv"))
    assert [c.clip_id for c in collection.clips] == ["good"]
    lines = {f.path.rsplit(":", 1)[1]: f.reason for f in collection.refused}
    assert sorted(lines) == ["3", "4", "5", "6", "7", "8"]
    assert "leaves" in lines["3"] and "absolute path" in lines["4"] and "is a URL" in lines["5"]
    assert "leaves" in lines["6"] and "symlink" in lines["7"] and "leaves" in lines["8"]
    assert all(f in collection.warnings for f in collection.refused)  # listed in the manifest too
    allowed = sources.read_table(str(root / "table.tsv"), allow_outside_root=True)
    assert len(allowed.clips) == 7 and not allowed.refused


def test_lyrics_table_file_outside_its_folder_is_refused_and_never_read(attack, tmp_path):
    """Finding 6: the password file's text reaches neither the records nor vocab.txt."""
    root, secret = attack
    _write(root / "lyrics.tsv", ["clip_id", "lyrics_file"], [["good", "../secret.txt"]])
    _write(root / "plain.tsv", ["clip_id", "audio_path", "tags", "split"], [["good", "audio/good.wav", "rock", "train"]])
    collection = sources.read_table(str(root / "plain.tsv"), lyrics_table=str(root / "lyrics.tsv"))
    assert collection.clips[0].lyrics_path is None
    assert [f.reason.split(":")[0] for f in collection.refused] == ["lyrics_file ../secret.txt"]
    out = tmp_path / "records"
    build.build_records(collection, str(out), lyrics_params=LyricsParams(min_count=1),
                        builder_params=BuilderParams(top_n_tags=5), progress=False, pool=False)
    vocab = Vocabulary.load(str(out / "vocab.txt"))
    assert "hunter2password" not in vocab and "root" not in vocab
    for shard in out.rglob("*.tfrecord*"):
        assert b"hunter2password" not in shard.read_bytes()


def test_mtat_tree_mp3_path_escape_is_refused(tmp_path):
    (tmp_path / "annotations_final.csv").write_text(
        '"clip_id"\t"rock"\t"mp3_path"\n"1"\t"1"\t"0/a-0-29.mp3"\n"2"\t"1"\t"../../etc/passwd"\n', encoding="utf-8")
    collection = sources.read_mtat_tree(str(tmp_path))
    assert [c.clip_id for c in collection.clips] == ["1"] and "leaves" in collection.refused[0].reason


def test_header_only_table_says_so(tmp_path):
    """Finding 12: not "no clip has any tag"."""
    (tmp_path / "t.tsv").write_text("audio_path\ttags\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="the table has a header but no rows"):
        sources.read_table(str(tmp_path / "t.tsv"))


@pytest.mark.slow  # two builder processes (~25 s)
def test_builder_exits_1_when_clips_failed_unless_max_failures_allows(tmp_path):
    """Finding 12: a skipped clip is exit 1 (records still written); --max_failures=1 or 0.5 allows it."""
    write_audio(tmp_path / "a.wav", _tone(), SR)
    _write(tmp_path / "t.tsv", ["audio_path", "tags", "split"],
           [["a.wav", "rock", "train"], ["missing.wav", "pop", "test"], ["/etc/passwd", "pop", "test"]])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(PROJECT_ROOT))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "tfrecords_builder", f"--table={tmp_path / 't.tsv'}",
                               "--noprogress", "--num_workers=1", *args], capture_output=True, text=True,
                              env=env, timeout=300)

    failed = cli(f"--out_dir={tmp_path / 'r1'}")
    assert failed.returncode == 1, failed.stderr
    assert "2 of 3 clips failed or were refused" in failed.stderr
    assert (tmp_path / "r1" / "manifest.json").exists()
    allowed = cli(f"--out_dir={tmp_path / 'r2'}", "--max_failures=0.7")
    assert allowed.returncode == 0, allowed.stderr
    bad_flag = cli(f"--out_dir={tmp_path / 'r3'}", "--max_failures=-1")
    assert bad_flag.returncode != 0 and "--max_failures must be" in bad_flag.stderr
