"""Ship a distilled student inside the package, with its agreement and speed (issue 13, item 5).

    python -m musictag_tf.tag.ship_student --run=distill_out/runs/cnn_sam [--run=...] \\
        --records=distill_out/records --comparison=distill_out/comparison.json [--name=cnn_sam_distilled]

writes ``musictag_tf/model/pretrained/<name>/`` (registry.SHIPPED_STUDENTS; a temporary sibling
renamed into place, so a failed run leaves the previous model)::

    run/      spec.json (records_dir blanked), best.keras, history.json, tags.txt, vocab.txt
    tflite/   model_float32.tflite, model_dynamic_int8.tflite, musictag.json, tags.txt, vocab.txt
    model.json

``model.json`` records what a user needs to trust the model, all measured in this run:

* ``agreement``: on the records' held-out ``--split`` (the test packages), the student's clip
  scores against the teacher's (the records' ``tag_targets``), musictag_tf.distill.agreement's
  figures, for the Keras run and for every shipped TFLite file (the runtime users run), beside
  the train-mean baseline and the comparison table of the other students (``--comparison``);
* ``speed`` (``speedup_vs_teacher_same_runtime``: the teacher's TFLite file of the same variant;
  the teacher has no calibrated ``int8``, so the student's int8 is set against its dynamic int8):
  milliseconds per clip on the same decoded 16 kHz clips of the split, windows and
  averaging included (decoding is the same work for both and left out), for the teacher as
  ``musictag tag`` runs it (Keras), the teacher's TFLite float32 / dynamic int8 export and the
  student's TFLite files; the tools alternate clip by clip so machine load hits all alike, each
  clip's time is the best of ``speed_rounds``, the figure is the median over clips;
* ``shared_recordings``: the student's top-5 against the teacher's on real recordings that are
  in no training package (``--audio_dir``, default ../shared/data/audio when present).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time
from typing import Dict, List, Sequence

import numpy as np

from musictag_tf import artifacts
from musictag_tf import fileio
from musictag_tf.distill import agreement as agreement_lib
from musictag_tf.distill.compare import split_clips
from musictag_tf.model.pretrained import registry
from musictag_tf.params import TagParams


@dataclasses.dataclass(frozen=True)
class ShipParams:
    """name: registry.SHIPPED_STUDENTS entry; teacher: the shipped model it was distilled from;
    tflite_variants shipped; speed_clips timed (of the split) and speed_rounds per clip; top_k."""

    name: str = "cnn_sam_distilled"
    teacher: str = "mtt_musicnn"
    split: str = "test"
    tflite_variants: tuple = ("float32", "dynamic_int8", "int8")  # int8 calibrated on the records' train split
    speed_clips: int = 10
    speed_rounds: int = 3
    top_k: int = 5
    # The shipped TFLite windows: 8 s without overlap (as musicnn's 3 s patches), half the work of
    # the tagger's default hop (TagParams.hop_fraction); model.json records what overlap would change.
    hop_fraction: float = 1.0


RUN_FILES = (artifacts.SPEC_FILE, artifacts.BEST_MODEL_FILE, artifacts.HISTORY_FILE, artifacts.TAGS_FILE,
             artifacts.VOCAB_FILE)


def copy_run(run_dir: str, dest: str) -> dict:
    """Copy the run's files into ``dest`` (spec.json's machine-specific records_dir blanked);
    returns the training summary (epochs run, best epoch and score, selection metric)."""
    os.makedirs(dest, exist_ok=True)
    for name in RUN_FILES:
        src = os.path.join(run_dir, name)
        if not os.path.exists(src):
            continue
        if name == artifacts.SPEC_FILE:
            spec = json.loads(pathlib.Path(src).read_text(encoding="utf-8"))
            spec["records_dir"] = ""
            fileio.write_json_atomic(os.path.join(dest, name), spec)
        else:
            shutil.copyfile(src, os.path.join(dest, name))
    return training_summary(run_dir)


def training_summary(run_dir: str) -> dict:
    """Epochs run, best epoch, selection metric and its best validation score, from history.json."""
    history = json.loads(pathlib.Path(run_dir, artifacts.HISTORY_FILE).read_text(encoding="utf-8"))
    if not history:
        raise ValueError(f"{run_dir}: empty {artifacts.HISTORY_FILE}")
    key = next(k for k in ("val_teacher_agreement", "val_teacher_r", "val_roc_auc") if k in history[0])
    best = max(history, key=lambda h: h[key])
    return {"epochs": len(history), "best_epoch": best["epoch"], "selection_metric": key,
            "best_score": best[key], "seconds_per_epoch": float(np.median([h["seconds"] for h in history]))}


def choose_run(run_dirs: Sequence[str]) -> str:
    """The run with the best validation score (the held-out test split is not looked at)."""
    summaries = {d: training_summary(d) for d in run_dirs}
    metrics = {s["selection_metric"] for s in summaries.values()}
    if len(metrics) > 1:
        raise ValueError(f"the runs were selected on different metrics {sorted(metrics)}: not comparable")
    return max(run_dirs, key=lambda d: summaries[d]["best_score"])


def tagger_agreement(tagger, records_dir: str, split: str, tags: Sequence[str],
                     hop_samples=None) -> agreement_lib.Agreement:
    """Agreement with the teacher of ``tagger``'s clip scores (its windows at ``hop_samples``, default
    the model's, averaged) on ``split``."""
    student, teacher = [], []
    for _, wave, target in split_clips(records_dir, split):
        student.append(tagger.tag_waveform(wave, hop_samples=hop_samples)[0]["tags"])
        teacher.append(target)
    return agreement_lib.agreement(np.stack(student), np.stack(teacher), tags)


def measure_speed(taggers: Dict[str, object], waves: List[np.ndarray], rounds: int) -> Dict[str, float]:
    """Median over clips of the best-of-``rounds`` seconds per clip, per tagger (module docstring);
    ``waves[0]`` is the warm-up clip (tracing, interpreter allocation), not timed."""
    for tagger in taggers.values():
        tagger.tag_waveform(waves[0])
    waves = waves[1:] or waves
    best = {name: np.full(len(waves), np.inf) for name in taggers}
    for _ in range(rounds):
        for i, wave in enumerate(waves):
            for name, tagger in taggers.items():
                started = time.perf_counter()
                tagger.tag_waveform(wave)
                best[name][i] = min(best[name][i], time.perf_counter() - started)
    return {name: float(np.median(values)) for name, values in best.items()}


class _AtHop:
    """A tagger run at another hop (for timing the overlap the shipped model leaves out)."""

    def __init__(self, tagger, hop_samples: int):
        self.tagger, self.hop_samples = tagger, hop_samples

    def tag_waveform(self, waveform):
        return self.tagger.tag_waveform(waveform, hop_samples=self.hop_samples)


def top_k_names(scores: np.ndarray, tags: Sequence[str], k: int) -> List[str]:
    return [tags[j] for j in np.argsort(-np.asarray(scores), kind="stable")[:k]]


def shared_recordings(student, teacher, audio_dir: str, k: int) -> dict:
    """Top-k of student and teacher on every audio file under ``audio_dir`` and their overlap."""
    from musictag_tf.audio import io as audio_io
    from musictag_tf.tag.inputs import AUDIO_EXTENSIONS

    rows = {}
    for path in sorted(p for p in pathlib.Path(audio_dir).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS):
        wave = audio_io.load_audio(str(path), student.info.sample_rate)
        s = top_k_names(student.tag_waveform(wave)[0]["tags"], student.info.tags, k)
        t = top_k_names(teacher.tag_waveform(wave)[0]["tags"], teacher.info.tags, k)
        rows[str(path.relative_to(audio_dir))] = {"student": s, "teacher": t, "overlap": len(set(s) & set(t)) / k}
    mean = float(np.mean([r["overlap"] for r in rows.values()])) if rows else float("nan")
    return {"files": len(rows), f"mean_top{k}_overlap": mean, "per_file": rows}


def ship(run_dir: str, records_dir: str, comparison: str = "", audio_dir: str = "",
         params: ShipParams = ShipParams(), dest_root: str = str(registry.PRETRAINED_DIR),
         log=print) -> dict:
    """Write the student ``params.name`` under ``dest_root`` (module docstring); returns model.json."""
    from musictag_tf.data import manifest as manifest_lib
    from musictag_tf.runs import load_model_source
    from musictag_tf.tag.backends import KerasTagger, PretrainedTagger, TFLiteTagger
    from export import pretrained as export_pretrained
    from export import tflite

    final = os.path.join(dest_root, params.name)
    work = tempfile.mkdtemp(prefix=f".{params.name}-", dir=dest_root)
    scratch = tempfile.mkdtemp(prefix="musictag-ship-")
    try:
        log(f"copying the run {run_dir}")
        training = copy_run(run_dir, os.path.join(work, registry.STUDENT_RUN_SUBDIR))
        log(f"exporting TFLite {', '.join(params.tflite_variants)}")
        source = load_model_source(os.path.join(work, registry.STUDENT_RUN_SUBDIR))
        calibration = (tflite.calibration_windows(records_dir, source.spec)
                       if set(params.tflite_variants) & set(tflite.CALIBRATED_VARIANTS) else None)
        tflite_dir = os.path.join(work, registry.STUDENT_TFLITE_SUBDIR)
        serving = dataclasses.replace(TagParams(), hop_fraction=params.hop_fraction)
        tflite.export_tflite(source, tflite_dir, params.tflite_variants, calibration=calibration, config=serving)
        meta_path = os.path.join(tflite_dir, artifacts.METADATA_FILE)
        tflite_meta = json.loads(pathlib.Path(meta_path).read_text(encoding="utf-8"))
        tflite_meta["source_model_dir"] = f"../{registry.STUDENT_RUN_SUBDIR}"  # not this machine's temp path
        fileio.write_json_atomic(meta_path, tflite_meta)
        hop = serving.hop_samples(source.spec.chunk_samples)
        overlap_hop = TagParams().hop_samples(source.spec.chunk_samples)
        tags = manifest_lib.read_tags(records_dir)
        manifest = manifest_lib.read_manifest(records_dir)
        students = {"keras": KerasTagger(os.path.join(work, registry.STUDENT_RUN_SUBDIR))}
        for variant in params.tflite_variants:
            students[f"tflite_{variant}"] = TFLiteTagger(os.path.join(
                work, registry.STUDENT_TFLITE_SUBDIR, artifacts.TFLITE_FILES[variant]))
        agreement = {}
        for name, tagger in students.items():
            log(f"agreement with the teacher on the {params.split} split: {name}")
            agreement[name] = tagger_agreement(tagger, records_dir, params.split, tags, hop)
        if overlap_hop != hop:  # what the tagger's default overlap would give instead
            log(f"agreement with the teacher on the {params.split} split: tflite_float32, hop {overlap_hop}")
            agreement[f"tflite_float32_hop{overlap_hop}"] = tagger_agreement(
                students["tflite_float32"], records_dir, params.split, tags, overlap_hop)
        teacher = PretrainedTagger(params.teacher)
        seconds, speedup, clips = {}, {}, 0
        if params.speed_clips > 0:
            log(f"exporting the teacher {params.teacher} to TFLite for the speed comparison")
            teacher_variants = [v for v in params.tflite_variants if v not in tflite.CALIBRATED_VARIANTS]
            teacher_export = export_pretrained.export_pretrained(params.teacher, scratch,
                                                                 tflite_variants=teacher_variants)
            timed = {f"teacher {params.teacher} (Keras, musictag tag)": teacher}
            for variant, path in teacher_export["tflite"].items():
                timed[f"teacher {params.teacher} TFLite {variant}"] = TFLiteTagger(path)
            for variant in params.tflite_variants:
                timed[f"student TFLite {variant}"] = students[f"tflite_{variant}"]
            if overlap_hop != hop:
                timed[f"student TFLite float32, hop {overlap_hop}"] = _AtHop(students["tflite_float32"], overlap_hop)
            waves = [w for _, (_, w, _) in zip(range(params.speed_clips + 1),
                                               split_clips(records_dir, params.split))]
            log(f"timing {len(timed)} taggers on {len(waves)} clips x {params.speed_rounds} rounds")
            seconds = measure_speed(timed, waves, params.speed_rounds)
            clips = len(waves)
            for variant in params.tflite_variants:  # the teacher has no calibrated int8: vs its dynamic int8
                reference = variant if variant in teacher_export["tflite"] else "dynamic_int8"
                speedup[variant] = (seconds[f"teacher {params.teacher} TFLite {reference}"]
                                    / seconds[f"student TFLite {variant}"])
        shared = {}
        if audio_dir and os.path.isdir(audio_dir):
            log(f"top-{params.top_k} against the teacher on {audio_dir}")
            shared = shared_recordings(students["tflite_float32"], teacher, audio_dir, params.top_k)
        meta = {
            "name": params.name, "kind": "student", "architecture": source.spec.model.variant,
            "use_segments": source.spec.model.use_segments, "teacher": params.teacher,
            "trained_on": "real music: Debian game soundtracks, the teacher's scores as soft targets",
            "records": {"counts": manifest.counts, "source": manifest.config.get("source", {}).get("table", "")},
            "training": training,
            "windows": {"window_samples": source.spec.chunk_samples, "hop_samples": hop,
                        "sample_rate": source.spec.audio.sample_rate},
            "agreement": {"split": params.split, "hop_samples": hop, **{k: {**a.row(), "num_clips": a.num_clips,
                                                         "scored_tags": a.scored_tags}
                                                     for k, a in agreement.items()}},
            "comparison": json.loads(pathlib.Path(comparison).read_text(encoding="utf-8")) if comparison else {},
            "speed": {"ms_per_clip": {k: 1000 * v for k, v in seconds.items()},
                      "speedup_vs_teacher_same_runtime": speedup, "clips": clips,
                      "rounds": params.speed_rounds,
                      "note": "decoded 16 kHz clips of the split, windows + model + averaging; TFLite with "
                              "XNNPACK (ai-edge-litert default delegates); median of per-clip best-of-rounds"},
            "shared_recordings": shared,
            "licence": "the project's licence; trained on GPL/CC-licensed recordings (the corpus table lists "
                       "each file's licence) with labels from musicnn MTT_musicnn (ISC, LICENSE-musicnn.txt)",
        }
        fileio.write_json_atomic(os.path.join(work, "model.json"), meta)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.rename(work, final)
        return meta
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


def summary(meta: dict) -> str:
    """A few lines for the console and the README: agreement and speed."""
    lines = [f"{meta['name']}: {meta['architecture']} distilled from {meta['teacher']}"]
    for name, row in meta["agreement"].items():
        if isinstance(row, dict):
            lines.append(f"  {name:22s} ROC-AUC {row['roc_auc']:.4f}  PR-AUC {row['pr_auc']:.4f}  "
                         f"r {row['pearson_r']:.4f}  top-5 {row['top5_overlap']:.3f}  ({row['num_clips']} clips)")
    for name, ms in meta["speed"]["ms_per_clip"].items():
        lines.append(f"  {name:48s} {ms:8.1f} ms per clip")
    for variant, ratio in meta["speed"]["speedup_vs_teacher_same_runtime"].items():
        lines.append(f"  speed-up vs teacher, TFLite {variant}: {ratio:.1f}x")
    if meta.get("shared_recordings"):
        shared = meta["shared_recordings"]
        lines.append(f"  shared recordings: {shared['files']} files, mean top-5 overlap "
                     f"{shared['mean_top5_overlap']:.2f}")
    return "\n".join(lines)


def main(argv) -> int:
    from absl import flags

    from musictag_tf import errors

    F = flags.FLAGS
    del argv
    params = dataclasses.replace(ShipParams(), name=F.name, speed_clips=F.speed_clips,
                                 tflite_variants=tuple(F.tflite))
    if params.name not in registry.SHIPPED_STUDENTS:
        print(f"ship_student: error: --name must be one of {registry.SHIPPED_STUDENTS}", file=sys.stderr)
        return 2
    try:
        run_dir = choose_run(F.run)
        print(f"shipping {run_dir} (best validation score of {len(F.run)} runs)", flush=True)
        meta = ship(run_dir, F.records, F.comparison or "", F.audio_dir or "", params,
                    log=lambda s: print(s, flush=True))
    except (errors.MusictagError, ValueError, OSError) as exc:
        return errors.report("ship_student", exc if isinstance(exc, errors.MusictagError)
                             else errors.MusictagError(str(exc)), status=1)
    print(summary(meta))
    return 0


def run() -> None:
    from absl import app, flags

    d = ShipParams()
    default_audio = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "audio"
    flags.DEFINE_multi_string("run", None, "A student training run directory (repeat: the run with the best "
                              "validation score is shipped).")
    flags.DEFINE_string("records", None, "Records built with --soft_labels (the teacher's scores).")
    flags.DEFINE_string("comparison", None, "comparison.json of musictag_tf.distill.compare (kept in model.json).")
    flags.DEFINE_string("audio_dir", str(default_audio) if default_audio.is_dir() else None,
                        "Real recordings in no training package: top-5 against the teacher.")
    flags.DEFINE_string("name", d.name, f"Shipped name ({' | '.join(registry.SHIPPED_STUDENTS)}).")
    flags.DEFINE_integer("speed_clips", d.speed_clips, "Clips of the split timed for the speed comparison.")
    flags.DEFINE_list("tflite", list(d.tflite_variants), "TFLite variants shipped.")
    flags.mark_flags_as_required(["run", "records"])
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
