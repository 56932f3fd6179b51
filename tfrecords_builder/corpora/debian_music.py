"""A real-music corpus from Debian's game-soundtrack packages, fetched reproducibly.

    python -m tfrecords_builder.corpora.debian_music --out_dir=corpus/

Stages (each is skipped when its output exists, so an interrupted run resumes):

=========  ==========================================================================  ===================
stage      what                                                                        output
=========  ==========================================================================  ===================
download   ``apt-get download PACKAGE`` (``apt-get update`` once if the lists are       ``debs/*.deb``
           empty); no install, no maintainer scripts, no root needed by dpkg-deb
unpack     ``dpkg-deb -x`` into a temporary folder, renamed when complete               ``unpacked/<pkg>/``
archives   audio inside ``.pk3``/``.zip`` archives (nexuiz-music) is extracted;         ``unpacked/<pkg>/
           members that would leave the folder are refused                              _archives/``
find       audio files (ogg, opus, mp3, flac, wav); symbolic links are skipped, so a
           track linked from several language folders (drascula-music) counts once
table      path, package, licence (from the package's ``copyright`` file), duration,    ``corpus.csv``
           split by whole package (tracks of one soundtrack are near-duplicates in
           style, so a track-level split would leak)
=========  ==========================================================================  ===================

The table is a builder table (``musictag-build --table=corpus/corpus.csv``): ``audio_path``
relative to the table's folder, ``tags`` (empty: the labels come from a teacher), ``split``,
``track_id``, plus ``package``, ``licence`` and ``duration_seconds`` for the record. The audio
stays in ``out_dir``, outside the repository.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import soundfile as sf

from musictag_tf.errors import MusictagError


@dataclasses.dataclass(frozen=True)
class DebianCorpusParams:
    """Which packages make the corpus and how they are split (by whole package)."""

    packages: Tuple[str, ...] = (
        "wesnoth-1.16-music", "nexuiz-music", "warzone2100-music", "singularity-music",
        "planetblupi-music-ogg", "drascula-music", "asc-music")
    # Held-out packages: electronic/metal (nexuiz) and ambient/orchestral (singularity) for
    # test, an adventure-game score and a rock/metal set for validation; the rest train.
    valid_packages: Tuple[str, ...] = ("drascula-music", "asc-music")
    test_packages: Tuple[str, ...] = ("nexuiz-music", "singularity-music")
    audio_extensions: Tuple[str, ...] = (".ogg", ".oga", ".opus", ".mp3", ".flac", ".wav")
    archive_extensions: Tuple[str, ...] = (".pk3", ".zip")


TABLE_NAME = "corpus.csv"
TABLE_COLUMNS = ("audio_path", "tags", "split", "track_id", "package", "licence", "duration_seconds")
ARCHIVE_DIR = "_archives"


class CorpusError(MusictagError):
    """A corpus package cannot be fetched, unpacked or read."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


Runner = Callable[..., subprocess.CompletedProcess]


@dataclasses.dataclass(frozen=True)
class CorpusFile:
    """One audio file of the corpus."""

    audio_path: str        # relative to the corpus folder, '/'-separated
    package: str
    licence: str
    duration_seconds: float
    split: str

    @property
    def track_id(self) -> str:
        return os.path.splitext(self.audio_path)[0]


# ----------------------------------------------------------------------------- download

def _run(command: Sequence[str], cwd: str, runner: Runner) -> subprocess.CompletedProcess:
    return runner(list(command), cwd=cwd, capture_output=True, text=True)


def download_packages(packages: Sequence[str], debs_dir: str, runner: Runner = subprocess.run,
                      log: Callable[[str], None] = print) -> Dict[str, str]:
    """``apt-get download`` each package not yet in ``debs_dir``: {package: .deb path}.

    Runs ``apt-get update`` once when a package cannot be located (fresh machines have empty
    lists) and tries again. Raises CorpusError naming the package on any other failure.
    """
    os.makedirs(debs_dir, exist_ok=True)
    found = {}
    updated = False
    for package in packages:
        deb = _find_deb(debs_dir, package)
        if deb is None:
            log(f"download {package}")
            result = _run(["apt-get", "download", package], debs_dir, runner)
            if result.returncode != 0 and not updated and "locate package" in (result.stderr or ""):
                log("apt-get update (the package lists are empty or stale)")
                update = _run(["apt-get", "update"], debs_dir, runner)
                updated = True
                if update.returncode != 0:
                    raise CorpusError(package, f"apt-get update failed: {update.stderr.strip()[-300:]}")
                result = _run(["apt-get", "download", package], debs_dir, runner)
            if result.returncode != 0:
                raise CorpusError(package, f"apt-get download failed: {(result.stderr or '').strip()[-300:]}")
            deb = _find_deb(debs_dir, package)
            if deb is None:
                raise CorpusError(package, f"apt-get download wrote no {package}_*.deb in {debs_dir}")
        found[package] = deb
    return found


def _find_deb(debs_dir: str, package: str) -> Optional[str]:
    names = sorted(n for n in os.listdir(debs_dir) if n.startswith(package + "_") and n.endswith(".deb"))
    return os.path.join(debs_dir, names[-1]) if names else None


# ----------------------------------------------------------------------------- unpack

def unpack(deb: str, dest: str, runner: Runner = subprocess.run) -> str:
    """``dpkg-deb -x deb`` into ``dest`` (via a temporary sibling, renamed when complete)."""
    if os.path.isdir(dest):
        return dest
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=os.path.basename(dest) + ".tmp-", dir=parent)
    result = _run(["dpkg-deb", "-x", os.path.abspath(deb), tmp], parent, runner)
    if result.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CorpusError(deb, f"dpkg-deb -x failed: {(result.stderr or '').strip()[-300:]}")
    os.rename(tmp, dest)
    return dest


def expand_archives(package_dir: str, params: DebianCorpusParams) -> List[str]:
    """Extract the audio members of game archives (.pk3 = zip) under ``package_dir/_archives``.

    Returns the extracted paths. A member whose name would leave the target folder (absolute,
    ``..``) raises CorpusError; an archive already extracted is skipped.
    """
    out = []
    for archive in _walk_files(package_dir, params.archive_extensions, skip=(ARCHIVE_DIR,)):
        stem = os.path.splitext(os.path.relpath(archive, package_dir))[0].replace(os.sep, "__")
        target = os.path.join(package_dir, ARCHIVE_DIR, stem)
        if os.path.isdir(target):
            out.extend(_walk_files(target, params.audio_extensions))
            continue
        tmp = target + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.infolist():
                    if member.is_dir() or not member.filename.lower().endswith(params.audio_extensions):
                        continue
                    root = os.path.abspath(tmp)
                    path = os.path.abspath(os.path.join(root, member.filename))
                    if os.path.isabs(member.filename) or os.path.commonpath([root, path]) != root:
                        raise CorpusError(archive, f"member {member.filename!r} would leave the archive folder")
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with zf.open(member) as src, open(path, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        except zipfile.BadZipFile as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise CorpusError(archive, f"not a readable zip archive: {exc}") from exc
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(tmp, target)
        out.extend(_walk_files(target, params.audio_extensions))
    return out


def _walk_files(root: str, extensions: Sequence[str], skip: Sequence[str] = ()) -> List[str]:
    """Regular files (not symbolic links) under root with one of the extensions, sorted."""
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in skip and not d.endswith(".tmp"))
        for name in files:
            path = os.path.join(folder, name)
            if name.lower().endswith(tuple(extensions)) and not os.path.islink(path):
                found.append(path)
    return sorted(found)


def find_audio(package_dir: str, params: DebianCorpusParams) -> List[str]:
    """Audio files of one unpacked package, archives' members included; links skipped."""
    return _walk_files(package_dir, params.audio_extensions)


# ----------------------------------------------------------------------------- licence

_GPL = re.compile(r"GNU General Public License.{0,200}?version (\d)(.{0,60}?any later version)?",
                  re.IGNORECASE | re.DOTALL)
_CC = re.compile(r"(Attribution(?:[- ](?:NonCommercial|ShareAlike|NoDerivs|NoDerivatives))*)\s+(\d\.\d)",
                 re.IGNORECASE)


def package_licence(package_dir: str, package: str) -> str:
    """The licence of a package's files, from ``usr/share/doc/<package>/copyright``.

    Machine-readable (DEP-5) files give the ``License:`` of the ``Files: *`` stanza; free-text
    files are recognised for the GPL (version, "or later") and Creative Commons licences.
    Anything else is ``"see <copyright path>"``, never a guess.
    """
    rel = os.path.join("usr", "share", "doc", package, "copyright")
    path = os.path.join(package_dir, rel)
    if not os.path.isfile(path):
        return "unknown (no copyright file)"
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for stanza in re.split(r"\n\s*\n", text):
        if re.search(r"^Files:\s*\*\s*$", stanza, re.MULTILINE):
            match = re.search(r"^License:[ \t]*(\S.*)$", stanza, re.MULTILINE)
            if match:
                return match.group(1).strip()
    cc = _CC.search(text) if "creative commons" in text.lower() else None
    if cc:
        words = cc.group(1).lower()
        code = "CC-BY" + ("-NC" if "noncommercial" in words.replace("-", "").replace(" ", "") else "") \
            + ("-SA" if "sharealike" in words.replace("-", "").replace(" ", "") else "") \
            + ("-ND" if "noderiv" in words.replace("-", "").replace(" ", "") else "")
        return f"{code}-{cc.group(2)}"
    gpl = _GPL.search(text)
    if gpl:
        return f"GPL-{gpl.group(1)}" + ("+" if gpl.group(2) else "")
    return f"see {rel}"


# ----------------------------------------------------------------------------- table

def split_of(package: str, params: DebianCorpusParams) -> str:
    if package in params.test_packages:
        return "test"
    if package in params.valid_packages:
        return "valid"
    return "train"


def duration_seconds(path: str) -> float:
    """The file's duration from its header (soundfile); CorpusError when it is not audio."""
    try:
        info = sf.info(path)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise CorpusError(path, f"not readable audio: {exc}") from exc
    return float(info.frames) / float(info.samplerate)


def collect(out_dir: str, packages: Sequence[str], params: DebianCorpusParams,
            log: Callable[[str], None] = print) -> Tuple[List[CorpusFile], List[CorpusError]]:
    """Corpus files of the unpacked packages (archives expanded); unreadable files are returned
    as errors, the rest kept."""
    files, errors = [], []
    for package in packages:
        package_dir = os.path.join(out_dir, "unpacked", package)
        expand_archives(package_dir, params)
        licence = package_licence(package_dir, package)
        paths = find_audio(package_dir, params)
        if not paths:
            errors.append(CorpusError(package_dir, "no audio files found"))
        total = 0.0
        for path in paths:
            try:
                seconds = duration_seconds(path)
            except CorpusError as exc:
                errors.append(exc)
                continue
            total += seconds
            files.append(CorpusFile(os.path.relpath(path, out_dir).replace(os.sep, "/"), package,
                                    licence, round(seconds, 3), split_of(package, params)))
        log(f"{package}: {len(paths)} files, {total / 3600:.2f} h, {licence}, split {split_of(package, params)}")
    return files, errors


def table_text(files: Iterable[CorpusFile]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TABLE_COLUMNS)
    for f in files:
        writer.writerow([f.audio_path, "", f.split, f.track_id, f.package, f.licence, f"{f.duration_seconds:.3f}"])
    return out.getvalue()


def write_table(path: str, files: Sequence[CorpusFile]) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(table_text(files))
    os.replace(tmp, path)


def build_corpus(out_dir: str, params: DebianCorpusParams = DebianCorpusParams(),
                 runner: Runner = subprocess.run, download: bool = True,
                 log: Callable[[str], None] = print) -> Tuple[str, List[CorpusFile], List[CorpusError]]:
    """Every stage: download (optional), unpack, expand archives, table. Returns
    (table path, files, errors); the table lists the readable files."""
    os.makedirs(out_dir, exist_ok=True)
    debs_dir = os.path.join(out_dir, "debs")
    if download:
        debs = download_packages(params.packages, debs_dir, runner, log)
    else:
        debs = {}
        for package in params.packages:
            deb = _find_deb(debs_dir, package) if os.path.isdir(debs_dir) else None
            if deb is None:
                raise CorpusError(os.path.join(debs_dir, f"{package}_*.deb"), "missing (run without --nodownload)")
            debs[package] = deb
    for package, deb in debs.items():
        dest = os.path.join(out_dir, "unpacked", package)
        if not os.path.isdir(dest):
            log(f"unpack {os.path.basename(deb)}")
        unpack(deb, dest, runner)
    files, errors = collect(out_dir, params.packages, params, log)
    table = os.path.join(out_dir, TABLE_NAME)
    write_table(table, files)
    return table, files, errors


def summary(files: Sequence[CorpusFile]) -> str:
    by_split: Dict[str, List[float]] = {}
    for f in files:
        by_split.setdefault(f.split, []).append(f.duration_seconds)
    parts = [f"{s}: {len(v)} files, {sum(v) / 3600:.2f} h" for s, v in sorted(by_split.items())]
    return "; ".join(parts)


# ----------------------------------------------------------------------------- CLI

def define_flags(flag_values=None) -> None:
    from absl import flags

    fv = flag_values or flags.FLAGS
    defaults = DebianCorpusParams()
    flags.DEFINE_string("out_dir", None, "Folder for debs/, unpacked/ and corpus.csv (outside the repository).",
                        flag_values=fv)
    flags.DEFINE_list("packages", list(defaults.packages), "Debian packages that make the corpus.", flag_values=fv)
    flags.DEFINE_list("valid_packages", list(defaults.valid_packages), "Packages held out for validation.",
                      flag_values=fv)
    flags.DEFINE_list("test_packages", list(defaults.test_packages), "Packages held out for testing.",
                      flag_values=fv)
    flags.DEFINE_bool("download", True, "Fetch missing .deb files with apt-get download.", flag_values=fv)
    flags.mark_flag_as_required("out_dir", flag_values=fv)


def main(argv, flag_values=None) -> int:
    from absl import flags

    fv = flag_values or flags.FLAGS
    if len(argv) > 1:
        print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
        return 2
    params = DebianCorpusParams(tuple(fv.packages), tuple(fv.valid_packages), tuple(fv.test_packages))
    unknown = sorted(set(params.valid_packages + params.test_packages) - set(params.packages))
    if unknown or set(params.valid_packages) & set(params.test_packages):
        print(f"error: valid/test packages must be distinct members of --packages (check {unknown})",
              file=sys.stderr)
        return 2
    try:
        table, files, errors = build_corpus(fv.out_dir, params, download=fv.download)
    except (CorpusError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for err in errors:
        print(f"error: {err}", file=sys.stderr)
    print(f"wrote {table}: {summary(files)}")
    return 1 if errors else 0


def run() -> None:
    from absl import app

    define_flags()
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
