"""Benchmark: audio decoding backends -> float32 mono waveform at 16 kHz, on the real files.

Question it answers (BUILD_NOTES.md, "Audio decoding backend"): do we decode with
soundfile (libsndfile) + soxr on the newest TensorFlow, or pin an older TensorFlow to use
tensorflow-io's decoders and resampler? It measures, in the current interpreter, every
backend that imports and works here:

* ``soundfile+soxr`` (baseline, always): file bytes -> ``soundfile.read`` (libsndfile:
  mpg123 for mp3, libvorbis for ogg) -> mean over channels -> ``soxr.resample(...,
  quality="HQ")``, length fixed to ceil(n * 16000 / rate) as librosa does. This is the
  method of ``musictag_tf.audio.io``.
* ``librosa.load`` (reference, when librosa imports): ``librosa.load(path, sr=None,
  mono=False)`` to decode, ``librosa.load(path, sr=16000)`` to decode+resample
  (librosa 0.11 decodes with soundfile and resamples with soxr "HQ" by default).
* ``tfio.AudioIOTensor`` and ``tfio.decode_*`` (when ``tensorflow_io`` imports AND its
  kernels load; tensorflow-io 0.37.1 only loads them on TensorFlow 2.16/2.17):
  ``tfio.audio.AudioIOTensor(path).to_tensor()`` (the only tfio API that also returns the
  sample rate), or ``tf.io.read_file`` + ``decode_mp3`` / ``decode_vorbis`` /
  ``decode_wav`` / ``decode_flac`` (bytes in, samples out; these need the rate and the wav
  sample type from elsewhere, here from the file header, outside the timed region). Integer
  PCM is scaled to [-1, 1) in TF, mixed down with ``tf.reduce_mean`` and resampled with
  ``tfio.audio.resample`` (a Speex resampler inside tfio).

Per file and backend it reports, as the median of ``--repeats`` timed rounds after one
untimed warm-up (each round runs every backend once, in turn, so that load from other
processes affects them alike):

* decode only: file -> float32 ``[samples, channels]`` at the file's rate;
* decode+resample: file -> float32 ``[samples]`` mono at ``AudioParams.sample_rate`` (16 kHz);

each as milliseconds, x real time (audio seconds / wall seconds) and the time ratio
against the baseline measured in the same run (>1 = slower than soundfile). Correctness is
judged against the baseline's output for the same stage (mono mixdown at the file rate for
"decode", the 16 kHz waveform for "decode+resample"): the sample-count difference, the lag
(samples) that aligns the two signals -- mp3 decoders may differ by an encoder/decoder-delay
offset and resamplers by their filter delay -- found by cross-correlation within
``--max_lag_ms``, then max |difference| and SNR (dB, baseline energy over difference
energy) over the aligned overlap.

Usage (run from anywhere; prints Markdown)::

    python benchmarks/bench_decode_backends.py [--repeats 5] [--files joram,Fantasma]
        [--data_dir ../shared/data] [--max_lag_ms 100]

Real data comes from ``$MUSICTAG_SHARED_DATA`` or ``<repo>/../shared/data`` (read only);
without it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import math
import os
import pathlib
import platform
import statistics
import sys
import time
import warnings
from typing import Callable, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import soundfile as sf
import soxr

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from musictag_tf.params import AudioParams  # noqa: E402  (needs REPO_ROOT on sys.path)

AUDIO_SUFFIXES = (".mp3", ".ogg", ".wav", ".flac")
SOXR_QUALITY = "HQ"  # == librosa.load's default res_type "soxr_hq"
BASELINE = "soundfile+soxr"


@dataclasses.dataclass(frozen=True)
class AudioFile:
    """One real recording: facts from its header plus the decoded length (baseline)."""

    path: pathlib.Path
    label: str  # path relative to the audio folder, for the tables
    kind: str  # e.g. "MP3", "OGG/VORBIS", "WAV/PCM_24"
    subtype: str  # libsndfile subtype, e.g. "PCM_16", "FLOAT", "MPEG_LAYER_III"
    rate: int  # Hz
    channels: int
    seconds: float  # decoded duration (sf.info().frames is only an estimate for mp3)


@dataclasses.dataclass
class Backend:
    """A way to decode a file.

    decode(file) -> float32 [samples, channels] at file.rate Hz.
    decode_16k(file) -> float32 [samples] mono at the target rate (16 kHz).
    """

    name: str
    decode: Callable[[AudioFile], np.ndarray]
    decode_16k: Callable[[AudioFile], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Candidate vs baseline waveform (1-D, same rate).

    The candidate is aligned first by a whole-sample lag (cross-correlation), then by a
    sub-sample shift in [-0.5, 0.5] (band-limited FFT delay) -- resamplers with different
    filter delays, e.g. 44.1 kHz -> 16 kHz, are offset by a fraction of a sample, which
    alone caps the SNR of an integer alignment at ~30 dB.
    """

    samples_diff: int  # len(candidate) - len(baseline)
    lag: float  # candidate[n + lag] ~ baseline[n]; > 0: candidate starts later (extra leading samples)
    snr_int_db: float  # 10 log10(sum baseline^2 / sum diff^2), whole-sample alignment; inf if identical
    snr_db: float  # the same after the sub-sample shift
    max_abs_diff: float  # max |diff| after the sub-sample shift, over the overlap


@dataclasses.dataclass
class Row:
    file: AudioFile
    backend: str
    decode_s: Optional[float] = None
    decode_16k_s: Optional[float] = None
    cmp_decode: Optional[Comparison] = None
    cmp_16k: Optional[Comparison] = None
    error: str = ""


# ----------------------------------------------------------------------------- backends


def soundfile_backend(target_rate: int) -> Backend:
    """The method of musictag_tf.audio.io: bytes -> libsndfile -> mean of channels -> soxr HQ.

    The output length is fixed to ceil(samples * target_rate / file_rate), as librosa.resample does.
    """

    def decode(f: AudioFile) -> np.ndarray:
        samples, _ = sf.read(io.BytesIO(f.path.read_bytes()), dtype="float32", always_2d=True)
        return samples

    def decode_16k(f: AudioFile) -> np.ndarray:
        samples = decode(f)
        mono = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
        if f.rate == target_rate:
            return np.ascontiguousarray(mono)
        target = int(math.ceil(mono.shape[0] * target_rate / f.rate))
        mono = soxr.resample(mono, f.rate, target_rate, quality=SOXR_QUALITY)
        mono = mono[:target] if mono.shape[0] >= target else np.pad(mono, (0, target - mono.shape[0]))
        return np.ascontiguousarray(mono, dtype=np.float32)

    return Backend(BASELINE, decode, decode_16k)


def librosa_backend(target_rate: int) -> tuple[Optional[Backend], str]:
    try:
        import librosa
    except Exception as e:  # noqa: BLE001 - any import failure just drops the backend
        return None, f"librosa: not importable ({type(e).__name__}: {e})"

    def decode(f: AudioFile) -> np.ndarray:
        y, _ = librosa.load(str(f.path), sr=None, mono=False)
        return (y[:, None] if y.ndim == 1 else y.T).astype(np.float32, copy=False)

    def decode_16k(f: AudioFile) -> np.ndarray:
        y, _ = librosa.load(str(f.path), sr=target_rate, mono=True)
        return y

    return Backend("librosa.load", decode, decode_16k), f"librosa {librosa.__version__}"


def _tiny_wav_bytes() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(64, dtype=np.int16), 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def tfio_backends(target_rate: int) -> tuple[list[Backend], str]:
    """tensorflow-io backends, or [] and the reason (import error or kernel-load error)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import tensorflow as tf
            import tensorflow_io as tfio
    except Exception as e:  # noqa: BLE001
        return [], f"tensorflow_io: not importable ({type(e).__name__}: {e})"
    load_warnings = [str(w.message).splitlines()[0] for w in caught if "tensorflow_io" in str(w.filename)
                     or "libtensorflow_io" in str(w.message)]
    try:  # the kernels load lazily: run one op to find out whether they load at all
        tfio.audio.decode_wav(tf.constant(_tiny_wav_bytes()), dtype=tf.int16).numpy()
        tfio.audio.resample(tf.zeros([64, 1]), rate_in=16000, rate_out=8000).numpy()
    except Exception as e:  # noqa: BLE001
        reason = " ".join(str(e).split())
        return [], (f"tensorflow_io {tfio.__version__} imports on TF {tf.__version__} but its ops do not load: "
                    f"{type(e).__name__}: {reason}")

    tf.get_logger().setLevel("ERROR")  # tfio.audio.resample retraces a pfor function per call and says so
    def to_float(x):
        """int16 / int32 PCM -> float32 in [-1, 1); float32 passes through."""
        if x.dtype == tf.int16:
            return tf.cast(x, tf.float32) / 32768.0
        if x.dtype == tf.int32:  # 24-bit and 32-bit PCM come left-aligned in int32
            return tf.cast(x, tf.float32) / 2147483648.0
        return tf.cast(x, tf.float32)

    def to_16k(x, rate: int) -> np.ndarray:
        mono = tf.reduce_mean(x, axis=1, keepdims=True)  # [samples, 1]
        if rate != target_rate:
            mono = tfio.audio.resample(mono, rate_in=rate, rate_out=target_rate)
        return mono[:, 0].numpy()

    def ioTensor(f: AudioFile):
        audio = tfio.audio.AudioIOTensor(str(f.path))
        return to_float(audio.to_tensor()), int(audio.rate.numpy())

    wav_dtype = {"PCM_16": tf.int16, "PCM_24": tf.int32, "PCM_32": tf.int32, "FLOAT": tf.float32}

    def from_bytes(f: AudioFile):
        data = tf.io.read_file(str(f.path))
        suffix = f.path.suffix.lower()
        if suffix == ".mp3":
            x = tfio.audio.decode_mp3(data)
        elif suffix == ".ogg":
            x = tfio.audio.decode_vorbis(data)
        elif suffix == ".flac":
            x = tfio.audio.decode_flac(data, dtype=wav_dtype.get(f.subtype, tf.int16))
        else:
            x = tfio.audio.decode_wav(data, dtype=wav_dtype[f.subtype])
        return to_float(x), f.rate  # decode_* return no rate: the header gave it

    backends = [
        Backend("tfio.AudioIOTensor", lambda f: ioTensor(f)[0].numpy(), lambda f: to_16k(*ioTensor(f))),
        Backend("tfio.decode_*", lambda f: from_bytes(f)[0].numpy(), lambda f: to_16k(*from_bytes(f))),
    ]
    status = f"tensorflow_io {tfio.__version__} on TF {tf.__version__}: ops load"
    if load_warnings:
        status += " (import warnings: " + "; ".join(load_warnings) + ")"
    return backends, status


# ----------------------------------------------------------------------------- measuring


def timed(fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    """(wall seconds, output) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def find_lag(ref: np.ndarray, cand: np.ndarray, max_lag: int, segment: int = 1 << 18) -> int:
    """Lag L (samples, |L| <= max_lag) maximising the normalised cross-correlation of cand and ref.

    ref, cand: float [samples]. Score(L) = sum_n cand[n + L] * seg[n] / ||cand[L:L + len(seg)]||
    for a segment ``seg`` of ref (at most ``segment`` samples, from the middle of ref so that
    leading/trailing silence does not decide the lag). Normalising by the candidate window's
    energy keeps a louder stretch at a wrong lag from beating the true alignment.
    """
    n = min(len(ref), len(cand))
    max_lag = int(min(max_lag, max(n // 4, 0)))
    seg_len = int(min(segment, n - 2 * max_lag))
    if seg_len <= 0:
        return 0
    start = max_lag + (n - 2 * max_lag - seg_len) // 2
    seg = ref[start:start + seg_len].astype(np.float64)
    window = np.zeros(seg_len + 2 * max_lag, dtype=np.float64)
    part = cand[start - max_lag:start + seg_len + max_lag]
    window[:len(part)] = part
    size = len(window) + seg_len - 1
    corr = np.fft.irfft(np.fft.rfft(window, size) * np.conj(np.fft.rfft(seg, size)), size)[:2 * max_lag + 1]
    energy = np.concatenate([[0.0], np.cumsum(window * window)])
    window_energy = energy[seg_len:seg_len + 2 * max_lag + 1] - energy[:2 * max_lag + 1]
    score = corr / np.sqrt(np.maximum(window_energy, 1e-30))
    return int(np.argmax(score)) - max_lag


def _snr_db(ref: np.ndarray, diff: np.ndarray) -> float:
    err = float(np.sum(diff * diff))
    return float("inf") if err == 0.0 else 10.0 * float(np.log10(max(float(np.sum(ref * ref)), 1e-30) / err))


def shift_fractional(x: np.ndarray, delta: float, pad: int = 4096) -> np.ndarray:
    """y[n] = x(n + delta) for a band-limited x: float [samples] -> float [samples].

    Done as a linear phase ramp on the FFT of x zero-padded by ``pad`` samples each side,
    so that the shift does not wrap the end of the signal onto its start.
    """
    size = len(x) + 2 * pad
    spectrum = np.fft.rfft(np.pad(x, pad), size)
    spectrum *= np.exp(2j * np.pi * np.fft.rfftfreq(size) * delta)
    return np.fft.irfft(spectrum, size)[pad:pad + len(x)]


def best_fraction(r: np.ndarray, c: np.ndarray, segment: int = 1 << 16) -> float:
    """Sub-sample shift d in [-0.5, 0.5] minimising |r - c(n + d)|^2 on a middle segment.

    r, c: float [samples], already aligned to the whole sample. Coarse grid (0.05) then fine (0.005).
    """
    n = min(len(r), len(c))
    seg_len = min(segment, n)
    start = (n - seg_len) // 2
    rs, cs = r[start:start + seg_len], c[start:start + seg_len]
    edge = min(256, seg_len // 8)  # ignore the segment's ends, where the shift sees zeros

    def error(d: float) -> float:
        diff = rs[edge:seg_len - edge] - shift_fractional(cs, d)[edge:seg_len - edge]
        return float(np.sum(diff * diff))

    coarse = min(np.arange(-0.5, 0.5001, 0.05), key=error)
    fine = min(np.arange(coarse - 0.05, coarse + 0.0501, 0.005), key=error)
    fine = round(float(fine), 3)
    return 0.0 if abs(fine) < 1e-9 or error(0.0) <= error(fine) else fine


def compare(ref: np.ndarray, cand: np.ndarray, max_lag: int) -> Comparison:
    """Align cand to ref (whole-sample lag, then sub-sample shift); difference statistics on the overlap.

    ref, cand: float [samples] at the same rate. ``max_lag`` bounds the searched lag, in samples.
    """
    ref = np.asarray(ref, dtype=np.float64).reshape(-1)
    cand = np.asarray(cand, dtype=np.float64).reshape(-1)
    lag = find_lag(ref, cand, max_lag)
    r, c = (ref, cand[lag:]) if lag >= 0 else (ref[-lag:], cand)
    n = min(len(r), len(c))
    r, c = r[:n], c[:n]
    if n == 0:
        return Comparison(len(cand) - len(ref), float(lag), float("nan"), float("nan"), float("nan"))
    snr_int = _snr_db(r, r - c)
    fraction = best_fraction(r, c) if snr_int != float("inf") else 0.0
    diff = r - (shift_fractional(c, fraction) if fraction else c)
    return Comparison(len(cand) - len(ref), lag + fraction, snr_int, _snr_db(r, diff), float(np.max(np.abs(diff))))


def describe(path: pathlib.Path, audio_root: pathlib.Path) -> AudioFile:
    info = sf.info(str(path))
    frames = sf.read(str(path), dtype="float32", always_2d=True)[0].shape[0]
    kind = info.format if info.format in ("MP3",) else f"{info.format}/{info.subtype}"
    return AudioFile(path, str(path.relative_to(audio_root)), kind, info.subtype, info.samplerate,
                     info.channels, frames / info.samplerate)


def _error_text(e: Exception) -> str:
    return f"{type(e).__name__}: {' '.join(str(e).split())[:160]}"


def measure_file(f: AudioFile, backends: list[Backend], repeats: int, max_lag_ms: float,
                 target_rate: int) -> list[Row]:
    """Rows for one file: one untimed warm-up per backend and stage, then ``repeats`` rounds.

    Each round times every backend once per stage, in turn, so that load from other
    processes on the machine hits all backends alike; the reported time is the median.
    """
    rows = {b.name: Row(f, b.name) for b in backends}
    outputs = {}
    for b in backends:  # warm-up; also the outputs compared below
        try:
            outputs[b.name] = (b.decode(f), b.decode_16k(f))
        except Exception as e:  # noqa: BLE001 - a backend failing on a file is a result
            rows[b.name].error = _error_text(e)
    alive = [b for b in backends if b.name in outputs]
    times = {b.name: ([], []) for b in alive}
    for _ in range(repeats):
        for b in alive:
            times[b.name][0].append(timed(lambda: b.decode(f))[0])
            times[b.name][1].append(timed(lambda: b.decode_16k(f))[0])
    ref = outputs.get(BASELINE)
    for b in alive:
        row = rows[b.name]
        row.decode_s = statistics.median(times[b.name][0])
        row.decode_16k_s = statistics.median(times[b.name][1])
        dec, y16 = outputs[b.name]
        if y16.dtype != np.float32 or y16.ndim != 1:
            row.error = f"decode_16k returned {y16.dtype} {y16.shape}, not float32 [samples]"
        if b.name != BASELINE and ref is not None:
            row.cmp_decode = compare(ref[0].mean(axis=1), dec.mean(axis=1), int(f.rate * max_lag_ms / 1000))
            row.cmp_16k = compare(ref[1], y16, int(target_rate * max_lag_ms / 1000))
    return [rows[b.name] for b in backends]


def measure(files: list[AudioFile], backends: list[Backend], repeats: int, max_lag_ms: float,
            target_rate: int) -> list[Row]:
    rows = []
    for f in files:
        print(f"  {f.label} ...", file=sys.stderr, flush=True)
        rows += measure_file(f, backends, repeats, max_lag_ms, target_rate)
    return rows


# ----------------------------------------------------------------------------- reporting


def _fmt_db(value: float) -> str:
    return "identical" if value == float("inf") else f"{value:.1f}"


def _fmt_max(c: Comparison) -> str:
    return "0" if c.max_abs_diff == 0 else f"{c.max_abs_diff:.2e}"


def _fmt_cmp(c: Comparison) -> str:
    lag = f"{c.lag:+.0f}" if float(c.lag).is_integer() else f"{c.lag:+.3f}"
    return f"{c.samples_diff:+d} | {lag} | {_fmt_db(c.snr_int_db)} | {_fmt_db(c.snr_db)} | {_fmt_max(c)}"


def speed_table(rows: list[Row]) -> str:
    base = {r.file.path: r for r in rows if r.backend == BASELINE}
    out = ["| file | format | Hz / ch | audio s | backend | decode ms | decode x RT | decode time / sf "
           "| decode+resample ms | dec+rs x RT | dec+rs time / sf+soxr |",
           "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        f = r.file
        head = f"| {f.label} | {f.kind} | {f.rate} / {f.channels} | {f.seconds:.1f} | {r.backend} "
        if r.decode_s is None:
            out.append(head + f"| failed: {r.error} | | | | | |")
            continue
        b = base.get(f.path)
        ratio = (lambda t, tb: f"{t / tb:.2f}" if b and tb else "")
        out.append(head + f"| {r.decode_s * 1e3:.1f} | {f.seconds / r.decode_s:.0f} | {ratio(r.decode_s, b.decode_s)} "
                   f"| {r.decode_16k_s * 1e3:.1f} | {f.seconds / r.decode_16k_s:.0f} "
                   f"| {ratio(r.decode_16k_s, b.decode_16k_s)} |")
    return "\n".join(out)


def correctness_table(rows: list[Row], target_rate: int) -> str:
    """One row per file and non-baseline backend: both stages against the baseline's output."""
    khz = f"{target_rate / 1000:g} kHz"
    out = [f"| file | backend | decode: samples diff | lag | SNR dB (whole-sample lag) | SNR dB (sub-sample) "
           f"| max abs diff | {khz} mono: samples diff | lag | SNR dB (whole-sample lag) | SNR dB (sub-sample) "
           f"| max abs diff |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.backend == BASELINE or r.cmp_decode is None:
            continue
        out.append(f"| {r.file.label} | {r.backend} | {_fmt_cmp(r.cmp_decode)} | {_fmt_cmp(r.cmp_16k)} |"
                   + (f" {r.error}" if r.error else ""))
    return "\n".join(out)


def summary_table(rows: list[Row]) -> str:
    """Totals per backend over the files every backend decoded (sum of audio s / sum of time)."""
    ok = {}
    for r in rows:
        if r.decode_s is not None:
            ok.setdefault(r.file.path, set()).add(r.backend)
    names = list(dict.fromkeys(r.backend for r in rows))
    common = {p for p, got in ok.items() if got == set(names)}
    audio = sum(r.file.seconds for r in rows if r.backend == BASELINE and r.file.path in common)
    out = [f"Over {len(common)} files ({audio:.1f} s of audio) that every backend decoded:", "",
           "| backend | decode s | decode x RT | decode time / sf | decode+resample s | dec+rs x RT "
           "| dec+rs time / sf+soxr | worst sub-sample SNR dB (decode / 16 kHz) | failures |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    totals = {}
    for name in names:
        mine = [r for r in rows if r.backend == name and r.file.path in common]
        totals[name] = (sum(r.decode_s for r in mine), sum(r.decode_16k_s for r in mine))
    for name in names:
        dec, d16 = totals[name]
        bdec, bd16 = totals[BASELINE]
        cmps = [r for r in rows if r.backend == name and r.cmp_decode is not None]
        worst = (f"{_fmt_db(min(r.cmp_decode.snr_db for r in cmps))} / {_fmt_db(min(r.cmp_16k.snr_db for r in cmps))}"
                 if cmps else "(baseline)")
        fails = sum(1 for r in rows if r.backend == name and (r.decode_s is None or r.error))
        out.append(f"| {name} | {dec:.2f} | {audio / dec:.0f} | {dec / bdec:.2f} | {d16:.2f} | {audio / d16:.0f} "
                   f"| {d16 / bd16:.2f} | {worst} | {fails} |")
    return "\n".join(out)


def load_now() -> str:
    try:
        return "/".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def versions(statuses: list[str], load_before: str) -> str:
    lines = [f"- python {platform.python_version()}, numpy {np.__version__}, soundfile {sf.__version__} "
             f"(libsndfile {sf.__libsndfile_version__}), soxr {soxr.__version__}"]
    try:
        import tensorflow as tf
        lines.append(f"- tensorflow {tf.__version__}")
    except Exception as e:  # noqa: BLE001
        lines.append(f"- tensorflow: not importable ({type(e).__name__})")
    lines += [f"- {s}" for s in statuses]
    lines.append(f"- machine: {os.cpu_count()} CPU cores, {platform.machine()}; interpreter {sys.executable}")
    lines.append(f"- load average (1/5/15 min) at start {load_before}, at end {load_now()}: other processes "
                 "share the CPU; each round times all backends in turn so they see the same load")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_data = os.environ.get("MUSICTAG_SHARED_DATA", str(REPO_ROOT.parent / "shared" / "data"))
    parser.add_argument("--data_dir", default=default_data, help="shared data folder (holds audio/)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median)")
    parser.add_argument("--files", default="", help="comma-separated substrings; keep matching files only")
    parser.add_argument("--max_lag_ms", type=float, default=100.0, help="largest alignment lag searched, ms")
    args = parser.parse_args(argv)

    target_rate = AudioParams().sample_rate
    audio_root = pathlib.Path(args.data_dir) / "audio"
    paths = sorted(p for p in audio_root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES) if audio_root.is_dir() else []
    if args.files:
        keys = [k for k in args.files.split(",") if k]
        paths = [p for p in paths if any(k in str(p) for k in keys)]
    if not paths:
        print(f"No real audio under {audio_root}: nothing to benchmark (set MUSICTAG_SHARED_DATA).")
        return 0

    backends = [soundfile_backend(target_rate)]
    lib, lib_status = librosa_backend(target_rate)
    backends += [lib] if lib else []
    tfio_list, tfio_status = tfio_backends(target_rate)
    backends += tfio_list

    files = [describe(p, audio_root) for p in paths]
    load_before = load_now()
    t0 = time.perf_counter()
    rows = measure(files, backends, args.repeats, args.max_lag_ms, target_rate)
    elapsed = time.perf_counter() - t0

    print(f"## Decode backends -> float32 mono {target_rate} Hz ({args.repeats} repeats, median; "
          f"baseline {BASELINE}, soxr quality {SOXR_QUALITY})\n")
    print(versions([lib_status, tfio_status], load_before) + "\n")
    print("### Speed\n")
    print(speed_table(rows) + "\n")
    print("### Summary\n")
    print(summary_table(rows) + "\n")
    print(f"### Correctness vs {BASELINE} (lag = samples to drop from the candidate's start to align)\n")
    print(correctness_table(rows, target_rate) + "\n")
    print(f"_benchmark wall time {elapsed:.0f} s_")
    return 0


if __name__ == "__main__":
    sys.exit(main())
