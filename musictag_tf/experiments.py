"""The paper's experiments: train every variant on the same split, evaluate, tabulate, check claims.

The tables are the paper's: macro ROC-AUC / PR-AUC per variant, and the five-group emotion
comparison (audio + VGG16 two / four classes, lyrics + TextCNN, linear weighted fusion,
CNN + SAM, and CNN + SAM minus linear fusion). ``check_claims`` states from the measured
numbers whether each of the paper's four claims holds (it reports; it does not assert).
Used by ``musictag-evaluate --compare`` and ``musictag demo``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Dict, List, Optional, Sequence

from musictag_tf import fileio
from musictag_tf import params as params_lib
from musictag_tf import train as train_lib
from musictag_tf.data import manifest as manifest_lib
from musictag_tf.data.schema import EMOTION_KEYS
from musictag_tf.evaluation import Evaluation, evaluate_model_dir
from musictag_tf.model.variants import VARIANTS

PAPER_NAMES = {"audio_vgg": "audio + VGG16", "lyrics_textcnn": "lyrics + TextCNN",
               "linear_fusion": "linear weighted fusion", "cnn_sam": "CNN + SAM"}
# the variants in the order of the paper's tables (baselines first, the paper's model last)
PAPER_ORDER = tuple(sorted(VARIANTS, key=("audio_vgg", "lyrics_textcnn", "linear_fusion", "cnn_sam").index))


def tagging_table(evaluations: Dict[str, Evaluation]) -> str:
    """Markdown: macro ROC-AUC / PR-AUC per variant, best first marked."""
    rows = [(v, e.report["tags"]) for v, e in evaluations.items() if "tags" in e.report]
    lines = ["| model | variant | macro ROC-AUC | macro PR-AUC |", "|---|---|---|---|"]
    for variant, s in rows:
        lines.append(f"| {PAPER_NAMES.get(variant, variant)} | `{variant}` | "
                     f"{s.roc_auc_macro:.4f} | {s.pr_auc_macro:.4f} |")
    return "\n".join(lines) + "\n"


def _acc(e: Optional[Evaluation], head: str) -> Optional[float]:
    if e is None or head not in e.report:
        return None
    return e.report[head].accuracy


def five_group_table(evaluations: Dict[str, Evaluation]) -> str:
    """The seed paper's five-group comparison, with CNN + SAM minus linear fusion.

    Groups: audio + VGG16 (two classes: energy, stress), audio + VGG16 (four classes:
    quadrant), lyrics + TextCNN (two classes), linear weighted fusion, CNN + SAM (quadrant
    accuracy; tagging macro ROC-AUC / PR-AUC where the group tags).
    """
    fmt = lambda x: "–" if x is None else f"{100 * x:.1f}"  # noqa: E731
    fmt_auc = lambda e, key: ("–" if e is None or "tags" not in e.report  # noqa: E731
                              else f"{getattr(e.report['tags'], key):.4f}")
    vgg, txt = evaluations.get("audio_vgg"), evaluations.get("lyrics_textcnn")
    lin, sam = evaluations.get("linear_fusion"), evaluations.get("cnn_sam")
    groups = [
        ("audio + VGG16 (two classes)", vgg, ("energy", "stress"), False),
        ("audio + VGG16 (four classes)", vgg, ("quadrant",), False),
        ("lyrics + TextCNN (two classes)", txt, ("energy", "stress"), False),
        ("linear weighted fusion", lin, EMOTION_KEYS, True),
        ("CNN + SAM", sam, EMOTION_KEYS, True),
    ]
    lines = ["| group | energy acc % | stress acc % | quadrant acc % | tag ROC-AUC | tag PR-AUC |",
             "|---|---|---|---|---|---|"]
    for name, e, heads, tags in groups:
        cells = [fmt(_acc(e, h)) if h in heads else "–" for h in EMOTION_KEYS]
        auc = [fmt_auc(e, "roc_auc_macro"), fmt_auc(e, "pr_auc_macro")] if tags else ["–", "–"]
        lines.append(f"| {name} | " + " | ".join(cells + auc) + " |")
    if lin is not None and sam is not None:
        diff = []
        for h in EMOTION_KEYS:
            a, b = _acc(sam, h), _acc(lin, h)
            diff.append("–" if a is None or b is None else f"{100 * (a - b):+.1f}")
        for key in ("roc_auc_macro", "pr_auc_macro"):
            if "tags" in sam.report and "tags" in lin.report:
                diff.append(f"{getattr(sam.report['tags'], key) - getattr(lin.report['tags'], key):+.4f}")
            else:
                diff.append("–")
        lines.append("| **CNN + SAM − linear fusion** | " + " | ".join(diff) + " |")
    return "\n".join(lines) + "\n"


@dataclasses.dataclass
class Comparison:
    evaluations: Dict[str, Evaluation]
    tagging_markdown: str
    groups_markdown: str
    # variant -> {"train": s, "evaluate": s}: wall time of training (incl. validation) and of the
    # test-split evaluation in this call (a resumed run counts only what it redid)
    seconds: Dict[str, Dict[str, float]] = dataclasses.field(default_factory=dict)

    def markdown(self) -> str:
        return ("### Tagging (test split)\n\n" + self.tagging_markdown +
                "\n### Emotion, the paper's five groups (test split)\n\n" + self.groups_markdown)


def compare_variants(records_dir: str, output_dir: str,
                     variant_names: Sequence[str] = PAPER_ORDER,
                     model_params: params_lib.ModelParams = params_lib.ModelParams(),
                     train_params: Optional[params_lib.TrainParams] = None,
                     split: str = "test", verbose: int = 1, **job_kwargs) -> Comparison:
    """Train every variant on the same records and split, evaluate each on ``split``.

    With ``train_params.task == "multi"`` (the default when the records carry emotion labels)
    one model per variant trains all heads, and the five emotion groups are read from them.
    Each variant's run lives in ``output_dir/<variant>`` (and resumes if interrupted).
    """
    manifest = manifest_lib.read_manifest(records_dir)
    if train_params is None:
        train_params = dataclasses.replace(params_lib.TrainParams(),
                                           task="multi" if manifest.has_emotion else "tags")
    evaluations, seconds = {}, {}
    for name in variant_names:
        started = time.time()
        run_dir = os.path.join(output_dir, name)
        job = train_lib.TrainJob(records_dir=records_dir, model_dir=run_dir,
                                 model=dataclasses.replace(model_params, variant=name),
                                 train=train_params, verbose=verbose, **job_kwargs)
        train_lib.train(job)
        trained = time.time()
        evaluations[name] = evaluate_model_dir(run_dir, records_dir, split, train_params.batch_size,
                                               train_params.eval_chunks, output_dir=run_dir,
                                               verbose=verbose > 1, eval_windows=train_params.eval_windows)
        seconds[name] = {"train": trained - started, "evaluate": time.time() - trained}
    comparison = Comparison(evaluations, tagging_table(evaluations), five_group_table(evaluations), seconds)
    fileio.write_atomic(os.path.join(output_dir, "comparison.md"), comparison.markdown())
    fileio.write_atomic(os.path.join(output_dir, "comparison.json"), json.dumps(
        {name: e.to_dict() for name, e in evaluations.items()}, indent=2))
    return comparison


def check_claims(comparison) -> List[dict]:
    """The paper's claims, checked against this run's test-split numbers (not asserted)."""
    ev = comparison.evaluations
    roc = {v: e.report["tags"].roc_auc_macro for v, e in ev.items() if "tags" in e.report}
    acc = {v: {h: e.report[h].accuracy for h in EMOTION_KEYS if h in e.report}
           for v, e in ev.items()}
    claims = []

    def claim(text, holds, detail):
        claims.append({"claim": text, "holds": bool(holds), "detail": detail})

    if set(PAPER_ORDER) <= set(roc):
        others = {v: roc[v] for v in PAPER_ORDER if v != "cnn_sam"}
        claim("CNN + SAM tags better (macro ROC-AUC) than audio-only, lyrics-only and linear fusion",
              all(roc["cnn_sam"] > r for r in others.values()),
              f"cnn_sam {roc['cnn_sam']:.4f} vs " + ", ".join(f"{k} {v:.4f}" for k, v in others.items()))
    if "audio_vgg" in acc and "lyrics_textcnn" in acc:
        a, t = acc["audio_vgg"], acc["lyrics_textcnn"]
        claim("audio carries energy: audio + VGG16 beats lyrics + TextCNN on energy",
              a.get("energy", 0) > t.get("energy", 0),
              f"energy accuracy audio {a.get('energy', 0):.3f} vs lyrics {t.get('energy', 0):.3f}")
        claim("lyrics carry stress: lyrics + TextCNN beats audio + VGG16 on stress",
              t.get("stress", 0) > a.get("stress", 0),
              f"stress accuracy lyrics {t.get('stress', 0):.3f} vs audio {a.get('stress', 0):.3f}")
    if "cnn_sam" in acc and "linear_fusion" in acc:
        s, lf = acc["cnn_sam"].get("quadrant", 0), acc["linear_fusion"].get("quadrant", 0)
        claim("CNN + SAM beats linear weighted fusion on quadrant accuracy", s > lf,
              f"quadrant accuracy cnn_sam {s:.3f} vs linear_fusion {lf:.3f} ({100 * (s - lf):+.1f} points)")
    return claims
