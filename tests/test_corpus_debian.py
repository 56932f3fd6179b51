"""The Debian soundtrack corpus command, on a tiny package built here with ``dpkg-deb --build``."""

from __future__ import annotations

import csv
import os
import shutil
import zipfile

import pytest

from conftest import FakeApt, dpkg_build
from tfrecords_builder.corpora import debian_music as dm

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")


@pytest.fixture()
def audio(shared_data):
    """(an ogg, a 2.00 s wav) from ../shared/data/audio."""
    return (str(shared_data / "audio" / "librosa" / "sorohanro_-_solo-trumpet-06.ogg"),
            str(shared_data / "audio" / "mirdata" / "slakh__mix.wav"))

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tiny

Files: *
Copyright: 2020 Someone
License: GPL-2+

Files: debian/*
License: GPL-3+
"""


def _build_deb(tmp_path, audio, name: str, copyright_text: str = DEP5, with_archive: bool = True) -> str:
    root = tmp_path / f"{name}-src"
    music = root / "usr" / "share" / "games" / name / "music"
    music.mkdir(parents=True)
    ogg, wav = audio
    shutil.copy(ogg, music / "theme.ogg")
    shutil.copy(wav, music / "battle.wav")
    (music / "lang").mkdir()
    os.symlink("../theme.ogg", music / "lang" / "theme.ogg")  # a language folder's link: counted once
    (music / "notes.txt").write_text("not audio")
    if with_archive:
        with zipfile.ZipFile(music / "data.pk3", "w") as zf:
            zf.write(ogg, "sound/cdtracks/packed.ogg")
            zf.writestr("maps/readme.txt", "no audio here")
    doc = root / "usr" / "share" / "doc" / name
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(copyright_text)
    return dpkg_build(root, name, tmp_path, "tiny test soundtrack")


def test_corpus_from_local_packages_split_by_package_and_resumes(tmp_path, audio):
    debs = {"tiny-music": _build_deb(tmp_path, audio, "tiny-music"),
            "other-music": _build_deb(tmp_path, audio, "other-music", with_archive=False)}
    params = dm.DebianCorpusParams(packages=("tiny-music", "other-music"), valid_packages=(),
                                   test_packages=("other-music",))
    apt = FakeApt(debs, locate_after_update=True)
    out = tmp_path / "corpus"
    table, files, errors = dm.build_corpus(str(out), params, runner=apt, log=lambda s: None)
    assert errors == []
    assert ["apt-get", "update"] in apt.calls  # empty package lists: one update, then retried
    rows = list(csv.DictReader(open(table)))
    names = sorted(os.path.basename(r["audio_path"]) for r in rows)
    # tiny: theme, battle, packed (from the .pk3); other: theme, battle; links and text skipped.
    assert names == ["battle.wav", "battle.wav", "packed.ogg", "theme.ogg", "theme.ogg"]
    for row in rows:
        assert os.path.isfile(out / row["audio_path"])
        assert row["licence"] == "GPL-2+"
        assert row["split"] == ("test" if row["package"] == "other-music" else "train")
        assert float(row["duration_seconds"]) > 1.0
    assert abs(float(next(r for r in rows if r["audio_path"].endswith("battle.wav"))["duration_seconds"]) - 2.0) < 0.01

    # Resume: nothing is downloaded or unpacked again, and the table is the same.
    before = open(table).read()
    apt2 = FakeApt(debs)
    dm.build_corpus(str(out), params, runner=apt2, log=lambda s: None)
    assert apt2.calls == []
    assert open(table).read() == before


def test_missing_package_is_one_clear_error(tmp_path):
    apt = FakeApt({})
    with pytest.raises(dm.CorpusError, match="no-such-music.*apt-get download failed"):
        dm.download_packages(["no-such-music"], str(tmp_path / "debs"), runner=apt, log=lambda s: None)


def test_archive_member_leaving_its_folder_is_refused(tmp_path, audio):
    package = tmp_path / "pkg"
    package.mkdir()
    with zipfile.ZipFile(package / "evil.pk3", "w") as zf:
        zf.write(audio[0], "../../escaped.ogg")
    with pytest.raises(dm.CorpusError, match="would leave"):
        dm.expand_archives(str(package), dm.DebianCorpusParams())
    assert not (tmp_path / "escaped.ogg").exists()


@pytest.mark.parametrize("text,expected", [
    (DEP5, "GPL-2+"),
    ("This program is free software; you can redistribute it under the terms of the GNU General "
     "Public License as published by the Free Software Foundation; either version 2 of the License, "
     "or (at your option) any later version.", "GPL-2+"),
    ("GNU General Public License version 3 only", "GPL-3"),
    ("CREATIVE COMMONS PUBLIC LICENSE ... this License: Attribution, ShareAlike. ... "
     "(e.g., Attribution-ShareAlike 3.0 US)", "CC-BY-SA-3.0"),
    ("All rights reserved.", "see usr/share/doc/p/copyright"),
])
def test_package_licence(tmp_path, text, expected):
    doc = tmp_path / "usr" / "share" / "doc" / "p"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(text)
    assert dm.package_licence(str(tmp_path), "p") == expected
